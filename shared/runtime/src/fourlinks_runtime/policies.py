"""Policies ride the process's one read of the log: each is handed the feed's micro-batches once
the projections applied them, reacts to its one event type and keeps its own checkpoint in the
projections' checkpoint table (`policy:<name>-v<version>`). At least once, idempotent by command
id (a reaction's command carries the event id). `asyncapi` describes them in the service's
AsyncAPI document."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import structlog
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from fourlinks_kernel.envelope import StoredEvent
from fourlinks_kernel.errors import DomainError
from fourlinks_kernel.projection import CHECKPOINT_EVERY, Decode, checkpoints
from fourlinks_runtime.definition import Policy
from fourlinks_runtime.logs import bind_context, clear_context

if TYPE_CHECKING:
    from fourlinks_runtime.runtime import ServiceRuntime

log = structlog.get_logger(__name__)
QUEUED_BATCHES = 8
"""Micro-batches a policy holds before it lets the feed go and reads what it missed itself."""
CONSUMER_NOT_FOUND = 10014
CHECKPOINT_PREFIX = "policy:"
"""Policies' rows in the checkpoint table start so: a rebuild of the read models keeps them."""
LONGEST_RETRY = 60.0


def checkpoint_name(policy: Policy) -> str:
    """The policy's row in the checkpoint table (a new version starts over, as a new consumer did)."""
    return f"{CHECKPOINT_PREFIX}{policy.name}-v{policy.version}"


def durable_name(service: str, policy: Policy) -> str:
    """The durable consumer a release before policies rode the feed read the policy's events from:
    a policy's first start begins after what it had acknowledged."""
    return f"{service}-{policy.name}-v{policy.version}"


