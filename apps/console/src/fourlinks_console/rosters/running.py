"""The import: every new record of a checked file sent through the members service's own commands
(POST /members, /households, /enterprises, /members/{id}/card) with the reader's token, so the
service checks scope, writes the events and keeps the personal keys as for any other request.

Each request carries an Idempotency-Key derived from the record's natural key: a run that stopped
(a crash, the service away) and is run again meets the records it made — found registered by the
dry run, or, when the service answered but the answer was lost, answered by the service as the
same request — and makes nothing twice. Members first, then households and enterprises, then the
cards that name them; within a kind, a few requests at a time."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import structlog

from fourlinks_console.rosters.checking import Item, Plan, State
from fourlinks_console.rosters.directory import Directory
from fourlinks_console.rosters.kinds import Kind
from fourlinks_console.rosters.problems import Problem
from fourlinks_console.services import ServiceRefused, ServiceUnavailable, part

log = structlog.get_logger(__name__)
Send = Callable[[str, dict[str, Any], str], Awaitable[dict[str, Any]]]
"""A command to the members service with the reader's token: path, body, Idempotency-Key → answer."""
PATHS = {Kind.MEMBERS: "/members", Kind.HOUSEHOLDS: "/households", Kind.ENTERPRISES: "/enterprises"}
RETRIES = (0.5, 1.0, 2.0, 4.0)
"""Seconds between tries of a request the service did not answer (the key makes a retry safe)."""
STOPS = frozenset({401, 403})
"""Refusals that are the reader's, not the row's: the run stops rather than refuse every row."""


class RunStopped(Exception):
    """The run could not go on (the service away, the sign-in expired); run it again to continue."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.code)
        self.problem = problem


@dataclass
class Progress:
    """How far a run is: rows sent of the rows to send, records made, rows refused by the service."""

    total: int
    done: int = 0
    created: int = 0
    refused: int = 0
    tick: Callable[[int], None] = field(default=lambda rows: None, repr=False)

    def advance(self, item: Item) -> None:
        """One record answered."""
        self.done += len(item.rows)
        self.created += item.state == State.CREATED
        self.refused += len(item.rows) if item.state == State.REFUSED else 0
        self.tick(len(item.rows))


def idempotency_key(kind: Kind, key: tuple[str, ...]) -> str:
    """The key a record's request carries: its kind and natural key, hashed (no personal data)."""
    digest = hashlib.sha256(json.dumps([str(kind), *key], ensure_ascii=False).encode()).hexdigest()
    return f"roster:{kind}:{digest[:40]}"


async def send_plan(
    plan: Plan, directory: Directory, send: Send, progress: Progress, *, in_flight: int = 16
) -> None:
    """Send every new record of the plan, kind by kind; refusals are kept on their rows."""
    await Run(plan, directory, send, progress, asyncio.Semaphore(in_flight)).all()
    log.info("roster_imported", created=progress.created, refused_rows=progress.refused)


@dataclass
class Run:
    """One run of a plan: what it sends with, how far it is, how many requests at a time."""

    plan: Plan
    directory: Directory
    send: Send
    progress: Progress
    gate: asyncio.Semaphore

    async def all(self) -> None:
        """Every new record, a kind at a time (a card names the records before it)."""
        for kind in Kind:
            waiting = [item for item in self.plan.items[kind] if item.state == State.NEW]
            try:
                async with asyncio.TaskGroup() as group:
                    for item in waiting:
                        group.create_task(self.one(item))
            except BaseExceptionGroup as failed:
                raise _first(failed) from None

    async def one(self, item: Item) -> None:
        """One record's request, its answer kept on the record."""
        async with self.gate:
            request = self.card_request(item) if item.kind == Kind.CARDS else (PATHS[item.kind], item.body)
            if request is not None:
                path, body = request
                try:
                    answer = await _sent(self.send, path, body, idempotency_key(item.kind, item.key))
                except ServiceRefused as refused:
                    item.refuse(_said(refused))
                else:
                    item.state, item.id = State.CREATED, str(answer["id"])
            self.progress.advance(item)

    def card_request(self, item: Item) -> tuple[str, dict[str, Any]] | None:
        """A card's request, its member and contacts named by id; None (and the card refused)
        when one of them was refused as it was sent."""
        assert item.card is not None  # a card row that passed the dry run names them
        plan, directory = self.plan, self.directory
        members, households, enterprises = (_first_of(plan.items[k]) for k in Kind if k != Kind.CARDS)
        member_id = _id_of(members.get(item.card.member), _known(directory.member(item.card.member)))
        household_ids = [
            _id_of(households.get(k), _known(directory.households.get(k))) for k in item.card.households
        ]
        enterprise_ids = [
            _id_of(enterprises.get((c,)), _known(directory.enterprises.get(c))) for c in item.card.enterprises
        ]
        if member_id is None:
            first = members[item.card.member].rows[0]
            item.refuse(Problem("member_refused", {"sheet": first.sheet, "row": first.number}))
            return None
        if None in household_ids or None in enterprise_ids:
            kind = "household" if None in household_ids else "enterprise"
            item.refuse(Problem("contact_not_registered", {"kind": kind}))
            return None
        body = {**item.body, "households": household_ids, "enterprises": enterprise_ids}
        return f"/members/{part(member_id)}/card", body


def _first(failed: BaseExceptionGroup[BaseException]) -> BaseException:
    """The first failure of a group of requests (the others were cancelled by it)."""
    first = failed.exceptions[0]
    return _first(first) if isinstance(first, BaseExceptionGroup) else first


async def _sent(send: Send, path: str, body: dict[str, Any], key: str) -> dict[str, Any]:
    """The service's answer, asked again while it does not answer; stopped when it still does not,
    or when the refusal is the reader's (signed out, a role lost)."""
    for pause in (*RETRIES, None):
        try:
            return await send(path, body, key)
        except ServiceUnavailable:
            if pause is None:
                raise RunStopped(Problem("unavailable", status=503)) from None
            await asyncio.sleep(pause)
        except ServiceRefused as refused:
            if refused.status in STOPS:
                raise RunStopped(Problem.of(refused)) from None
            raise
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


def _said(refused: ServiceRefused) -> Problem:
    """A service's refusal of one row, as the row's reason."""
    if refused.code == "idempotency_key_reused":
        return Problem("imported_otherwise", status=refused.status)
    return Problem.of(refused)


def _first_of(items: list[Item]) -> dict[tuple[str, ...], Item]:
    """Each key's first record (a later row repeating it was refused for that)."""
    first: dict[tuple[str, ...], Item] = {}
    for item in items:
        first.setdefault(item.key, item)
    return first


def _id_of(planned: Item | None, known: str | None) -> str | None:
    if planned is not None and planned.state in (State.EXISTS, State.CREATED):
        return planned.id
    return None if planned is not None else known


def _known(found: Any) -> str | None:
    return found.id if found is not None else None
