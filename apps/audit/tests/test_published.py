"""What the checkpointer publishes: the latest signed checkpoint and the latest integrity check."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine

from fourlinks_audit.merkle import fold, node_hash
from fourlinks_audit.notes import SignerKey, read_checkpoint
from fourlinks_audit.published import published_app
from fourlinks_audit.tiles import PublishedTiles, TileStore
from fourlinks_audit.transparency import CheckpointDirectory, write_checkpoint
from fourlinks_runtime.settings import Settings


async def test_nothing_yet_then_the_latest_checkpoint_and_integrity_check(tmp_path: Path) -> None:
    checkpoints = CheckpointDirectory(tmp_path / "checkpoints")
    transport = httpx.ASGITransport(app=published_app(checkpoints))
    async with httpx.AsyncClient(transport=transport, base_url="http://checkpoints") as client:
        assert (await client.get("/checkpoint")).status_code == 404
        assert "fourlinks_integrity_intact NaN" in (await client.get("/metrics")).text
        assert (await client.get("/integrity")).json() == {"detail": "no integrity check has run yet"}
        checkpoints.add(5, "fourlinks/X\n5\n" + "A" * 43 + "=\n\n— k sig\n")
        checkpoints.add(12, "fourlinks/X\n12\n" + "A" * 43 + "=\n\n— k sig\n")
        found = {"intact": False, "checked_at": "2026-11-30T09:00:00+00:00", "findings": [{"position": 7}]}
        checkpoints.keep_integrity(json.dumps(found))
        assert (await client.get("/checkpoint")).text.startswith("fourlinks/X\n12\n")
        assert (await client.get("/integrity")).json() == found
        metrics = (await client.get("/metrics")).text
        assert "fourlinks_integrity_intact 0.0" in metrics
        assert "fourlinks_integrity_findings 1.0" in metrics
        assert "fourlinks_checkpoint_tree_size 12.0" in metrics
        assert (await client.get("/health/ready")).status_code == 200


async def test_the_services_public_signing_keys_are_published_with_the_checkpoints(tmp_path: Path) -> None:
    from fourlinks_runtime.signing_keys import ensure_signing_keys

    signers = ensure_signing_keys(tmp_path, ["members", "feedback"])
    app = published_app(CheckpointDirectory(tmp_path / "checkpoints"), signers)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://c") as client:
        answer = (await client.get("/signers")).json()
    assert answer["signed_from"] == 1
    assert {entry["context"] for entry in answer["signers"]} == {"members", "feedback"}
    assert not any("seed" in key or "private" in key for entry in answer["signers"] for key in entry)
    assert oct((tmp_path / "signing" / "members.key").stat().st_mode & 0o777) == "0o600"
    assert oct((tmp_path / "signing").stat().st_mode & 0o777) == "0o700"


# -- the tiles, as C2SP tlog-tiles serves them --------------------------------------------------------
KEY = SignerKey.generate("tiles.fourlinks.example/events")
SIZE = 70_000  # 273 full level-0 tiles and one of 112, a full level-1 tile and one of 17, one of 1


def tile_url(level: int, index: int, width: int = 256) -> str:
    """The C2SP path of a tile, written out here apart from the code under test."""
    digits = str(index).zfill(3 * -(-len(str(index)) // 3))
    parts = [digits[i : i + 3] for i in range(0, len(digits), 3)]
    path = "/".join([*("x" + p for p in parts[:-1]), parts[-1]])
    return f"/tile/{level}/{path}" + ("" if width == 256 else f".p/{width}")


async def root_from_tiles(client: httpx.AsyncClient, size: int) -> bytes:
    """RFC 9162's root of `size` leaves from the published tiles alone: the tree's complete
    subtrees, largest first, each folded from the tile hashes at its height's level."""
    subtrees, start = [], 0
    for height in range(size.bit_length() - 1, -1, -1):
        if size & (1 << height):
            subtrees.append(await subtree_from_tiles(client, height, start >> height))
            start += 1 << height
    root = subtrees.pop()
    while subtrees:
        root = node_hash(subtrees.pop(), root)
    return root


