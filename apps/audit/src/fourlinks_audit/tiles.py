"""The log's Merkle tree kept as hash tiles (as Go's tlog does): tile level t holds the hashes of
the complete subtrees of 2^(8t) leaves, 256 a tile. Any subtree hash is at most 128 stored hashes
folded, so a proof at a million events reads a few tiles. A disposable read model: dropped and
rebuilt from the log, it gives the same roots."""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import BigInteger, Column, Engine, Integer, LargeBinary, MetaData, SmallInteger, Table, select

from fourlinks_audit.merkle import fold, node_hash, split
from fourlinks_kernel.rows import upsert_row

HEIGHT = 8
WIDTH = 1 << HEIGHT
HASH = 32

metadata = MetaData()
tiles = Table(
    "audit_tiles",
    metadata,
    Column("level", SmallInteger, primary_key=True),
    Column("tile", BigInteger, primary_key=True),
    Column("hashes", LargeBinary, nullable=False),
)
tree_size = Table(
    "audit_tree",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("size", BigInteger, nullable=False),
)


class TileStore:
    """The tree's tiles in a database; `append` adds leaves, `subtree` answers any subtree hash."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        metadata.create_all(engine)
        with engine.connect() as conn:
            self.size: int = conn.scalar(select(tree_size.c.size).where(tree_size.c.id == 1)) or 0
        self._cache: dict[tuple[int, int], bytes] = {}
        # The last, incomplete tile of each level, as it grows.
        self._partial: dict[int, bytearray] = {}
        for level in range(self._levels()):
            count = self.size >> (HEIGHT * level)
            if count % WIDTH:
                self._partial[level] = bytearray(self._tile(level, count // WIDTH))

    def drop(self) -> None:
        """Forget every tile (a rebuild starts from the first position)."""
        metadata.drop_all(self.engine)
        metadata.create_all(self.engine)
        self.size, self._cache, self._partial = 0, {}, {}

    def _levels(self) -> int:
        level = 0
        while self.size >> (HEIGHT * level):
            level += 1
        return level

    # -- writing ---------------------------------------------------------------------------------------
    def append(self, leaves: Iterable[bytes]) -> None:
        """Add leaf hashes at the end, in one transaction with the new size."""
        changed: set[tuple[int, int]] = set()
        for leaf in leaves:
            self.size += 1
            self._push(0, leaf, changed)
        with self.engine.begin() as conn:
            for level, index in sorted(changed):
                row = {"level": level, "tile": index, "hashes": self._tile(level, index)}
                upsert_row(conn, tiles, row, ["level", "tile"])
            upsert_row(conn, tree_size, {"id": 1, "size": self.size}, ["id"])

    def _push(self, level: int, value: bytes, changed: set[tuple[int, int]]) -> None:
        """The next hash of a tile level (the size already counts the leaf that brought it)."""
        index = (self._count(level) - 1) // WIDTH
        tile = self._partial.setdefault(level, bytearray())
        tile += value
        changed.add((level, index))
        if len(tile) == WIDTH * HASH:  # complete: its root is the next level's next hash
            self._cache[(level, index)] = bytes(tile)
            del self._partial[level]
            self._push(level + 1, fold(_split_hashes(bytes(tile))), changed)

    def _count(self, level: int) -> int:
        """How many hashes a tile level holds: complete subtrees of 2^(8 level) leaves."""
        return self.size >> (HEIGHT * level)

    # -- reading ---------------------------------------------------------------------------------------
    def _tile(self, level: int, index: int) -> bytes:
        cached = self._cache.get((level, index))
        if cached is not None:
            return cached
        if level in self._partial and index == self._count(level) // WIDTH:
            return bytes(self._partial[level])
        with self.engine.connect() as conn:
            found = conn.scalar(select(tiles.c.hashes).where(tiles.c.level == level, tiles.c.tile == index))
        value = bytes(found or b"")
        if len(value) == WIDTH * HASH:  # complete tiles never change: keep them
            self._cache[(level, index)] = value
        return value

    def _hashes(self, level: int, start: int, count: int) -> list[bytes]:
        """`count` stored hashes of a tile level from `start` (all within one tile)."""
        tile = self._tile(level, start // WIDTH)
        offset = (start % WIDTH) * HASH
        return _split_hashes(tile[offset : offset + count * HASH])

    def node(self, height: int, index: int) -> bytes:
        """The hash of the complete subtree of 2^height leaves that starts at leaf index * 2^height."""
        level, rest = divmod(height, HEIGHT)
        run = self._hashes(level, index << rest, 1 << rest)
        if len(run) != 1 << rest:
            raise ValueError(
                f"the tiles do not hold the subtree {height}/{index}: the tree has {self.size} leaves"
            )
        return fold(run)

    def subtree(self, start: int, end: int) -> bytes:
        """MTH of the leaves [start, end)."""
        n = end - start
        if end > self.size or n <= 0:
            raise ValueError(f"leaves {start}..{end} are not all in a tree of {self.size}")
        height = n.bit_length() - 1
        if n == 1 << height and start % n == 0:
            return self.node(height, start >> height)
        k = split(n)
        return node_hash(self.subtree(start, start + k), self.subtree(start + k, end))


def _split_hashes(run: bytes) -> list[bytes]:
    return [run[i : i + HASH] for i in range(0, len(run), HASH)]


# -- tiles as C2SP tlog-tiles publishes them -------------------------------------------------------------
MAX_LEVEL = 63
_ELEMENT = re.compile(r"^(x?)(\d{3})$")
_DECIMAL = re.compile(r"^(0|[1-9]\d*)$")


@dataclass(frozen=True)
class TileName:
    """One tile as C2SP tlog-tiles names it: level, index in the level, width (256: a full tile)."""

    level: int
    index: int
    width: int = WIDTH

    @property
    def full(self) -> bool:
        return self.width == WIDTH

    def path(self) -> str:
        """`tile/<L>/<N>[.p/<W>]`, N in 3-digit elements, all but the last prefixed with x."""
        digits = f"{self.index:d}"
        digits = digits.zfill(-(-len(digits) // 3) * 3)
        elements = [digits[i : i + 3] for i in range(0, len(digits), 3)]
        index = "/".join([*(f"x{e}" for e in elements[:-1]), elements[-1]])
        return f"tile/{self.level}/{index}" + ("" if self.full else f".p/{self.width}")

    @classmethod
    def parse(cls, path: str) -> TileName:
        """The tile a canonical `tile/...` path names; ValueError for any other path."""
        parts = path.split("/")
        width = WIDTH
        if len(parts) >= 4 and parts[-2].endswith(".p"):
            if not _DECIMAL.match(parts[-1]) or not 0 < int(parts[-1]) < WIDTH:
                raise ValueError(f"not a partial tile's width: {parts[-1]!r}")
            width, parts = int(parts[-1]), [*parts[:-2], parts[-2][:-2]]
        if len(parts) < 3 or parts[0] != "tile" or not _DECIMAL.match(parts[1]):
            raise ValueError(f"not a tile path: {path!r}")
        matches = [_ELEMENT.match(e) for e in parts[2:]]
        prefixed = [bool(m and m.group(1)) for m in matches]
        if not all(matches) or prefixed != [True] * (len(parts) - 3) + [False]:
            raise ValueError(f"not a tile index: {'/'.join(parts[2:])!r}")
        index = int("".join(m.group(2) for m in matches if m))
        name = cls(int(parts[1]), index, width)
        if name.level > MAX_LEVEL or name.path() != path:  # one path per tile: x000/001 is not 001
            raise ValueError(f"not a canonical tile path: {path!r}")
        return name

    def within(self, size: int) -> bool:
        """Whether a tree of `size` leaves holds every hash of this tile."""
        return self.index * WIDTH + self.width <= size >> (HEIGHT * self.level)


class PublishedTiles:
    """The tiles as committed to the database, read for publishing (any thread), never past the
    tree size of the latest signed checkpoint: what it signed no longer changes."""

    KEPT = 1024  # full tiles kept in memory: 8 MiB

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._full: OrderedDict[tuple[int, int], bytes] = OrderedDict()
        self._lock = threading.Lock()  # requests are answered on several threads at once

    def read(self, name: TileName, signed_size: int) -> bytes | None:
        """The tile's hashes (a partial one: the first `width` of them), or None when the latest
        checkpoint does not cover them all."""
        if not name.within(signed_size):
            return None
        stored = self._kept(name) or self._stored(name)
        wanted = name.width * HASH
        return stored[:wanted] if len(stored) >= wanted else None

    def _kept(self, name: TileName) -> bytes | None:
        with self._lock:
            stored = self._full.get((name.level, name.index))
            if stored is not None:
                self._full.move_to_end((name.level, name.index))
            return stored

    def _stored(self, name: TileName) -> bytes:
        query = select(tiles.c.hashes).where(tiles.c.level == name.level, tiles.c.tile == name.index)
        with self.engine.connect() as conn:
            stored = bytes(conn.scalar(query) or b"")
        if len(stored) == WIDTH * HASH:  # complete: it never changes again
            with self._lock:
                self._full[(name.level, name.index)] = stored
                while len(self._full) > self.KEPT:
                    self._full.popitem(last=False)
        return stored
