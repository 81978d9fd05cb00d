"""The Merkle tree against RFC 9162's definitions written out again here, recursively and naively
(an independent implementation), for every tree size up to 70 and every leaf and old size; and
every proof refused when any byte of it, of the leaf or of the root changes."""

from __future__ import annotations

import hashlib

import pytest

from fourlinks_audit.merkle import (
    EMPTY_ROOT,
    LeafList,
    check_consistency,
    consistency_proof,
    first_difference,
    inclusion_proof,
    leaf_data,
    leaf_hash,
    root_from_inclusion,
    root_of,
)


def sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def mth(leaves: list[bytes]) -> bytes:
    """MTH(D[n]) exactly as RFC 9162 2.1.1 defines it, over leaf data."""
    n = len(leaves)
    if n == 0:
        return sha(b"")
    if n == 1:
        return sha(b"\x00" + leaves[0])
    k = 1
    while k * 2 < n:
        k *= 2
    return sha(b"\x01" + mth(leaves[:k]) + mth(leaves[k:]))


def path(m: int, leaves: list[bytes]) -> list[bytes]:
    """PATH(m, D[n]), RFC 9162 2.1.3.1."""
    n = len(leaves)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return [*path(m, leaves[:k]), mth(leaves[k:])]
    return [*path(m - k, leaves[k:]), mth(leaves[:k])]


def subproof(m: int, leaves: list[bytes], complete: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b), RFC 9162 2.1.4.1."""
    n = len(leaves)
    if m == n:
        return [] if complete else [mth(leaves)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return [*subproof(m, leaves[:k], complete), mth(leaves[k:])]
    return [*subproof(m - k, leaves[k:], False), mth(leaves[:k])]


LEAVES = [
    leaf_data(p, f"fourlinks.t.{p % 7}", "TaskRaised", bytes([p % 251]) * (p % 5)) for p in range(1, 71)
]
TREE = LeafList([leaf_hash(d) for d in LEAVES])


def flipped(value: bytes, at: int = 0) -> bytes:
    return value[:at] + bytes([value[at] ^ 1]) + value[at + 1 :]


def test_roots_equal_the_definition_for_every_size() -> None:
    assert root_of(LeafList()) == EMPTY_ROOT == mth([])
    for n in range(1, len(LEAVES) + 1):
        assert root_of(TREE, n) == mth(LEAVES[:n]), n


def test_inclusion_proofs_equal_the_definition_and_lead_to_the_root() -> None:
    for n in range(1, 40):
        root = mth(LEAVES[:n])
        for m in range(n):
            proof = inclusion_proof(TREE, m, n)
            assert proof == path(m, LEAVES[:n]), (m, n)
            assert root_from_inclusion(m, n, leaf_hash(LEAVES[m]), proof) == root


def test_consistency_proofs_equal_the_definition_and_check() -> None:
    for n in range(1, 40):
        for m in range(1, n + 1):
            proof = consistency_proof(TREE, m, n)
            assert proof == (subproof(m, LEAVES[:n], True) if m < n else []), (m, n)
            assert check_consistency(m, n, mth(LEAVES[:m]), mth(LEAVES[:n]), proof), (m, n)


def test_an_inclusion_proof_is_refused_when_any_byte_changes() -> None:
    n, m = 37, 21
    root, leaf = mth(LEAVES[:n]), leaf_hash(LEAVES[m])
    proof = inclusion_proof(TREE, m, n)
    for i in range(len(proof)):
        for at in (0, 31):
            forged = [*proof[:i], flipped(proof[i], at), *proof[i + 1 :]]
            assert root_from_inclusion(m, n, leaf, forged) != root
    assert root_from_inclusion(m, n, leaf_hash(flipped(LEAVES[m], 9)), proof) != root
    assert root_from_inclusion(m + 1, n, leaf, proof) != root
    with pytest.raises(ValueError, match="shorter"):
        root_from_inclusion(m, n, leaf, proof[:-1])
    with pytest.raises(ValueError, match="longer"):
        root_from_inclusion(m, n, leaf, [*proof, proof[0]])


def test_a_consistency_proof_is_refused_when_any_byte_changes() -> None:
    for m, n in ((4, 37), (13, 37), (36, 37)):
        old, new = mth(LEAVES[:m]), mth(LEAVES[:n])
        proof = consistency_proof(TREE, m, n)
        for i in range(len(proof)):
            assert not check_consistency(m, n, old, new, [*proof[:i], flipped(proof[i]), *proof[i + 1 :]])
        assert not check_consistency(m, n, flipped(old), new, proof)
        assert not check_consistency(m, n, old, flipped(new), proof)
        assert not check_consistency(m, n, old, new, proof[:-1])


def test_the_first_difference_is_found_by_subtree_hashes() -> None:
    for changed in (0, 1, 31, 32, 63, 69):
        altered = LeafList(TREE.hashes)
        altered.hashes[changed] = flipped(altered.hashes[changed])
        assert first_difference(TREE, altered, 70) == changed
    assert first_difference(TREE, LeafList(TREE.hashes[:50]), 70) == 50  # cut off after 50
    assert first_difference(TREE, LeafList(TREE.hashes), 70) is None


def test_every_field_of_an_event_is_in_its_leaf() -> None:
    base = leaf_data(7, "fourlinks.a", "X", b"payload")
    assert (
        len(
            {base, leaf_data(8, "fourlinks.a", "X", b"payload"), leaf_data(7, "fourlinks.b", "X", b"payload")}
        )
        == 3
    )
    assert leaf_data(7, "fourlinks.a", "XY", b"") != leaf_data(7, "fourlinks.a", "X", b"Y")
