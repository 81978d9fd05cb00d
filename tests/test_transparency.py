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
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from conftest import (
    ADMIN,
    _database_params,
    audit_env,
    decided,
    earlier_release_proof,
    eventually,
    fourlinks,
    free_ports,
    org_tree,
    postgres_database,
    published_checkpoint,
    renamed,
    renames,
    unprotected_store,
)
from conftest import (
    TLOG_KEY as KEY,
)
from nats.aio.client import Client
from sqlalchemy import create_engine

from fourlinks_audit.merkle import fold
from fourlinks_audit.notes import SignerKey, read_checkpoint, signed_checkpoint
from fourlinks_audit.proofs import InclusionProof
from fourlinks_audit.seen import consumer_positions, went_back
from fourlinks_audit.tiles import TileStore
from fourlinks_audit.transparency import (
    CheckpointDirectory,
    LeafCollector,
    LogRewound,
    catch_up,
    check_checkpoints,
    leaf_of,
    write_checkpoint,
)
from fourlinks_audit.verify import Finding, verify
from fourlinks_kernel.envelope import EVENT_TYPE_HEADER, CommandContext, StoredEvent
from fourlinks_kernel.jetstream import JetStreamEventStore
from fourlinks_kernel.projection import bookkeeping
from fourlinks_kernel.projection import checkpoints as projection_checkpoints
from fourlinks_members.domain.org_units import OrgUnit, unit_id_for
from fourlinks_runtime.embedded import NatsEndpoint, start_nats
from fourlinks_runtime.natsconn import connect
from fourlinks_runtime.settings import Settings


class Audited:
    """A store, its tiles and checkpoints in a directory of their own."""

    def __init__(self, store: JetStreamEventStore, where: Path) -> None:
        self.store, self.where = store, where
        self.tiles = TileStore(create_engine(f"sqlite:///{where / 'audit.db'}"))
        self.checkpoints = CheckpointDirectory(where / "checkpoints")

    async def checkpoint(self) -> str:
        await catch_up(self.store, self.tiles)
        return write_checkpoint(self.tiles, KEY, "fourlinks/test", self.checkpoints)[0]

    async def findings(self, *, chains: bool = False) -> list[tuple[int, str]]:
        """What verify finds against every stored checkpoint (and the chain check's, if asked)."""
        leaves = LeafCollector()
        report = await verify(self.store, progress=False, observe=leaves)
        _, late = check_checkpoints(leaves, self.checkpoints.notes(), KEY.verifier, self.tiles)
        found: list[Finding] = [*(report.findings if chains else []), *leaves.gap_findings(), *late]
        return [(f.position, f.kind) for f in found]


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
    planted = audited.checkpoints.path  # files put there by hand, not signed by the checkpointer
    (planted / "000000000099.checkpoint").write_text(note.replace("\n5\n", "\n4\n"))
    other = SignerKey.generate(KEY.name)
    (planted / "000000000098.checkpoint").write_text(
        signed_checkpoint(read_checkpoint(note, KEY.verifier), other)
    )
    assert sorted(await audited.findings()) == [(0, "forged"), (0, "forged")]


async def test_tiles_rebuilt_from_the_log_give_the_same_roots(audited: Audited) -> None:
    note = await audited.checkpoint()
    audited.tiles.drop()
    await catch_up(audited.store, audited.tiles)
    assert write_checkpoint(audited.tiles, KEY, "fourlinks/test", audited.checkpoints) == (note, False)


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


