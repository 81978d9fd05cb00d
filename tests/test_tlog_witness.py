"""Three witnesses on loopback (`fourlinks witness serve`, each its own process, key and state)
and a running checkpointer configured with them (FOURLINKS_WITNESSES): published checkpoints carry
their cosignatures, which `audit verify --remote` and Go's note package check; a split view is
refused by the witness that saw the other tree, also after it restarts; a witness down leaves the
checkpointer signing and says so, and a checkpoint counts as published only with the quorum."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import (
    TLOG_KEY as KEY,
)
from conftest import (
    audit_env,
    eventually,
    fourlinks,
    free_ports,
    go_check,
    org_tree,
    published_checkpoint,
    renamed,
    unprotected_store,
)
from nats.aio.client import Client

from fourlinks_audit.cosignatures import WitnessKey, with_cosignatures
from fourlinks_audit.merkle import LeafList, consistency_proof, leaf_hash, root_of
from fourlinks_audit.notes import Checkpoint, SignerKey, read_checkpoint, signed_checkpoint
from fourlinks_runtime.embedded import NatsEndpoint

OTHER_LOG = SignerKey.generate("split.fourlinks.example/events")  # a log only the witnesses see


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "fourlinks_cli", *args]


def clean_env() -> dict[str, str]:
    """Another party's machine: nothing of the deployment."""
    return {k: v for k, v in os.environ.items() if not k.startswith("FOURLINKS_")}


