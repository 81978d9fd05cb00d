"""The transparency log on a real nats-server store: signed checkpoints catch what the per-aggregate
chains cannot — a log cut short, an older copy restored, a stream recreated from edited content, an
event removed and the rest republished, a reordered pair, a forged checkpoint — and name the first
position that differs. The untouched log verifies."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from conftest import (
    ADMIN,
    TEST_MASTER_KEY,
    _database_params,
    decided,
    eventually,
    free_ports,
    org_tree,
    postgres_database,
    renames,
    unprotected_store,
)
from nats.aio.client import Client
from sqlalchemy import create_engine

from fourlinks_audit.notes import SignerKey, read_checkpoint, signed_checkpoint
from fourlinks_audit.tiles import TileStore
from fourlinks_audit.transparency import (
    CheckpointDirectory,
    LeafCollector,
    LogRewound,
    catch_up,
    check_checkpoints,
    write_checkpoint,
)
from fourlinks_audit.verify import Finding, verify
from fourlinks_kernel.envelope import EVENT_TYPE_HEADER, CommandContext, StoredEvent
from fourlinks_kernel.jetstream import JetStreamEventStore
from fourlinks_members.domain.org_units import OrgUnit, unit_id_for
from fourlinks_runtime.embedded import NatsEndpoint, start_nats
from fourlinks_runtime.natsconn import connect
from fourlinks_runtime.settings import Settings

KEY = SignerKey.generate("fourlinks-test")


class Audited:
    """A store, its tiles and checkpoints in a directory of their own."""

    def __init__(self, store: JetStreamEventStore, where: Path) -> None:
        self.store, self.where = store, where
        self.tiles = TileStore(create_engine(f"sqlite:///{where / 'audit.db'}"))
        self.checkpoints = CheckpointDirectory(where / "checkpoints")

    async def checkpoint(self) -> str:
        await catch_up(self.store, self.tiles)
        return write_checkpoint(self.tiles, KEY, "fourlinks/test", self.checkpoints, datetime.now(UTC))[0]

    async def findings(self, *, chains: bool = False) -> list[tuple[int, str]]:
        """What verify finds against every stored checkpoint (and the chain check's, if asked)."""
        leaves = LeafCollector()
        report = await verify(self.store, progress=False, observe=leaves)
        _, late = check_checkpoints(leaves, self.checkpoints.notes(), KEY.verifier, self.tiles)
        found: list[Finding] = [*(report.findings if chains else []), *leaves.gap_findings(), *late]
        return [(f.position, f.kind) for f in found]


async def renamed(store: JetStreamEventStore, times: int) -> None:
    """More events: a street renamed again and again."""
    for n in range(times):
        await decided(
            store, OrgUnit, unit_id_for("yuhang/linping"), renames(f"临平{n}"), CommandContext.new(ADMIN)
        )


async def events(store: JetStreamEventStore) -> list[StoredEvent]:
    return [s async for s in store.read()]


async def recreated(nc: Client, store: JetStreamEventStore, content: list[StoredEvent]) -> None:
    """The stream deleted and created again with `content` published in order."""
    name = store.settings.stream
    await nc.request(f"$JS.API.STREAM.DELETE.{name}", b"", timeout=5)
    await unprotected_store(nc, name)
    for stored in content:
        await nc.request(
            stored.subject, stored.payload, timeout=5, headers={EVENT_TYPE_HEADER: stored.event_type}
        )


def altered(stored: StoredEvent) -> StoredEvent:
    payload = stored.payload.replace("南苑".encode(), "北苑".encode())
    assert payload != stored.payload
    return StoredEvent(stored.position, stored.subject, payload, stored.event_type)


@pytest.fixture
async def audited(nc: Client, tmp_path: Path, request: pytest.FixtureRequest) -> Audited:
    name = "TLOG_" + request.node.name.upper().removeprefix("TEST_")[:40]
    store = await unprotected_store(nc, name)
    await org_tree(store)
    return Audited(store, tmp_path)


async def test_the_untouched_log_verifies_and_its_checkpoints_chain(audited: Audited) -> None:
    first = await audited.checkpoint()
    await renamed(audited.store, 5)  # more events: a second checkpoint extends the first
    second = await audited.checkpoint()
    assert first != second
    assert [n for n, _ in audited.checkpoints.notes()][-1].endswith("000000000010.checkpoint")
    assert await audited.findings(chains=True) == []


async def test_an_older_copy_restored_is_a_log_cut_short(nc: Client, audited: Audited) -> None:
    await audited.checkpoint()
    await recreated(nc, audited.store, (await events(audited.store))[:3])
    assert await audited.findings() == [(4, "truncated")]
    assert (await verify(audited.store, progress=False)).ok  # the chains alone see nothing wrong
    with pytest.raises(LogRewound):  # and nothing new is signed over it
        await audited.checkpoint()


async def test_a_stream_recreated_with_one_event_changed(nc: Client, audited: Audited) -> None:
    await audited.checkpoint()
    content = await events(audited.store)
    await recreated(nc, audited.store, [*content[:3], altered(content[3]), *content[4:]])
    assert await audited.findings() == [(4, "altered")]


async def test_an_event_removed_from_the_middle_and_the_rest_republished(
    nc: Client, audited: Audited
) -> None:
    await audited.checkpoint()
    content = await events(audited.store)
    await recreated(nc, audited.store, [*content[:1], *content[2:]])
    assert await audited.findings() == [(2, "altered")]


async def test_a_reordered_pair(nc: Client, audited: Audited) -> None:
    await audited.checkpoint()
    content = await events(audited.store)
    await recreated(nc, audited.store, [*content[:2], content[3], content[2], *content[4:]])
    assert await audited.findings() == [(3, "altered")]


async def test_a_forged_checkpoint_or_one_of_another_key(audited: Audited) -> None:
    note = await audited.checkpoint()
    audited.checkpoints.add(99, note.replace("\n5\n", "\n4\n"))
    other = SignerKey.generate("fourlinks-test")
    audited.checkpoints.add(98, signed_checkpoint(read_checkpoint(note, KEY.verifier), other))
    assert sorted(await audited.findings()) == [(0, "forged"), (0, "forged")]


async def test_tiles_rebuilt_from_the_log_give_the_same_roots(audited: Audited) -> None:
    note = await audited.checkpoint()
    audited.tiles.drop()
    await catch_up(audited.store, audited.tiles)
    assert write_checkpoint(audited.tiles, KEY, "fourlinks/test", audited.checkpoints, datetime.now(UTC)) == (
        note,
        False,
    )


async def test_a_byte_changed_in_the_store_and_its_index_deleted(tmp_path: Path) -> None:
    """The case found from outside: nats-server rebuilds its index from the block files and drops
    the tampered message and those after it in its block; the chains say nothing, the checkpoint does."""
    server = start_nats(tmp_path / "original")
    nc = await connect(Settings(nats_url=server.url), name="tests")
    store = await unprotected_store(nc, "TLOG_CRASHED")
    await org_tree(store)
    await renamed(store, 40)
    audited = Audited(store, tmp_path)
    await audited.checkpoint()
    target = (await events(store))[6]
    await nc.close()
    server.stop()

    copy = tmp_path / "copy"
    shutil.copytree(tmp_path / "original", copy)
    stream = next(copy.rglob("TLOG_CRASHED"))
    block = next((stream / "msgs").glob("*.blk"))
    content = block.read_bytes()
    at = content.index(target.payload[40:80]) + 5
    block.write_bytes(content[:at] + bytes([content[at] ^ 1]) + content[at + 1 :])
    for index in [*(stream / "msgs").glob("*.idx"), *(stream / "msgs").glob("index.db")]:
        index.unlink()

    server = start_nats(copy)
    nc = await connect(Settings(nats_url=server.url), name="tests")
    try:
        audited.store = await reopened(nc, store)
        found = await audited.findings()
        chains = await verify(audited.store, progress=False)
    finally:
        await nc.close()
        server.stop()
    assert chains.ok  # what `audit verify` said before checkpoints: "intact"
    assert found == [(target.position, "truncated")]  # the server dropped it and the rest of its block


async def reopened(nc: Client, store: JetStreamEventStore) -> JetStreamEventStore:
    return JetStreamEventStore(nc, store.codec, store.settings)


@pytest.fixture(params=_database_params())
async def audit_database(request: pytest.FixtureRequest) -> AsyncIterator[str | None]:
    """Where the tiles (and, on PostgreSQL, the checkpoints) live: var/ or a database of their own."""
    if request.param == "sqlite":
        yield None
        return
    async with postgres_database() as url:
        yield url


def audit_env(nats_server: NatsEndpoint, stream: str, var_dir: Path, database: str | None) -> dict[str, str]:
    """What the commands run with: this stream, its own var/ (or database), the test key."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("FOURLINKS_")},
        "FOURLINKS_NATS_URL": nats_server.url,
        "FOURLINKS_STREAM": stream,
        "FOURLINKS_SUBJECT_PREFIX": stream.lower(),
        "FOURLINKS_VAR_DIR": str(var_dir),
        "FOURLINKS_MASTER_KEY": TEST_MASTER_KEY,
        "FOURLINKS_CHECKPOINT_KEY": KEY.encoded(),
        **({"FOURLINKS_DATABASE_URL": database} if database else {}),
    }


def documented_check(where: Path) -> subprocess.CompletedProcess[str]:
    """The plain-Python proof check docs/audit.md shows an auditor, run on where/proof.json."""
    text = (Path(__file__).parent.parent / "docs" / "audit.md").read_text()
    section = text.split("### Checking a proof without our code", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    return subprocess.run(
        [sys.executable, "-I", "-c", code], cwd=where, capture_output=True, text=True, check=False
    )


def fourlinks(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fourlinks_cli", "audit", *args],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_the_commands_an_auditor_runs(
    nc: Client, nats_server: NatsEndpoint, tmp_path: Path, audit_database: str | None
) -> None:
    name = f"TLOG_CLI_{'PG' if audit_database else 'SQLITE'}"
    store = await unprotected_store(nc, name)
    await org_tree(store)
    env = audit_env(nats_server, name, tmp_path, audit_database)
    first = fourlinks(env, "checkpoint")
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith(f"{name.lower()}/{name}\n5\n")
    (tmp_path / "first.checkpoint").write_text(first.stdout)
    assert fourlinks(env, "public-key").stdout.strip() == KEY.verifier.encoded()

    verified = fourlinks(env, "verify", "--json")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    answer = json.loads(verified.stdout)
    assert (answer["intact"], answer["events"], len(answer["checkpoints"])) == (True, 5, 1)

    proved = fourlinks(env, "prove", "3")
    assert proved.returncode == 0, proved.stderr
    (tmp_path / "proof.json").write_text(proved.stdout)
    offline = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}  # nothing but the key, proof, checkpoint
    key = ("--key", KEY.verifier.encoded())
    checked = fourlinks(offline, "check-proof", str(tmp_path / "proof.json"), *key)
    assert (checked.returncode, checked.stdout.split(":")[0]) == (0, "proven"), checked.stderr
    by_hand = documented_check(tmp_path)  # docs/audit.md's few lines, without our code
    assert by_hand.returncode == 0, by_hand.stderr
    forged = json.loads(proved.stdout)
    forged["event"]["payload_base64"] = forged["event"]["payload_base64"].replace("A", "B", 1)
    (tmp_path / "forged.json").write_text(json.dumps(forged))
    assert fourlinks(offline, "check-proof", str(tmp_path / "forged.json"), *key).returncode == 1

    await renamed(store, 3)
    second = fourlinks(env, "checkpoint")
    (tmp_path / "second.checkpoint").write_text(second.stdout)
    extends = fourlinks(
        env, "consistency", str(tmp_path / "first.checkpoint"), str(tmp_path / "second.checkpoint")
    )
    assert extends.returncode == 0, extends.stdout + extends.stderr

    await recreated(nc, store, (await events(store))[:4])  # an older copy of the store, restored
    rolled_back = fourlinks(env, "verify", "--json")
    assert rolled_back.returncode == 1
    assert [(f["position"], f["kind"]) for f in json.loads(rolled_back.stdout)["findings"]] == [
        (5, "truncated"),
        (5, "truncated"),
    ]
    assert fourlinks(env, "checkpoint").returncode == 1  # nothing is signed over it
    assert fourlinks(env, "verify", "--checkpoint", str(tmp_path / "none.checkpoint")).returncode == 2


async def test_following_the_log_signs_as_it_grows_and_publishes_the_integrity_check(
    nc: Client, nats_server: NatsEndpoint, tmp_path: Path
) -> None:
    store = await unprotected_store(nc, "TLOG_FOLLOW")
    port = free_ports(1)[0]
    env = {**audit_env(nats_server, "TLOG_FOLLOW", tmp_path, None), "FOURLINKS_CHECKPOINT_EVERY_EVENTS": "3"}
    command = [sys.executable, "-m", "fourlinks_cli", "audit", "checkpoint", "--follow", "--port", str(port)]
    log = (tmp_path / "follow.log").open("wb")
    follower = await asyncio.create_subprocess_exec(*command, env=env, stdout=log, stderr=log)
    try:
        published = f"http://127.0.0.1:{port}"
        await org_tree(store)  # the first events of a new log are signed at once
        first = await eventually(lambda: _published(f"{published}/checkpoint"), timeout=30)
        integrity = json.loads(await eventually(lambda: _published(f"{published}/integrity"), timeout=30))
        assert (integrity["intact"], integrity["findings"]) == (True, [])
        await renamed(store, 4)
        signed = await eventually(lambda: _published(f"{published}/checkpoint", unlike=first), timeout=30)
        assert signed.split("\n")[1] == "9"  # every event so far, in the newest checkpoint
    finally:
        follower.terminate()
        await asyncio.wait_for(follower.wait(), timeout=30)
        log.close()


async def _published(url: str, unlike: str | None = None) -> str | None:
    try:
        async with httpx.AsyncClient(timeout=2) as client:
            reply = await client.get(url)
    except httpx.TransportError:
        return None
    return reply.text if reply.status_code == 200 and reply.text != unlike else None
