"""The tile store answers what a tree held in memory answers, across tile and level boundaries,
after reopening, and after being dropped and rebuilt."""

from __future__ import annotations

import hashlib
from pathlib import Path

from sqlalchemy import create_engine

from fourlinks_audit.merkle import LeafList, consistency_proof, inclusion_proof, root_of
from fourlinks_audit.tiles import TileStore


def leaves(n: int, start: int = 0) -> list[bytes]:
    return [hashlib.sha256(i.to_bytes(8, "big")).digest() for i in range(start, start + n)]


def test_tiles_give_the_roots_and_proofs_of_the_tree_in_memory(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'audit.db'}")
    store, memory = TileStore(engine), LeafList()
    for batch in (1, 254, 1, 1, 300, 65_000, 700, 3_999):  # across tiles of level 0, 1 and 2
        more = leaves(batch, memory.size)
        store.append(more)
        for leaf in more:
            memory.append(leaf)
        assert root_of(store) == root_of(memory), memory.size
    assert store.size == memory.size == 70_256
    for size in (1, 255, 256, 257, 65_535, 65_536, 65_537, 70_256):
        assert root_of(store, size) == root_of(memory, size)
    for index, size in ((0, 70_256), (65_535, 70_256), (70_255, 70_256), (300, 513)):
        assert inclusion_proof(store, index, size) == inclusion_proof(memory, index, size)
    assert consistency_proof(store, 65_537, 70_256) == consistency_proof(memory, 65_537, 70_256)

    reopened = TileStore(engine)  # the partial tiles come back from the database
    reopened.append(leaves(1_000, memory.size))
    for leaf in leaves(1_000, memory.size):
        memory.append(leaf)
    assert root_of(reopened) == root_of(memory)

    reopened.drop()  # a rebuild from the first leaf gives the same roots
    reopened.append(memory.hashes)
    assert root_of(reopened, 70_256) == root_of(memory, 70_256)
    assert root_of(TileStore(engine)) == root_of(memory)
