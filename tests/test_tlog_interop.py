"""An independent implementation checks the published log: Go's golang.org/x/mod/sumdb/note and
sumdb/tlog (Debian's packages, installed by `make go-tools`), built into tools/tlogcheck, given only
the published URL and the public key: the checkpoint's signature, the signed root rebuilt from the
C2SP tiles, inclusion proofs from the tiles and from `audit prove`, and consistency with an
auditor's earlier checkpoint. So interoperability cannot regress unnoticed."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import (
    TLOG_KEY as KEY,
)
from conftest import (
    audit_env,
    earlier_release_proof,
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

from fourlinks_audit.notes import Checkpoint, SignerKey, signed_checkpoint
from fourlinks_audit.proofs import InclusionProof
from fourlinks_runtime.embedded import NatsEndpoint


@pytest.fixture
async def published_log(
    nc: Client, nats_server: NatsEndpoint, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[tuple[str, dict[str, str]]]:
    """A running checkpointer publishing a log of 305 events (tiles of levels 0 and 1), and the
    operator's environment; an earlier checkpoint, as an auditor kept it, in tmp_path/old.checkpoint."""
    stream = "TLOG_GO_" + request.node.name.upper().removeprefix("TEST_GO_S_TLOG_")[:30]
    store = await unprotected_store(nc, stream)
    port = free_ports(1)[0]
    env = {**audit_env(nats_server, stream, tmp_path, None), "FOURLINKS_RATE_LIMITS": "false"}
    command = [sys.executable, "-m", "fourlinks_cli", "audit", "checkpoint", "--follow", "--port", str(port)]
    log = (tmp_path / "follow.log").open("wb")
    follower = await asyncio.create_subprocess_exec(*command, env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        await org_tree(store)
        old = await eventually(lambda: published_checkpoint(f"{url}/checkpoint", size=5), timeout=30)
        (tmp_path / "old.checkpoint").write_text(old)
        await renamed(store, 300)
        await eventually(lambda: published_checkpoint(f"{url}/checkpoint", size=305), timeout=30)
        yield url, env
    finally:
        follower.terminate()
        await asyncio.wait_for(follower.wait(), timeout=30)
        log.close()


async def test_go_s_tlog_verifies_the_published_log_with_only_the_key_and_the_url(
    tlogcheck: Path, published_log: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    url, env = published_log
    proved = fourlinks(env, "prove", "100")
    assert proved.returncode == 0, proved.stderr
    (tmp_path / "proof.tlog-proof").write_text(proved.stdout)
    checked = go_check(
        tlogcheck,
        url,
        "-proof",
        str(tmp_path / "proof.tlog-proof"),
        "-old",
        str(tmp_path / "old.checkpoint"),
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    lines = checked.stdout.splitlines()
    assert lines[0].startswith(f"checkpoint: {KEY.name}, 305 leaves, root ")
    assert lines[1].startswith("tiles: ")
    assert lines[1].endswith("the signed root rebuilt from them")
    assert lines[2] == "inclusion: leaves 0, 152 and 304 proven from the tiles"
    assert lines[3] == "proof: position 100 is in the signed tree of 305 leaves"
    assert lines[4] == "consistency: the tree of 305 extends the earlier one of 5"


async def test_go_s_tlog_refuses_another_key_a_forged_proof_and_another_history(
    tlogcheck: Path, published_log: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    url, env = published_log
    other = SignerKey.generate(KEY.name)
    refused = go_check(tlogcheck, url, key=other.verifier.encoded())
    assert refused.returncode == 1
    assert "signature" in refused.stderr

    proof = InclusionProof.parse(fourlinks(env, "prove", "100").stdout)
    (tmp_path / "earlier.json").write_text(json.dumps(earlier_release_proof(proof)))
    assert go_check(tlogcheck, url, "-proof", str(tmp_path / "earlier.json")).returncode == 0
    forged = replace(proof, data=proof.data[:-1] + bytes([proof.data[-1] ^ 1]))
    (tmp_path / "forged.tlog-proof").write_text(forged.text())
    assert go_check(tlogcheck, url, "-proof", str(tmp_path / "forged.tlog-proof")).returncode == 1
    moved = replace(proof, index=101)  # another position's leaf: the path no longer leads to the root
    (tmp_path / "moved.tlog-proof").write_text(moved.text())
    assert go_check(tlogcheck, url, "-proof", str(tmp_path / "moved.tlog-proof")).returncode == 1

    elsewhere = signed_checkpoint(Checkpoint(KEY.name, 5, bytes(32)), KEY)  # a split view's checkpoint
    (tmp_path / "elsewhere.checkpoint").write_text(elsewhere)
    split = go_check(tlogcheck, url, "-old", str(tmp_path / "elsewhere.checkpoint"))
    assert split.returncode == 1
    assert "does not extend" in split.stderr


async def test_audit_verify_remote_needs_only_the_key_and_the_url(
    published_log: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    url, env = published_log
    proof = InclusionProof.parse(fourlinks(env, "prove", "100").stdout)
    (tmp_path / "event.tlog-proof").write_text(proof.text())
    auditor = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}  # nothing of the deployment
    state, key = tmp_path / "saved.checkpoint", ("--key", KEY.verifier.encoded())
    state.write_text((tmp_path / "old.checkpoint").read_text())  # what the auditor saw at 5 events
    remote = ("verify", "--remote", url, *key, "--state", str(state))
    first = fourlinks(auditor, *remote, "--proof", str(tmp_path / "event.tlog-proof"))
    assert first.returncode == 0, first.stdout + first.stderr
    assert first.stdout.splitlines() == [
        f"checkpoint {KEY.name} of 305 events: signed by {KEY.name}",
        first.stdout.splitlines()[1],
        f"{tmp_path / 'event.tlog-proof'}: position 100 is in the published log",
        f"the log grew from 5 (saved in {state}) to 305, unchanged",
        "verified: intact",
    ]
    assert first.stdout.splitlines()[1].startswith("the signed root rebuilt from ")
    assert state.read_text().split("\n")[1] == "305"  # saved for next time

    forged = replace(proof, data=proof.data[:-1] + bytes([proof.data[-1] ^ 1]))
    (tmp_path / "forged.tlog-proof").write_text(forged.text())
    assert fourlinks(auditor, *remote, "--proof", str(tmp_path / "forged.tlog-proof")).returncode == 1

    state.write_text(signed_checkpoint(Checkpoint(KEY.name, 5, bytes(32)), KEY))  # another history
    split = fourlinks(auditor, *remote)
    assert split.returncode == 1
    assert "FINDING: the log of 305 events does not extend the one of 5" in split.stdout
    assert state.read_text().split("\n")[2] == "A" * 43 + "="  # not replaced by the log that disagrees

    other = SignerKey.generate(KEY.name).verifier.encoded()
    assert fourlinks(auditor, "verify", "--remote", url, "--key", other).returncode == 2