def documented_check(where: Path) -> subprocess.CompletedProcess[str]:
    """The plain-Python proof check docs/audit.md shows an auditor, run on where/proof.tlog-proof."""
    text = (Path(__file__).parent.parent / "docs" / "audit.md").read_text()
    section = text.split("### Checking a proof without our code", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    return subprocess.run(
        [sys.executable, "-I", "-c", code], cwd=where, capture_output=True, text=True, check=False
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
    assert first.stdout.startswith(f"{KEY.name}\n5\n")  # the origin: the key's name, nothing configured
    (tmp_path / "first.checkpoint").write_text(first.stdout)
    assert fourlinks(env, "public-key").stdout.strip() == KEY.verifier.encoded()

    verified = fourlinks(env, "verify", "--json")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    answer = json.loads(verified.stdout)
    assert (answer["intact"], answer["events"], len(answer["checkpoints"])) == (True, 5, 1)

    proved = fourlinks(env, "prove", "3")
    assert proved.returncode == 0, proved.stderr
    assert proved.stdout.startswith("c2sp.org/tlog-proof@v1\nextra ")
    assert "\nindex 2\n" in proved.stdout
    assert proved.stdout.endswith(first.stdout)  # its checkpoint, verbatim
    (tmp_path / "proof.tlog-proof").write_text(proved.stdout)
    offline = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}  # nothing but the key, proof, checkpoint
    key = ("--key", KEY.verifier.encoded())
    checked = fourlinks(offline, "check-proof", str(tmp_path / "proof.tlog-proof"), *key)
    assert (checked.returncode, checked.stdout.split(":")[0]) == (0, "proven"), checked.stderr
    by_hand = documented_check(tmp_path)  # docs/audit.md's few lines, without our code
    assert by_hand.returncode == 0, by_hand.stderr
    assert by_hand.stdout.startswith("position 3, subject tlog_cli_")
    proof = InclusionProof.parse(proved.stdout)
    forged = replace(proof, data=proof.data[:-1] + bytes([proof.data[-1] ^ 1]))
    (tmp_path / "forged.tlog-proof").write_text(forged.text())
    assert fourlinks(offline, "check-proof", str(tmp_path / "forged.tlog-proof"), *key).returncode == 1
    (tmp_path / "earlier.json").write_text(json.dumps(earlier_release_proof(proof)))
    assert fourlinks(offline, "check-proof", str(tmp_path / "earlier.json"), *key).returncode == 0

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
        (5, "rewound"),  # the checkpointer's tiles had seen position 8
    ]
    assert fourlinks(env, "checkpoint").returncode == 1  # nothing is signed over it


async def test_the_first_checkpoint_fixes_the_origin_and_the_key_is_named_after_it(
    nc: Client, nats_server: NatsEndpoint, tmp_path: Path
) -> None:
    store = await unprotected_store(nc, "TLOG_ORIGIN")
    await org_tree(store)
    env = audit_env(nats_server, "TLOG_ORIGIN", tmp_path, None)
    unnamed = fourlinks({**env, "FOURLINKS_LOG_ORIGIN": "yuhang.fourlinks.example/events"}, "checkpoint")
    assert unnamed.returncode == 2  # a new log's key must carry the log's name
    assert "keygen --name yuhang.fourlinks.example/events" in unnamed.stderr
    assert fourlinks({**env, "FOURLINKS_LOG_ORIGIN": KEY.name}, "checkpoint").returncode == 0
    await renamed(store, 1)
    moved = fourlinks({**env, "FOURLINKS_LOG_ORIGIN": "linping.fourlinks.example/events"}, "checkpoint")
    assert moved.returncode == 2
    assert f"the log's origin is '{KEY.name}' (fixed by its first checkpoint)" in moved.stderr
    assert fourlinks(env, "checkpoint").stdout.startswith(f"{KEY.name}\n6\n")  # unset: the fixed one
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
        first = await eventually(lambda: published_checkpoint(f"{published}/checkpoint"), timeout=30)
        integrity = json.loads(
            await eventually(lambda: published_checkpoint(f"{published}/integrity"), timeout=30)
        )
        assert (integrity["intact"], integrity["findings"]) == (True, [])
        await renamed(store, 4)
        signed = await eventually(
            lambda: published_checkpoint(f"{published}/checkpoint", unlike=first), timeout=30
        )
        assert signed.split("\n")[1] == "9"  # every event so far, in the newest checkpoint
    finally:
        follower.terminate()
        await asyncio.wait_for(follower.wait(), timeout=30)
        log.close()


async def test_a_running_checkpointer_publishes_tiles_that_rebuild_its_signed_root(
    nc: Client, nats_server: NatsEndpoint, tmp_path: Path
) -> None:
    """What an outside auditor does with only the public key and the URL: the checkpoint, its
    signature, and its root rebuilt from the published tiles; and every new event is in a
    published checkpoint within 5 seconds under a steady trickle of events."""
    store = await unprotected_store(nc, "TLOG_TILES")
    port = free_ports(1)[0]
    env = {**audit_env(nats_server, "TLOG_TILES", tmp_path, None), "FOURLINKS_RATE_LIMITS": "false"}
    command = [sys.executable, "-m", "fourlinks_cli", "audit", "checkpoint", "--follow", "--port", str(port)]
    log = (tmp_path / "follow.log").open("wb")
    follower = await asyncio.create_subprocess_exec(*command, env=env, stdout=log, stderr=log)
    published = f"http://127.0.0.1:{port}"
    try:
        await org_tree(store)
        await renamed(store, 260)  # 265 events: a full tile of level 0, partial ones of levels 0 and 1
        note = await eventually(lambda: published_checkpoint(f"{published}/checkpoint", size=265), timeout=30)
        checkpoint = read_checkpoint(note, KEY.verifier)
        async with httpx.AsyncClient(base_url=published, timeout=5) as client:
            full, partial, upper = [
                await client.get(path) for path in ("/tile/0/000", "/tile/0/001.p/9", "/tile/1/000.p/1")
            ]
            head = await client.head("/tile/0/000")
        assert [r.status_code for r in (full, partial, upper, head)] == [200] * 4
        assert head.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert not head.content
        leaves = [chunk for tile in (full, partial) for chunk in split32(tile.content)]
        assert upper.content == fold(leaves[:256])  # a level-1 hash: the root of a full level-0 tile
        assert fold(leaves) == checkpoint.root
        assert leaves[264] == leaf_of((await events(store))[264])

        latencies = await trickle(store, published, events=12, every=0.4)
        assert max(latencies) <= 5.0, latencies
    finally:
        follower.terminate()
        await asyncio.wait_for(follower.wait(), timeout=30)
        log.close()


