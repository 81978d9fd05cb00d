"""Inclusion proofs as C2SP tlog-proof files: what they hold, read back, checked, refused when
altered; an earlier release's JSON proof still reads; the leaf encoding as docs/audit.md states it."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest

from fourlinks_audit.merkle import LeafList, inclusion_proof, leaf_data, leaf_fields, leaf_hash, root_of
from fourlinks_audit.notes import Checkpoint, SignerKey, signed_checkpoint
from fourlinks_audit.proofs import InclusionProof, ProofError

KEY = SignerKey.generate("proofs.fourlinks.example/events")


def test_the_leaf_data_counts_utf8_bytes_in_big_endian_lengths() -> None:
    data = leaf_data(258, "余杭.x", "任务", b"{}")
    assert data == (
        b"\x00\x00\x00\x00\x00\x00\x01\x02"  # position, uint64 big-endian
        + b"\x00\x08"  # 8 UTF-8 bytes of subject (3 + 3 + 2), not 4 characters
        + "余杭.x".encode()
        + b"\x00\x06"
        + "任务".encode()
        + b"{}"  # the stored bytes, as they are, to the end
    )
    assert leaf_fields(data) == (258, "余杭.x", "任务", b"{}")


def a_proof(index: int = 2) -> InclusionProof:
    datas = [
        leaf_data(p, f"fourlinks.members.household.{p}", "HouseholdRegistered", b"x" * p) for p in range(1, 8)
    ]
    tree = LeafList([leaf_hash(d) for d in datas])
    note = signed_checkpoint(Checkpoint(KEY.name, tree.size, root_of(tree)), KEY)
    return InclusionProof(index, datas[index], inclusion_proof(tree, index, tree.size), note)


def test_a_proof_is_a_tlog_proof_that_reads_back_and_checks() -> None:
    proof = a_proof()
    lines = proof.text().split("\n")
    assert lines[0] == "c2sp.org/tlog-proof@v1"
    assert base64.b64decode(lines[1].removeprefix("extra ")) == proof.data
    assert lines[2] == "index 2"
    assert [base64.b64decode(h) for h in lines[3:6]] == proof.path
    assert lines[6] == ""
    assert proof.text().endswith("\n\n" + proof.note)  # the checkpoint, verbatim
    again = InclusionProof.parse(proof.text())
    assert again == proof
    assert (again.problem(KEY.verifier), again.position, again.tree_size()) == (None, 3, 7)


def test_an_altered_proof_does_not_check() -> None:
    proof = a_proof()
    other = SignerKey.generate(KEY.name)
    altered = [
        InclusionProof(proof.index, proof.data + b"!", proof.path, proof.note),
        InclusionProof(3, proof.data, proof.path, proof.note),  # another index
        InclusionProof(proof.index, proof.data, proof.path[:-1], proof.note),
        InclusionProof(proof.index, proof.data, [hashlib.sha256(b"").digest(), *proof.path[1:]], proof.note),
    ]
    for wrong in altered:
        assert wrong.problem(KEY.verifier) is not None, wrong
    assert "no signature" in (proof.problem(other.verifier) or "")


def test_an_earlier_release_s_json_proof_still_reads() -> None:
    proof = a_proof()
    position, subject, event_type, payload = leaf_fields(proof.data)
    earlier = {
        "checkpoint": proof.note,
        "tree_size": 7,
        "leaf_index": 2,
        "event": {
            "position": position,
            "subject": subject,
            "event_type": event_type,
            "payload_base64": base64.b64encode(payload).decode(),
        },
        "inclusion_path": [base64.b64encode(h).decode() for h in proof.path],
    }
    assert InclusionProof.parse(json.dumps(earlier)) == proof


@pytest.mark.parametrize(
    "text",
    [
        "c2sp.org/tlog-proof@v1\nindex 2\n\ncheckpoint",  # no leaf data
        "c2sp.org/tlog-proof@v1\nextra AA==\nindex 02\n\ncheckpoint",
        "c2sp.org/tlog-proof@v1\nextra AA==\nindex 2\nnot base64!\n\ncheckpoint",
        "{}",
    ],
)
def test_text_that_is_no_proof_is_refused(text: str) -> None:
    with pytest.raises(ProofError):
        InclusionProof.parse(text)