@dataclass
class Loopback:
    """Three witnesses, each with its own directory and port; started, stopped and restarted."""

    root: Path
    ports: list[int]
    keys: list[WitnessKey] = field(default_factory=list)
    running: dict[int, asyncio.subprocess.Process] = field(default_factory=dict)

    def url(self, n: int) -> str:
        return f"http://127.0.0.1:{self.ports[n]}"

    def directory(self, n: int) -> Path:
        return self.root / f"w{n + 1}"

    async def make(self) -> None:
        """Each witness's key (`fourlinks witness keygen`) and the logs it witnesses."""
        made = await asyncio.gather(*(self._keygen(n) for n in range(3)))
        self.keys = [WitnessKey.parse(vkey) for vkey in made]
        for n in range(3):
            logs = f"{KEY.verifier.encoded()}\n# a second log\n{OTHER_LOG.verifier.encoded()}\n"
            (self.directory(n) / "logs").write_text(logs)

    async def _keygen(self, n: int) -> str:
        name = f"w{n + 1}.witnesses.example/witness"
        keygen = await asyncio.create_subprocess_exec(
            *command("witness", "keygen", "--name", name, "--dir", str(self.directory(n))),
            env=clean_env(),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await keygen.communicate()
        assert keygen.returncode == 0, err
        assert oct((self.directory(n) / "witness.key").stat().st_mode & 0o777) == "0o600"
        return out.decode().strip()

    async def start(self, n: int) -> None:
        log = (self.directory(n) / "serve.log").open("ab")
        serve = command("witness", "serve", "--dir", str(self.directory(n)), "--port", str(self.ports[n]))
        self.running[n] = await asyncio.create_subprocess_exec(
            *serve, env=clean_env(), stdout=log, stderr=log
        )
        log.close()
        await eventually(lambda: _answers(f"{self.url(n)}/health/ready"), timeout=60)  # a busy machine

    async def stop(self, n: int) -> None:
        process = self.running.pop(n)
        process.terminate()
        await asyncio.wait_for(process.wait(), timeout=30)


async def _answers(url: str) -> bool:
    try:
        async with httpx.AsyncClient(timeout=2) as client:
            return (await client.get(url)).status_code == 200
    except httpx.TransportError:
        return False


@pytest.fixture
async def witnesses(tmp_path: Path) -> AsyncIterator[Loopback]:
    loopback = Loopback(tmp_path / "witnesses", free_ports(3))
    await loopback.make()
    try:
        await asyncio.gather(*(loopback.start(n) for n in range(3)))
        yield loopback
    finally:
        for n in list(loopback.running):
            await loopback.stop(n)


# -- the protocol, against the witness processes -----------------------------------------------------------
def other_tree(*words: str) -> LeafList:
    return LeafList([leaf_hash(w.encode()) for w in words])


def add_checkpoint(old: int, leaves: LeafList) -> bytes:
    """An add-checkpoint request for the other log's tree, with an honest proof from `old`."""
    proof = consistency_proof(leaves, old, leaves.size) if 0 < old < leaves.size else []
    note = signed_checkpoint(Checkpoint(OTHER_LOG.name, leaves.size, root_of(leaves)), OTHER_LOG)
    return (
        f"old {old}\n".encode() + b"".join(base64.b64encode(h) + b"\n" for h in proof) + b"\n" + note.encode()
    )


async def posted(loopback: Loopback, n: int, body: bytes) -> httpx.Response:
    async with httpx.AsyncClient(timeout=5) as client:
        return await client.post(f"{loopback.url(n)}/add-checkpoint", content=body)


@pytest.mark.timeout(240)
async def test_a_split_view_is_refused_by_the_witness_that_saw_the_other_tree_even_after_a_restart(
    witnesses: Loopback,
) -> None:
    seen_by_most, seen_by_one = other_tree("a", "b", "c"), other_tree("a", "b", "X")  # one size
    first = await posted(witnesses, 0, add_checkpoint(0, seen_by_most))
    second = await posted(witnesses, 1, add_checkpoint(0, seen_by_one))
    assert (first.status_code, second.status_code) == (200, 200)
    note = signed_checkpoint(Checkpoint(OTHER_LOG.name, 3, root_of(seen_by_most)), OTHER_LOG)
    assert witnesses.keys[0].cosigned_at(with_cosignatures(note, [first.text]))

    shown_the_other = await posted(witnesses, 0, add_checkpoint(3, seen_by_one))
    assert shown_the_other.status_code == 409
    assert "split view" in shown_the_other.text
    asked_afresh = await posted(witnesses, 0, add_checkpoint(0, seen_by_one))
    assert (asked_afresh.status_code, asked_afresh.headers["content-type"], asked_afresh.text) == (
        409,
        "text/x.tlog.size",
        "3\n",
    )
    assert (await posted(witnesses, 2, add_checkpoint(0, seen_by_most))).status_code == 200
    assert (await posted(witnesses, 2, add_checkpoint(3, seen_by_one))).status_code == 409
    # So the tree shown to one witness has one cosignature; with a quorum of 2 of 3 it never counts.

    await witnesses.stop(0)
    await witnesses.start(0)
    assert (await posted(witnesses, 0, add_checkpoint(3, seen_by_one))).status_code == 409
    grown_other = other_tree("a", "b", "X", "d")
    assert (await posted(witnesses, 0, add_checkpoint(3, grown_other))).status_code == 422
    assert (await posted(witnesses, 0, add_checkpoint(3, other_tree("a", "b", "c", "d")))).status_code == 200
    evidence = list((witnesses.directory(0) / "evidence").glob("*.txt"))
    assert evidence
    assert any(base64.b64encode(root_of(seen_by_one)).decode() in e.read_text() for e in evidence)
    state = json.loads((witnesses.directory(0) / "state.json").read_text())
    assert state["logs"][OTHER_LOG.name]["size"] == 4


# -- a running checkpointer and its witnesses --------------------------------------------------------------
@dataclass
class Published:
    url: str

    async def witnessing(self) -> dict[str, Any] | None:
        """The checkpointer's /witnesses, None while it is not up yet."""
        try:
            async with httpx.AsyncClient(timeout=5) as client:
                reply = await client.get(f"{self.url}/witnesses")
        except httpx.TransportError:
            return None
        assert reply.status_code == 200, reply.text
        answer: dict[str, Any] = reply.json()
        return answer

    async def when(self, check: Any, timeout: float = 30) -> dict[str, Any]:
        async def met() -> dict[str, Any] | None:
            found = await self.witnessing()
            return found if found and check(found) else None

        answer: dict[str, Any] = await eventually(met, timeout=timeout, interval=0.2)
        return answer


def auditor_verifies(url: str, tmp_path: Path, witnesses: Loopback, *more: str) -> tuple[int, list[str]]:
    keys = [arg for key in witnesses.keys for arg in ("--witness-key", key.encoded())]
    auditor = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}
    done = fourlinks(auditor, "verify", "--remote", url, "--key", KEY.verifier.encoded(), *keys, *more)
    return done.returncode, done.stdout.splitlines()