async def subtree_from_tiles(client: httpx.AsyncClient, height: int, index: int) -> bytes:
    level, rest = divmod(height, 8)
    first, count = index << rest, 1 << rest  # hashes of the level-`level` tiles
    tile, offset = divmod(first, 256)
    width = 256 if (tile + 1) * 256 <= size_at(level) else size_at(level) % 256
    reply = await client.get(tile_url(level, tile, width))
    assert reply.status_code == 200, (level, tile, width, reply.text)
    run = reply.content[offset * 32 : (offset + count) * 32]
    return fold([run[i : i + 32] for i in range(0, len(run), 32)])


def size_at(level: int) -> int:
    return SIZE >> (8 * level)


@pytest.fixture(scope="module")
def published_log(tmp_path_factory: pytest.TempPathFactory) -> tuple[TileStore, CheckpointDirectory]:
    where = tmp_path_factory.mktemp("tiles")
    tiles = TileStore(create_engine(f"sqlite:///{where / 'audit.db'}"))
    tiles.append(hashlib.sha256(i.to_bytes(8, "big")).digest() for i in range(SIZE))
    checkpoints = CheckpointDirectory(where / "checkpoints")
    write_checkpoint(tiles, KEY, KEY.name, checkpoints)
    tiles.append(hashlib.sha256(b"after").digest() for _ in range(300))  # not signed yet
    return tiles, checkpoints


def tiles_client(
    published: tuple[TileStore, CheckpointDirectory], *, limits: bool = False
) -> httpx.AsyncClient:
    tiles, checkpoints = published
    app = published_app(
        checkpoints, tiles=PublishedTiles(tiles.engine), settings=Settings(rate_limits=limits)
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://log")


async def test_the_published_tiles_rebuild_the_signed_root(
    published_log: tuple[TileStore, CheckpointDirectory],
) -> None:
    async with tiles_client(published_log) as client:
        note = await client.get("/checkpoint")
        checkpoint = read_checkpoint(note.text, KEY.verifier)
        assert checkpoint.size == SIZE
        assert await root_from_tiles(client, SIZE) == checkpoint.root
        assert note.headers["content-type"] == "text/plain; charset=utf-8"
        assert note.headers["cache-control"] == "public, max-age=2"


async def test_full_tiles_are_immutable_partial_ones_short_lived_and_head_is_answered(
    published_log: tuple[TileStore, CheckpointDirectory],
) -> None:
    async with tiles_client(published_log) as client:
        full = await client.get(tile_url(0, 272))
        assert (full.status_code, len(full.content)) == (200, 8192)
        assert full.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert full.headers["content-type"] == "application/octet-stream"
        partial = await client.get(tile_url(0, 273, 112))
        assert (len(partial.content), partial.headers["cache-control"]) == (112 * 32, "public, max-age=60")
        assert (await client.get(tile_url(0, 273, 5))).content == partial.content[: 5 * 32]
        assert len((await client.get(tile_url(2, 0, 1))).content) == 32
        head = await client.head(tile_url(1, 0))
        assert (head.status_code, head.headers["cache-control"]) == (200, full.headers["cache-control"])
        assert (await client.head("/checkpoint")).status_code == 200


async def test_no_tile_past_the_signed_tree_and_no_path_but_the_canonical_one(
    published_log: tuple[TileStore, CheckpointDirectory],
) -> None:
    async with tiles_client(published_log) as client:
        for path in (
            tile_url(0, 273),  # full only after the checkpoint: the tiles hold it, nothing signed it
            tile_url(0, 273, 113),
            tile_url(1, 1),
            "/tile/0/x000/001",  # 1 is 001
            "/tile/0/1",
            "/tile/00/001",
            "/tile/0/001.p/0",
            "/tile/0/001.p/256",
            "/tile/64/000",
            "/tile/entries/000",  # the entries are not published
        ):
            reply = await client.get(path)
            assert (reply.status_code, reply.headers["cache-control"]) == (404, "no-store"), path


async def test_reading_tiles_and_checkpoints_is_rate_limited(
    published_log: tuple[TileStore, CheckpointDirectory],
) -> None:
    async with tiles_client(published_log, limits=True) as client:
        answers = [(await client.get("/checkpoint")).status_code for _ in range(121)]
        assert answers[:120] == [200] * 120
        assert answers[120] == 429