def split32(run: bytes) -> list[bytes]:
    return [run[i : i + 32] for i in range(0, len(run), 32)]


async def trickle(store: JetStreamEventStore, published: str, *, events: int, every: float) -> list[float]:
    """Append an event every `every` seconds; how long each waited for a published checkpoint."""
    loop = asyncio.get_running_loop()
    appended: dict[int, float] = {}
    latencies: dict[int, float] = {}

    async def watch() -> None:
        async with httpx.AsyncClient(base_url=published, timeout=5) as client:
            while len(latencies) < events:
                size = int((await client.get("/checkpoint")).text.split("\n")[1])
                for position, at in appended.items():
                    if position <= size and position not in latencies:
                        latencies[position] = loop.time() - at
                await asyncio.sleep(0.1)

    watcher = asyncio.create_task(watch())
    for n in range(events):
        await decided(
            store, OrgUnit, unit_id_for("yuhang/linping"), renames(f"余杭{n}"), CommandContext.new(ADMIN)
        )
        appended[await store.last_position()] = loop.time()
        await asyncio.sleep(every)
    await asyncio.wait_for(watcher, timeout=30)
    return list(latencies.values())


async def test_a_read_model_that_applied_more_than_the_log_holds_is_a_log_gone_back(
    nc: Client, nats_server: NatsEndpoint, tmp_path: Path
) -> None:
    """The tail cut after the last checkpoint, found from outside: the services had applied
    positions the log no longer holds. No checkpoint covers them; the read models saw them."""
    store = await unprotected_store(nc, "TLOG_TAIL")
    await org_tree(store)
    env = audit_env(nats_server, "TLOG_TAIL", tmp_path, None)
    assert fourlinks(env, "checkpoint").returncode == 0  # signed at 5
    await renamed(store, 3)  # 8 events, applied by the read models, never signed
    read_models = create_engine(f"sqlite:///{tmp_path / 'assignments.db'}")
    bookkeeping.create_all(read_models)
    with read_models.begin() as conn:
        row = {"version": 1, "halted_reason": None, "updated_at": datetime.now(UTC)}
        conn.execute(projection_checkpoints.insert(), [{**row, "name": "tasks", "position": 8}])
    intact = fourlinks(env, "verify", "--json")
    assert intact.returncode == 0, intact.stdout  # the read model is where the log ends: nothing found

    await recreated(nc, store, (await events(store))[:6])  # positions 7 and 8 cut off
    cut = fourlinks(env, "verify", "--json")
    assert cut.returncode == 1
    findings = json.loads(cut.stdout)["findings"]
    assert [(f["position"], f["stream"], f["kind"]) for f in findings] == [
        (7, "assignments read model tasks", "rewound")
    ]
    assert (
        "the log ends at position 6 but the assignments read model tasks has seen position 8"
        in (findings[0]["detail"])
    )
    assert "positions 7..8 are gone" in findings[0]["detail"]


async def test_a_consumer_s_delivered_position_is_a_position_seen(nc: Client) -> None:
    store = await unprotected_store(nc, "TLOG_SEEN")
    await org_tree(store)
    subscription = await nc.jetstream().pull_subscribe("tlog_seen.>", durable="reader", stream="TLOG_SEEN")
    for message in await subscription.fetch(5, timeout=5):
        await message.ack()
    seen = await consumer_positions(nc, "TLOG_SEEN")
    assert seen == {"consumer reader": 5}
    assert went_back(5, seen) == []
    assert [(f.position, f.stream, f.kind) for f in went_back(3, seen)] == [(4, "consumer reader", "rewound")]