@pytest.mark.timeout(300)
async def test_three_witnesses_cosign_what_is_published_and_one_down_is_said_not_waited_for(
    nc: Client,
    nats_server: NatsEndpoint,
    tmp_path: Path,
    witnesses: Loopback,
    tlogcheck: Path,
) -> None:
    store = await unprotected_store(nc, "TLOG_WITNESSED")
    port = free_ports(1)[0]
    configured = ",".join(f"{key.encoded()} {witnesses.url(n)}" for n, key in enumerate(witnesses.keys))
    env = {
        **audit_env(nats_server, "TLOG_WITNESSED", tmp_path, None),
        "FOURLINKS_RATE_LIMITS": "false",
        "FOURLINKS_WITNESSES": configured,  # the quorum: unset, so a majority, 2 of 3
    }
    follow = command("audit", "checkpoint", "--follow", "--port", str(port))
    log = (tmp_path / "follow.log").open("wb")
    follower = await asyncio.create_subprocess_exec(*follow, env=env, stdout=log, stderr=log)
    published = Published(f"http://127.0.0.1:{port}")
    names = [key.name for key in witnesses.keys]
    try:
        await org_tree(store)
        found = await published.when(lambda w: w["checkpoint"] == 5 and not w["missing"])
        assert (found["quorum"], found["published"], found["cosigned_by"]) == (2, 5, names)
        note = await eventually(
            lambda: published_checkpoint(f"{published.url}/checkpoint", size=5), timeout=30
        )
        assert read_checkpoint(note, KEY.verifier).size == 5  # the log's signature, then three more
        assert [key.cosigned_at(note) is not None for key in witnesses.keys] == [True] * 3

        code, said = auditor_verifies(published.url, tmp_path, witnesses)
        assert code == 0, said
        cosigned = [line.split() for line in said if line.startswith("cosigned by the witness ")]
        assert [(words[4], words[5]) for words in cosigned] == [(name, "at") for name in names]
        assert "3 of 3 witnesses cosigned it (2 needed)" in said
        go = go_check(
            tlogcheck, published.url, *[a for k in witnesses.keys for a in ("-witness", k.encoded())]
        )
        assert go.returncode == 0, go.stdout + go.stderr
        assert go.stdout.splitlines()[1].startswith("cosignatures: 3 of 3 witnesses (2 needed): ")

        await witnesses.stop(2)  # one witness down: the quorum still cosigns, the log goes on
        await renamed(store, 3)
        found = await published.when(lambda w: w["published"] == 8)
        assert (found["checkpoint"], found["cosigned_by"], found["missing"]) == (8, names[:2], names[2:])
        down = found["witnesses"][2]
        assert not down["reachable"]
        assert down["error"].startswith("unreachable")
        async with httpx.AsyncClient(base_url=published.url, timeout=5) as client:
            ready, metrics = await client.get("/health/ready"), (await client.get("/metrics")).text
        assert ready.status_code == 200  # the published log stays on the network
        assert (ready.json()["status"], ready.json()["quorum_met"]) == ("cosignatures missing", True)
        assert f'fourlinks_witness_up{{witness="{names[2]}"}} 0.0' in metrics
        assert "fourlinks_checkpoint_cosignatures 2.0" in metrics
        assert "fourlinks_checkpoint_published_tree_size 8.0" in metrics
        code, said = auditor_verifies(published.url, tmp_path, witnesses, "--quorum", "3")
        assert code == 1
        assert any(
            re.match(r"FINDING: 2 of the 3 witnesses cosigned the checkpoint, 3 needed", s) for s in said
        )

        await witnesses.stop(1)  # two down: signing goes on, publishing waits for the quorum
        await renamed(store, 2)
        found = await published.when(lambda w: w["checkpoint"] == 10 and w["cosigned_by"] == names[:1])
        assert found["published"] == 8
        assert (await published_checkpoint(f"{published.url}/checkpoint") or "").split("\n")[1] == "8"
        assert follower.returncode is None

        await asyncio.gather(witnesses.start(1), witnesses.start(2))  # back, with their state
        found = await published.when(lambda w: w["published"] == 10 and not w["missing"], timeout=90)
        assert found["cosigned_by"] == names
        assert "refused (" not in (tmp_path / "follow.log").read_text()  # they went on from their sizes

        follower.terminate()
        await asyncio.wait_for(follower.wait(), timeout=30)
        await witnesses.stop(0)
        await renamed(store, 1)
        once = fourlinks(env, "checkpoint")  # signs 11 now and asks the witnesses too
        assert once.returncode == 0, once.stderr
        assert once.stdout.startswith(f"{KEY.name}\n11\n")  # the note alone: logs go to stderr
        assert [key.cosigned_at(once.stdout) is not None for key in witnesses.keys] == [False, True, True]
        assert f"no cosignature of the witness {names[0]}: unreachable" in once.stderr
    finally:
        if follower.returncode is None:
            follower.terminate()
            await asyncio.wait_for(follower.wait(), timeout=30)
        log.close()
