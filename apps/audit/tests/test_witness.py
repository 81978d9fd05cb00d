"""The witness (C2SP tlog-witness) and its cosignatures (C2SP tlog-cosignature), in memory and on
a temporary directory: what it cosigns, what it refuses with which status, what it remembers across
a restart, and the checkpointer's side that asks it."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from fourlinks_audit.anchors import CouldNotRun, witnesses_of
from fourlinks_audit.cosignatures import WitnessKey, WitnessSigner, with_cosignatures
from fourlinks_audit.merkle import LeafList, consistency_proof, leaf_hash, root_of
from fourlinks_audit.notes import (
    Checkpoint,
    NoteError,
    SignerKey,
    VerifierKey,
    read_checkpoint,
    signed_checkpoint,
)
from fourlinks_audit.witness import (
    Inconsistent,
    Malformed,
    NotSigned,
    OldSizeConflict,
    SplitView,
    UnknownLog,
    Witness,
    witness_app,
)
from fourlinks_audit.witnessing import (
    Reply,
    WitnessConfigError,
    WitnessEndpoint,
    Witnesses,
    WitnessFailed,
    parse_witnesses,
    quorum_of,
)
from fourlinks_runtime.settings import Settings

LOG = SignerKey.generate("witnessed.fourlinks.example/events")
ORIGIN = LOG.name


def tree(*words: str) -> LeafList:
    return LeafList([leaf_hash(w.encode()) for w in words])


def note_of(leaves: LeafList, key: SignerKey = LOG) -> str:
    return signed_checkpoint(Checkpoint(key.name, leaves.size, root_of(leaves)), key)


def request(old: int, leaves: LeafList, *, proof_from: LeafList | None = None, key: SignerKey = LOG) -> bytes:
    """An add-checkpoint body, its proof from the first `old` leaves of `proof_from` (or `leaves`)."""
    source = proof_from or leaves
    proof = consistency_proof(source, old, leaves.size) if 0 < old < leaves.size else []
    lines = "".join(base64.b64encode(h).decode() + "\n" for h in proof)
    return f"old {old}\n{lines}\n{note_of(leaves, key)}".encode()


def witness_in(directory: Path, name: str = "w1.example/witness") -> Witness:
    directory.mkdir(parents=True, exist_ok=True)
    return Witness(directory, key=WitnessSigner.generate(name), logs={ORIGIN: [LOG.verifier]})


# -- the cosignature --------------------------------------------------------------------------------------
def test_a_cosignature_signs_the_header_the_time_and_the_checkpoint_under_a_0x04_key_id() -> None:
    signer = WitnessSigner.generate("w1.example/witness")
    text = Checkpoint(ORIGIN, 3, bytes(32)).text()
    line = signer.cosign(text, 1679315147)
    name, encoded = line.removeprefix("\u2014 ").rstrip("\n").split(" ")
    raw = base64.b64decode(encoded)
    public = signer.verifier.public
    assert name == "w1.example/witness"
    assert raw[:4] == hashlib.sha256(b"w1.example/witness\n\x04" + public).digest()[:4]
    assert struct.unpack(">Q", raw[4:12]) == (1679315147,)
    message = b"cosignature/v1\ntime 1679315147\n" + text.encode()  # C2SP tlog-cosignature, written out
    Ed25519PublicKey.from_public_bytes(public).verify(raw[12:], message)  # raises if not

    vkey = signer.verifier.encoded()
    assert base64.b64decode(vkey.split("+", 2)[2])[0] == 0x04
    assert WitnessKey.parse(vkey) == signer.verifier
    assert WitnessSigner.parse(signer.encoded()) == signer
    with pytest.raises(NoteError):
        VerifierKey.parse(vkey)  # a witness's key is no log key: its signatures mean something else


def test_a_cosigned_note_still_opens_with_the_log_s_key_and_a_moved_cosignature_does_not_verify() -> None:
    signer = WitnessSigner.generate("w1.example/witness")
    leaves = tree("a", "b", "c")
    note = note_of(leaves)
    cosigned = with_cosignatures(
        note, [signer.cosign(Checkpoint.parse(note.split("\n\n")[0] + "\n").text(), 7)]
    )
    assert read_checkpoint(cosigned, LOG.verifier).size == 3
    assert signer.verifier.cosigned_at(cosigned) == 7
    assert signer.verifier.cosigned_at(note) is None
    other = note_of(tree("a", "b", "d"))
    moved = with_cosignatures(other, cosigned.split("\n\n")[1].splitlines(keepends=True)[1:])
    with pytest.raises(NoteError, match="does not verify"):
        signer.verifier.cosigned_at(moved)
    newer = with_cosignatures(cosigned, [signer.cosign(cosigned.split("\n\n")[0] + "\n", 8)])
    assert newer.count("w1.example/witness") == 1  # a newer cosignature replaces the older
    assert signer.verifier.cosigned_at(newer) == 8


# -- the witness ------------------------------------------------------------------------------------------
def test_the_witness_cosigns_a_new_log_then_only_checkpoints_that_extend_it(tmp_path: Path) -> None:
    witness = witness_in(tmp_path / "w1")
    first, later = tree("a", "b", "c"), tree("a", "b", "c", "d", "e")
    line = witness.add_checkpoint(request(0, first), now=1000)
    assert witness.key.verifier.cosigned_at(with_cosignatures(note_of(first), [line])) == 1000
    assert witness.add_checkpoint(request(3, later))
    assert witness.add_checkpoint(request(5, later))  # the same tree again: cosigned again
    stored = json.loads((tmp_path / "w1" / "state.json").read_text())["logs"][ORIGIN]
    assert (stored["size"], base64.b64decode(stored["root"])) == (5, root_of(later))
    assert not list((tmp_path / "w1").glob("*.partial"))


def test_the_witness_refuses_as_c2sp_says(tmp_path: Path) -> None:
    witness = witness_in(tmp_path / "w1")
    leaves = tree("a", "b", "c")
    stranger = SignerKey.generate("elsewhere.example/log")
    impostor = SignerKey.generate(ORIGIN)  # the log's name, another key
    cases: list[tuple[bytes, type[Exception]]] = [
        (b"new 0\n\n" + note_of(leaves).encode(), Malformed),
        (b"old 01\n\n" + note_of(leaves).encode(), Malformed),
        (b"old 0\nnot base64!\n\n" + note_of(leaves).encode(), Malformed),
        (request(4, leaves), Malformed),  # an old size past the checkpoint's: 400
        (request(0, leaves, key=stranger), UnknownLog),  # 404
        (request(0, leaves, key=impostor), NotSigned),  # 403
        (request(2, leaves), OldSizeConflict),  # it has cosigned nothing: 409 saying 0
        (b"old 0\n" + base64.b64encode(bytes(32)) + b"\n\n" + note_of(leaves).encode(), Inconsistent),
    ]
    for body, refusal in cases:
        with pytest.raises(refusal):
            witness.add_checkpoint(body)
    assert [UnknownLog.status, NotSigned.status, OldSizeConflict.status, Inconsistent.status] == [
        404,
        403,
        409,
        422,
    ]
    witness.add_checkpoint(request(0, leaves))
    with pytest.raises(OldSizeConflict) as conflict:
        witness.add_checkpoint(request(0, tree("a", "b", "c", "d")))
    assert conflict.value.size == 3
    wrong_proof = request(3, tree("a", "b", "c", "d"), proof_from=tree("x", "y", "z", "d"))
    with pytest.raises(Inconsistent):
        witness.add_checkpoint(wrong_proof)


def test_a_split_view_is_refused_by_the_witness_that_saw_the_other_tree_and_kept_as_evidence(
    tmp_path: Path,
) -> None:
    first, second = witness_in(tmp_path / "w1"), witness_in(tmp_path / "w2", "w2.example/witness")
    shown_to_first, shown_to_second = tree("a", "b", "c"), tree("a", "b", "X")  # one size, two trees
    first.add_checkpoint(request(0, shown_to_first))
    second.add_checkpoint(request(0, shown_to_second))
    with pytest.raises(SplitView, match="split view"):
        first.add_checkpoint(request(3, shown_to_second))
    grown = tree("a", "b", "X", "d")  # the other history, grown, with its own (honest) proof
    with pytest.raises(Inconsistent):
        first.add_checkpoint(request(3, grown))
    evidence = sorted((tmp_path / "w1" / "evidence").glob("*.txt"))
    assert len(evidence) == 2
    kept = evidence[0].read_text() + evidence[1].read_text()
    assert note_of(shown_to_first).split("\u2014")[0] in kept  # both log-signed trees: the proof
    assert base64.b64encode(root_of(shown_to_second)).decode() in kept
    assert first.add_checkpoint(request(3, tree("a", "b", "c", "d")))  # its own history goes on


def test_the_witness_remembers_across_a_restart_and_writes_before_it_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    witness = witness_in(tmp_path / "w1")
    witness.add_checkpoint(request(0, tree("a", "b", "c")))
    with pytest.raises(NoteError, match="another witness is running"):
        Witness(tmp_path / "w1", key=witness.key, logs=witness.logs)
    witness.close()
    restarted = Witness(tmp_path / "w1", key=witness.key, logs=witness.logs)
    with pytest.raises(SplitView):
        restarted.add_checkpoint(request(3, tree("a", "b", "X")))

    def disk_full(descriptor: int) -> None:
        raise OSError("no space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="no space"):
        restarted.add_checkpoint(request(3, tree("a", "b", "c", "d")))  # no cosignature leaves
    monkeypatch.undo()
    with pytest.raises(OldSizeConflict) as conflict:
        restarted.add_checkpoint(request(4, tree("a", "b", "c", "d", "e")))
    assert conflict.value.size == 3  # what it could not write, it did not take


async def test_the_http_answers_carry_c2sp_s_statuses_and_the_size_media_type(tmp_path: Path) -> None:
    witness = witness_in(tmp_path / "w1")
    transport = httpx.ASGITransport(app=witness_app(witness))
    async with httpx.AsyncClient(transport=transport, base_url="http://witness") as client:
        signed = await client.post("/add-checkpoint", content=request(0, tree("a", "b", "c")))
        conflict = await client.post("/add-checkpoint", content=request(0, tree("a", "b", "c", "d")))
        split = await client.post("/add-checkpoint", content=request(3, tree("a", "b", "X")))
        huge = await client.post("/add-checkpoint", content=b"old 0\n" + b"A" * 70_000)
    assert signed.status_code == 200
    assert signed.text.startswith("\u2014 w1.example/witness ")
    assert (conflict.status_code, conflict.headers["content-type"], conflict.text) == (
        409,
        "text/x.tlog.size",
        "3\n",
    )
    assert split.status_code == 409
    assert not split.headers["content-type"].startswith("text/x.tlog.size")  # not a size to retry with
    assert huge.status_code == 413


# -- the checkpointer's side ------------------------------------------------------------------------------
class Network:
    """Witnesses reached in memory; a name in `down` does not answer."""

    def __init__(self, witnesses: dict[str, Witness]) -> None:
        self.witnesses, self.down, self.asked = witnesses, set[str](), list[str]()

    def __call__(self, url: str, body: bytes) -> Reply:
        host = url.removeprefix("http://").split("/")[0]
        self.asked.append(host)
        if host in self.down:
            raise WitnessFailed("unreachable: connection refused")
        try:
            return Reply(200, "text/plain", self.witnesses[host].add_checkpoint(body))
        except OldSizeConflict as exc:
            return Reply(409, "text/x.tlog.size", f"{exc.size}\n")
        except (SplitView, Inconsistent, Malformed, UnknownLog, NotSigned) as exc:
            return Reply(exc.status, "text/plain", str(exc))


def three_witnesses(tmp_path: Path) -> tuple[Network, list[WitnessEndpoint]]:
    found = {f"w{n}": witness_in(tmp_path / f"w{n}", f"w{n}.example/witness") for n in (1, 2, 3)}
    endpoints = [WitnessEndpoint(w.key.verifier, f"http://{host}") for host, w in found.items()]
    return Network(found), endpoints


async def test_a_checkpoint_gathers_cosignatures_and_a_witness_down_is_said_not_waited_for(
    tmp_path: Path,
) -> None:
    network, endpoints = three_witnesses(tmp_path)
    network.down.add("w3")
    witnesses = Witnesses(endpoints, quorum_of(None, 3), send=network)
    leaves = tree("a", "b", "c")
    note = await witnesses.cosign(note_of(leaves), leaves)
    assert witnesses.quorum == 2
    assert witnesses.cosigners(note) == ["w1.example/witness", "w2.example/witness"]
    assert witnesses.published(note)
    report = witnesses.report(note, note)
    assert report["missing"] == ["w3.example/witness"]
    down = report["witnesses"][2]
    assert (down["reachable"], down["error"]) == (False, "unreachable: connection refused")
    assert down["failing_since"]
    asked = len(network.asked)
    assert await witnesses.cosign(note, leaves) == note  # w3 waits its turn; the others have cosigned
    assert len(network.asked) == asked

    network.down.clear()
    witnesses.states[2].next_try = 0.0  # its wait is over
    grown = tree("a", "b", "c", "d", "e")
    note = await witnesses.cosign(note_of(grown), grown)
    assert len(witnesses.cosigners(note)) == 3  # w3 first said it had cosigned nothing (409 "0")
    assert witnesses.report(note, note)["missing"] == []


async def test_the_checkpointer_learns_a_witness_s_size_from_its_409_and_proves_from_there(
    tmp_path: Path,
) -> None:
    network, endpoints = three_witnesses(tmp_path)
    for witness in network.witnesses.values():
        witness.add_checkpoint(request(0, tree("a", "b", "c")))  # cosigned before a restart
    witnesses = Witnesses(endpoints, 3, send=network)
    grown = tree("a", "b", "c", "d", "e")
    note = await witnesses.cosign(note_of(grown), grown)
    assert len(witnesses.cosigners(note)) == 3
    assert sorted(network.asked) == ["w1", "w1", "w2", "w2", "w3", "w3"]  # old 0, 409 "3", then old 3

    other = tree("a", "b", "X", "d", "e", "f")  # another history: each witness refuses it
    refused = await witnesses.cosign(note_of(other), other)
    assert witnesses.cosigners(refused) == []
    assert not witnesses.published(refused)
    assert "another history" in (witnesses.states[0].error or "")


def test_the_witnesses_setting_and_the_quorum_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    key = WitnessSigner.generate("w1.example/witness").verifier.encoded()
    assert parse_witnesses(f"{key} https://w1.example/\n") == [
        WitnessEndpoint(WitnessKey.parse(key), "https://w1.example")
    ]
    assert parse_witnesses(None) == []
    for wrong in (key, f"https://w1.example {key}", f"{key} https://a, {key} https://b", "x+y+z http://w"):
        with pytest.raises(WitnessConfigError):
            parse_witnesses(wrong)
    assert [quorum_of(None, n) for n in (0, 1, 2, 3, 4)] == [0, 1, 2, 2, 3]
    assert quorum_of(1, 3) == 1
    with pytest.raises(WitnessConfigError, match="QUORUM is 4"):
        quorum_of(4, 3)
    monkeypatch.setenv("FOURLINKS_WITNESSES", f"{key} https://w1.example")
    monkeypatch.setenv("FOURLINKS_WITNESS_QUORUM", "")  # compose passes an unset variable on so
    assert witnesses_of(Settings()).quorum == 1
    monkeypatch.setenv("FOURLINKS_WITNESS_QUORUM", "2")
    with pytest.raises(CouldNotRun, match="QUORUM is 2 but 1 witnesses"):
        witnesses_of(Settings())
