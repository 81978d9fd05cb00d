"""The events stream as a Merkle tree (RFC 9162, section 2.1): leaf and node hashes, roots,
inclusion and consistency proofs and their verification. Pure: a tree is anything that answers
the hash of a subtree, so the same proofs come from a list in memory or from stored tiles."""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence
from typing import Protocol


class Tree(Protocol):
    """A tree of `size` leaves that answers the hash of the leaves [start, end)."""

    @property
    def size(self) -> int: ...

    def subtree(self, start: int, end: int) -> bytes: ...


def leaf_data(position: int, subject: str, event_type: str, payload: bytes) -> bytes:
    """What a leaf commits to: the event's position, its subject, the type its headers name and
    the stored bytes, each length-prefixed so no two events share an encoding."""
    subject_bytes, type_bytes = subject.encode(), event_type.encode()
    return b"".join(
        (
            struct.pack(">QH", position, len(subject_bytes)),
            subject_bytes,
            struct.pack(">H", len(type_bytes)),
            type_bytes,
            payload,
        )
    )


def leaf_fields(data: bytes) -> tuple[int, str, str, bytes]:
    """Position, subject, type and stored bytes of a leaf's data (ValueError if it is none)."""
    try:
        position, subject_length = struct.unpack_from(">QH", data)
        at = 10 + subject_length
        subject = data[10:at].decode()
        (type_length,) = struct.unpack_from(">H", data, at)
        event_type = data[at + 2 : at + 2 + type_length].decode()
    except (struct.error, UnicodeDecodeError) as exc:
        raise ValueError("not a leaf's data: position, subject, type and stored bytes") from exc
    if len(data) < at + 2 + type_length:
        raise ValueError("not a leaf's data: it ends inside its type")
    return position, subject, event_type, data[at + 2 + type_length :]


def leaf_hash(data: bytes) -> bytes:
    """SHA-256(0x00 ‖ leaf data)."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 ‖ left ‖ right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


EMPTY_ROOT = hashlib.sha256(b"").digest()


def split(n: int) -> int:
    """The largest power of two smaller than n (n > 1): where RFC 9162 splits a tree of n leaves."""
    return 1 << ((n - 1).bit_length() - 1)


def root_of(tree: Tree, size: int | None = None) -> bytes:
    """The root hash of the first `size` leaves (all of them by default)."""
    n = tree.size if size is None else size
    return EMPTY_ROOT if n == 0 else tree.subtree(0, n)


class LeafList:
    """A tree over leaf hashes held in memory (32 bytes each), for verification and tests."""

    def __init__(self, hashes: Sequence[bytes] = ()) -> None:
        self.hashes = list(hashes)

    @property
    def size(self) -> int:
        return len(self.hashes)

    def append(self, leaf: bytes) -> None:
        self.hashes.append(leaf)

    def subtree(self, start: int, end: int) -> bytes:
        return fold(self.hashes[start:end])


def fold(hashes: Sequence[bytes]) -> bytes:
    """The RFC 9162 root of a run of leaf (or equal-level node) hashes, without recursion."""
    if not hashes:
        return EMPTY_ROOT
    # Complete subtrees of the run's binary decomposition, largest first, then joined right to left.
    stack: list[tuple[int, bytes]] = []
    for h in hashes:
        height, current = 0, h
        while stack and stack[-1][0] == height:
            current = node_hash(stack.pop()[1], current)
            height += 1
        stack.append((height, current))
    current = stack.pop()[1]
    while stack:
        current = node_hash(stack.pop()[1], current)
    return current


# -- inclusion --------------------------------------------------------------------------------------
def inclusion_proof(tree: Tree, index: int, size: int) -> list[bytes]:
    """PATH(index, D[0:size]): the sibling hashes from the leaf up to the root."""
    if not 0 <= index < size <= tree.size:
        raise ValueError(f"leaf {index} is not in a tree of {size} leaves")
    return _path(tree, index, 0, size)


def _path(tree: Tree, index: int, start: int, end: int) -> list[bytes]:
    n = end - start
    if n == 1:
        return []
    k = split(n)
    if index < start + k:
        return [*_path(tree, index, start, start + k), tree.subtree(start + k, end)]
    return [*_path(tree, index, start + k, end), tree.subtree(start, start + k)]


def root_from_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root a leaf and its inclusion proof lead to (RFC 9162, 2.1.3.2); compare it with a
    checkpoint's. Raises ValueError when the proof has the wrong length."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size} leaves")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise ValueError("the proof is longer than the tree is high")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ValueError("the proof is shorter than the tree is high")
    return r


# -- consistency ------------------------------------------------------------------------------------
def consistency_proof(tree: Tree, old: int, new: int) -> list[bytes]:
    """PROOF(old, D[0:new]): what shows the tree of `new` leaves extends the one of `old`."""
    if not 0 < old <= new <= tree.size:
        raise ValueError(f"no consistency proof from {old} to {new} leaves in a tree of {tree.size}")
    return [] if old == new else _subproof(tree, old, 0, new, complete=True)


def _subproof(tree: Tree, m: int, start: int, end: int, *, complete: bool) -> list[bytes]:
    n = end - start
    if m == n:
        return [] if complete else [tree.subtree(start, end)]
    k = split(n)
    if m <= k:
        return [*_subproof(tree, m, start, start + k, complete=complete), tree.subtree(start + k, end)]
    return [*_subproof(tree, m - k, start + k, end, complete=False), tree.subtree(start, start + k)]


def check_consistency(old: int, new: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> bool:
    """Whether the proof shows the tree of `new` leaves (new_root) extends that of `old` (old_root)
    (RFC 9162, 2.1.4.2)."""
    if not 0 < old <= new:
        return False
    if old == new:
        return not proof and old_root == new_root
    path = list(proof)
    if old & (old - 1) == 0:  # a power of two: the old root is the first node of the path
        path.insert(0, old_root)
    if not path:
        return False
    fn, sn = old - 1, new - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == old_root and sr == new_root


# -- where two trees part -----------------------------------------------------------------------------
def first_difference(expected: Tree, found: Tree, size: int) -> int | None:
    """The first leaf index below `size` where `found` differs from or lacks what `expected` has,
    by comparing subtree hashes down the tree (log2(size) comparisons); None when they agree."""
    if _same(expected, found, 0, size):
        return None
    start, end = 0, size
    while end - start > 1:
        k = split(end - start)
        if _same(expected, found, start, start + k):
            start += k
        else:
            end = start + k
    return start


def _same(expected: Tree, found: Tree, start: int, end: int) -> bool:
    return end <= found.size and expected.subtree(start, end) == found.subtree(start, end)