class PolicyRunner:
    """One policy on its process's feed: reacts in log order (`concurrency` at once where the
    policy allows it), a transient failure retried with a growing delay, a refusal logged and
    passed. It never holds the feed up: while it retries, the projections move on and it reads
    what it missed from the log afterwards."""

    def __init__(self, policy: Policy, runtime: ServiceRuntime) -> None:
        self.policy = policy
        self.runtime = runtime
        self.name = checkpoint_name(policy)
        self.position = 0  # reacted to, refused or passed up to here
        self.failing = 0  # events being tried again after a failure
        self.in_hand = 0  # events being reacted to now
        self.halted_reason: str | None = None
        self._saved = 0
        self._saved_at = time.monotonic()
        self._queued_to = 0  # micro-batches are queued up to here
        self._offered_to = 0  # the feed has read up to here
        self._behind = True  # until prepared: then it reads what the feed read before
        self._queue: asyncio.Queue[tuple[list[StoredEvent], Decode, int] | None] = asyncio.Queue(
            QUEUED_BATCHES
        )

    @property
    def subjects(self) -> str | None:
        """The one filter covering what the policy watches, below the prefix (None: all)."""
        prefix = f"{self.runtime.settings.subject_prefix}."
        covering = self.policy.subject
        return covering.removeprefix(prefix) if covering.startswith(prefix) else None

    # -- riding the feed -------------------------------------------------------------------------
    def offer(self, batch: list[StoredEvent], decode: Decode, *, after: int, until: int) -> None:
        """Queue a micro-batch the projections applied; one the policy cannot take in order (it is
        retrying, or missed one) is dropped and read from the log later."""
        self._offered_to = max(self._offered_to, until)
        if self._behind:
            return
        if self._queued_to < after or self._queue.full():
            self._behind = True
            with contextlib.suppress(asyncio.QueueFull):
                self._queue.put_nowait(None)  # wake the runner if it waits on an empty queue
            return
        self._queue.put_nowait((batch, decode, until))
        self._queued_to = until

    async def ride(self) -> None:
        """Run until cancelled, starting over after NATS or the database went away."""
        delay = 0.5
        while True:
            try:
                await self._run()
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("policy_restarting", policy=self.policy.name, error=repr(exc)[:200])
                self._behind = True
                await asyncio.sleep(delay)
                delay = min(delay * 2, 15.0)

    async def _run(self) -> None:
        await self._prepare()
        if self.halted_reason:
            log.error("policy_halted", policy=self.policy.name, reason=self.halted_reason)
            return
        while True:
            if self._behind:
                await self._catch_up()
                continue
            item = await self._queue.get()
            if item is not None:
                batch, decode, until = item
                await self._take(batch, decode)
                await self._passed(until)

    async def _catch_up(self) -> None:
        """Read from the log what the feed read while this policy could not keep up, then ride."""
        decode = self.runtime.store.codec.decode
        while self.position < self._offered_to:
            target, batch = self._offered_to, []
            read = self.runtime.store.read(
                from_position=self.position + 1, until_position=target, subjects=self._filter()
            )
            async for stored in read:
                batch.append(stored)
                if len(batch) >= self.runtime.settings.projection_batch_size:
                    await self._take(batch, decode)
                    batch = []
            await self._take(batch, decode)
            await self._passed(target)
        # Nothing awaited since the check above: no micro-batch was handed on in between.
        while not self._queue.empty():
            self._queue.get_nowait()
        self._queued_to, self._behind = self.position, False

    def _filter(self) -> str | None:
        relative = self.subjects
        return None if relative is None else f"{self.runtime.settings.subject_prefix}.{relative}"

    # -- reacting --------------------------------------------------------------------------------
    async def _take(self, batch: Sequence[StoredEvent], decode: Decode) -> None:
        """React to the policy's events among `batch`, `concurrency` at a time, in log order."""
        wanted = [s for s in batch if s.position > self.position and s.event_type == self.policy.event_type]
        step = max(self.policy.concurrency, 1)
        for start in range(0, len(wanted), step):
            group = wanted[start : start + step]
            await self._react_all(group, decode)
            self.position = group[-1].position
            await self._save()

    async def _react_all(self, group: list[StoredEvent], decode: Decode) -> None:
        """Until every event of the group is reacted to or refused. The policy's checkpoint stays
        before the group meanwhile, so a crash tries them again (a second reaction finds its
        command recorded); several at once only where each event starts its own aggregate."""
        pending, attempt = group, 0
        self.in_hand = len(group)
        while pending:
            results = await asyncio.gather(*(self._react(s, decode, attempt) for s in pending))
            pending = [s for s, done in zip(pending, results, strict=True) if not done]
            self.failing = len(pending)
            if pending:
                attempt += 1
                await asyncio.sleep(min(0.1 * 2**attempt, LONGEST_RETRY))
        self.in_hand = 0

    async def _react(self, stored: StoredEvent, decode: Decode, attempt: int) -> bool:
        """One reaction; False when it failed and must be tried again."""
        clear_context()
        bind_context(policy=self.policy.name, position=stored.position)
        try:
            event = await decode(stored)
            bind_context(correlation_id=event.envelope.correlation_id)
            await self.policy.handle(event, self.runtime)
        except DomainError as exc:  # the same event would be refused again: say so and move on
            log.warning("policy_refused", error=f"{type(exc).__name__}: {exc}"[:300])
        except Exception as exc:
            log.warning("policy_failed", attempt=attempt + 1, error=f"{type(exc).__name__}: {exc}"[:300])
            return False
        return True

    # -- the checkpoint --------------------------------------------------------------------------
    async def _passed(self, position: int) -> None:
        """Nothing more for the policy up to `position`: durable within CHECKPOINT_EVERY seconds
        (passing an event again after a crash costs a re-read, never a second effect)."""
        self.position = max(self.position, position)
        if time.monotonic() - self._saved_at >= CHECKPOINT_EVERY:
            await self._save()

    async def _save(self) -> None:
        self._saved_at = time.monotonic()
        if self.position <= self._saved:
            return
        async with self.runtime.engine.begin() as conn:
            await conn.execute(
                checkpoints.update()
                .where(checkpoints.c.name == self.name, checkpoints.c.position < self.position)
                .values(position=self.position, updated_at=datetime.now(UTC))
            )
        self._saved = self.position

    async def _prepare(self) -> None:
        """Where the policy stands: its checkpoint, or on its first start where it begins."""
        position = await self._stored_position()
        if position is None:
            position = await self._first_position()
            position = await self._record_start(position)
        last = await self.runtime.store.last_position()
        if position > last:
            self.halted_reason = (
                f"log regression: checkpoint {position} is ahead of the stream's last position {last}; "
                "the event log lost writes. Restore the stream before the policy reacts again."
            )
        self.position = self._saved = self._queued_to = position

    async def _stored_position(self) -> int | None:
        query = select(checkpoints.c.position).where(checkpoints.c.name == self.name)
        async with self.runtime.engine.connect() as conn:
            found = await conn.scalar(query)
        return None if found is None else int(found)

    async def _record_start(self, position: int) -> int:
        """Write the first checkpoint; a replica that wrote it first wins."""
        row = {"name": self.name, "version": self.policy.version, "position": position}
        try:
            async with self.runtime.engine.begin() as conn:
                await conn.execute(checkpoints.insert().values(**row, updated_at=datetime.now(UTC)))
        except IntegrityError:
            stored = await self._stored_position()
            assert stored is not None
            return stored
        log.info("policy_started", policy=self.policy.name, after=position)
        return position

    async def _first_position(self) -> int:
        """After what the policy's durable consumer (a release before policies rode the feed) had
        acknowledged; without one, before the first event: a new deployment reacts to every event,
        as that consumer, which delivered all, did."""
        durable = durable_name(self.runtime.definition.name, self.policy)
        subject = f"$JS.API.CONSUMER.INFO.{self.runtime.settings.stream}.{durable}"
        info = json.loads((await self.runtime.nc.request(subject, b"", timeout=5)).data)
        error = info.get("error")
        if error is None:
            return int(info["ack_floor"]["stream_seq"])
        if error.get("err_code") == CONSUMER_NOT_FOUND:
            return 0
        # Never guess: reacting to every event again is costly, skipping some is wrong.
        raise RuntimeError(f"cannot read consumer {durable}: {error.get('description')}")


def policy_runners(runtime: ServiceRuntime) -> list[PolicyRunner]:
    """A runner for every policy of the service (they ride its projections' feed)."""
    return [PolicyRunner(policy, runtime) for policy in runtime.definition.policies]
