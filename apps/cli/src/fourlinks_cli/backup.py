"""`fourlinks backup` and `fourlinks restore`: the events stream, the key table, the signed
checkpoints and the evidence photos in one directory with a manifest, and back into an empty
server and photo store. Never the master key or the checkpoint signing key: only their
fingerprints, so a restore can say whether the keys at hand fit the backup."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nats.aio.client import Client
from nats.js.errors import KeyDeletedError

from fourlinks_audit.anchors import CouldNotRun, reading_store, signer, tiles_and_checkpoints
from fourlinks_kernel.envelope import SIGNATURE_HEADER, type_headers
from fourlinks_kernel.errors import AppendRejected
from fourlinks_kernel.jetstream import Message, publish_batch
from fourlinks_kernel.store import EventStore
from fourlinks_photos.stores import HASH
from fourlinks_runtime.photos import photo_store
from fourlinks_runtime.progress import Progress
from fourlinks_runtime.settings import Settings

EVENTS, KEYS, CHECKPOINTS, MANIFEST = "events.jsonl", "keys.jsonl", "checkpoints", "manifest.json"
PHOTOS, PHOTO_LIST = "photos", "photos.jsonl"
"""The sealed photo files (laid out as the file store lays them out) and their list: each one's
name, size and SHA-256."""
PHOTO_NAME = re.compile(r"[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{64}")
RESTORE_BATCH = 500
"""Events a restore puts back in one atomic batch (the server's limit is 1,000)."""


class BackupRefused(RuntimeError):
    """A backup or restore that would be wrong to go on with (the reason says why)."""


def fingerprint(secret: bytes) -> str:
    """A key's SHA-256 fingerprint: says which key, reveals nothing of it."""
    return hashlib.sha256(secret).hexdigest()[:16]


def _digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# -- backup -------------------------------------------------------------------------------------------
async def backup(nc: Client, settings: Settings, out: Path, previous: Path | None = None) -> dict[str, Any]:
    """Write the stream's events, the key table, the checkpoints and the photos under `out`, then
    the manifest.

    Services may keep writing: the backup is the log up to its last position when the backup
    began. The key table and the photos are read after the events, so they hold the key of every
    person and every photo those events name (a photo is kept before the command naming it is
    recorded; a key erased meanwhile is missing, as it should be: `replay erasures` after a
    restore deals with the rest). A photo the `previous` backup holds is linked to its copy
    there, not copied again."""
    _empty_directory(out)
    async with reading_store(settings) as store:
        events, last = await _write_events(store, out / EVENTS)
    keys = await _write_keys(nc, settings, out / KEYS)
    checkpoints = await _copy_checkpoints(settings, out / CHECKPOINTS)
    photos, photo_bytes = await asyncio.to_thread(_copy_photos, settings, out, previous)
    manifest = {
        "stream": settings.stream,
        "subject_prefix": settings.subject_prefix,
        "key_bucket": settings.key_bucket,
        "last_position": last,
        "events": events,
        "keys": keys,
        "checkpoints": checkpoints,
        "photos": photos,
        "photo_bytes": photo_bytes,
        "photo_store": photo_place(settings),
        "master_key_fingerprint": fingerprint(settings.master_key_bytes()),
        "checkpoint_verifier_key": _verifier_key(settings),
        "written_at": datetime.now(UTC).isoformat(),
        "sha256": {name: _digest(out / name) for name in (EVENTS, KEYS, PHOTO_LIST) if (out / name).exists()},
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


STAMP = re.compile(r"\d{8}T\d{6}Z")


async def scheduled_backup(
    nc: Client, settings: Settings, into: Path, keep: int
) -> tuple[Path, dict[str, Any]]:
    """A backup in a new directory under `into`, named by the time it began (UTC), written as
    `<name>.partial` and renamed when complete, so a backup that is there is whole; then only the
    newest `keep` complete backups stay, and what earlier runs left half-written goes. Photos the
    newest complete backup already holds are linked to its copies (a photo never changes), so an
    hourly backup copies only the photos of the last hour."""
    name = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    done, partial = into / name, into / f"{name}.partial"
    if done.exists():
        raise BackupRefused(f"{done} exists: a backup already began this second")
    manifest = await backup(nc, settings, partial, previous=_newest(into))
    partial.rename(done)
    _prune(into, keep)
    return done, manifest


def _complete(into: Path) -> list[Path]:
    """The complete backups under `into`, oldest first."""
    if not into.is_dir():
        return []
    return sorted(d for d in into.iterdir() if STAMP.fullmatch(d.name) and (d / MANIFEST).exists())


def _newest(into: Path) -> Path | None:
    complete = _complete(into)
    return complete[-1] if complete else None


def _prune(into: Path, keep: int) -> None:
    complete = _complete(into)
    newest = complete[-1].name if complete else ""
    for directory in complete[:-keep]:
        shutil.rmtree(directory)
    for left in into.glob("*.partial"):
        if STAMP.fullmatch(left.name.removesuffix(".partial")) and left.name < newest:
            shutil.rmtree(left)


def _empty_directory(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    if (out / MANIFEST).exists():
        raise BackupRefused(f"{out} already holds a backup: choose an empty directory")
    (out / CHECKPOINTS).mkdir(exist_ok=True)


def _note_files(path: Path) -> list[Path]:
    return sorted(path.glob("*.checkpoint")) if path.is_dir() else []


def _verifier_key(settings: Settings) -> str | None:
    """The public key the backed-up checkpoints verify with, if a signing key is configured."""
    try:
        return signer(settings).verifier.encoded()
    except CouldNotRun:
        return None


async def _write_events(store: EventStore, target: Path) -> tuple[int, int]:
    cut = await store.last_position()
    bar = Progress("backup", cut)
    count = last = 0
    with target.open("w") as lines:
        async for stored in store.read(until_position=cut):
            envelope, _ = store.codec.envelope_of(stored)
            line = {
                "position": stored.position,
                "subject": stored.subject,
                "event_type": stored.event_type,
                "schema_version": envelope.schema_version,
                "payload": base64.b64encode(stored.payload).decode(),
                "signature": stored.signature,  # the writing service's: verify checks it after a restore
            }
            lines.write(json.dumps(line) + "\n")
            count, last = count + 1, stored.position
            bar.advance()
    bar.finish()
    return count, last


async def _write_keys(nc: Client, settings: Settings, target: Path) -> int:
    """Every key of the key table. The names come from the bucket's stream (one subject per key),
    not from a watch that a busy server may answer late: a backup missing a key it did not see
    would restore unreadable people."""
    bucket = await nc.jetstream().key_value(settings.key_bucket)
    names = await _key_names(nc, settings.key_bucket)
    count = 0
    with target.open("w") as lines:
        for name in names:
            try:
                entry = await bucket.get(name)
            except KeyDeletedError:  # erased: its tombstone is all that is left, rightly
                continue
            lines.write(
                json.dumps({"key": name, "value": base64.b64encode(entry.value or b"").decode()}) + "\n"
            )
            count += 1
    return count


async def _key_names(nc: Client, bucket: str) -> list[str]:
    """Every key the bucket's stream holds a subject for, page by page (the server answers at most
    100,000 subjects at a time; a district's key table can hold more)."""
    prefix = f"$KV.{bucket}."
    names: list[str] = []
    while True:
        asked = json.dumps({"subjects_filter": f"{prefix}>", "offset": len(names)}).encode()
        reply = json.loads((await nc.request(f"$JS.API.STREAM.INFO.KV_{bucket}", asked, timeout=60)).data)
        if "error" in reply:
            raise BackupRefused(
                f"the key table {bucket} could not be listed: {reply['error'].get('description')}"
            )
        subjects = reply["state"].get("subjects") or {}
        names += [subject.removeprefix(prefix) for subject in subjects]
        if not subjects or len(names) >= reply["state"].get("num_subjects", len(names)):
            return sorted(names)


def photo_place(settings: Settings) -> str:
    """Where the photos are kept: the file store's directory, or the object store's bucket."""
    if settings.photos_s3_url:
        return f"s3://{settings.photos_s3_bucket} at {settings.photos_s3_url}"
    return str(_photo_root(settings))


def _photo_root(settings: Settings) -> Path:
    return settings.photos_dir or settings.var_dir / PHOTOS  # as fourlinks_runtime.photos keeps them


def _photo_files(root: Path) -> list[Path]:
    """The sealed photos of a file store (`ab/cd/<name>`), not a write in progress."""
    found = root.glob("??/??/*") if root.is_dir() else ()
    return sorted(path for path in found if HASH.fullmatch(path.name) and path.is_file())


def _copy_photos(settings: Settings, out: Path, previous: Path | None) -> tuple[int | None, int]:
    """Every photo of the file store into `out/photos/`, each listed in photos.jsonl with its size
    and SHA-256; None when the photos are in an object store (its bucket has its own versioning
    and replication: the backup does not copy a bucket)."""
    if settings.photos_s3_url:
        return None, 0
    root = _photo_root(settings)
    listed = previous / PHOTO_LIST if previous else None  # none before photos were backed up
    known = {line["name"]: line for line in _lines(listed)} if listed and listed.exists() else {}
    files = _photo_files(root)
    bar = Progress("photos", len(files))
    total = 0
    with (out / PHOTO_LIST).open("w") as listing:
        for source in files:
            name = source.relative_to(root).as_posix()
            target = out / PHOTOS / name
            target.parent.mkdir(parents=True, exist_ok=True)
            line = known.get(name)
            if line is None or previous is None or not _linked(previous / PHOTOS / name, target):
                data = source.read_bytes()
                target.write_bytes(data)
                line = {"name": name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
            listing.write(json.dumps(line) + "\n")
            total += line["size"]
            bar.advance()
    bar.finish()
    return len(files), total


def _linked(earlier: Path, target: Path) -> bool:
    """The earlier backup's copy linked as this backup's (False where it is gone or links are not
    possible: the photo is then copied)."""
    try:
        os.link(earlier, target)
    except OSError:
        return False
    return True


async def _copy_checkpoints(settings: Settings, target: Path) -> int:
    async with tiles_and_checkpoints(settings) as (_, stored):
        notes = stored.notes()
    for n, (_, note) in enumerate(notes):
        (target / f"{n:06d}.checkpoint").write_text(note)
    return len(notes)


# -- restore ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Restored:
    """What a restore put back."""

    events: int
    keys: int
    checkpoints: int
    photos: int


async def restore(nc: Client, settings: Settings, source: Path, manifest: dict[str, Any]) -> Restored:
    """Put a checked backup (`checked_manifest`) into an empty events stream and key table (after
    `fourlinks nats init`), and its photos into the photo store the settings name (files or a
    bucket). A restore that was cut short continues where it stopped when run again: the stream
    then holds the backup's first events, the last of them byte for byte; photos already in the
    store stay as they are."""
    done = await _restored_so_far(nc, settings, source, manifest)
    events = await _publish_events(nc, source / EVENTS, manifest["events"], done)
    keys = await _put_keys(nc, settings, source / KEYS)
    checkpoints = await _restore_checkpoints(settings, source / CHECKPOINTS)
    photos = await _put_photos(settings, source)
    return Restored(events, keys, checkpoints, photos)


async def _restored_so_far(nc: Client, settings: Settings, source: Path, manifest: dict[str, Any]) -> int:
    """How many of the backup's events the stream already holds (0 for a fresh stream); refuses a
    stream that holds anything else."""
    info = await nc.jetstream().stream_info(settings.stream)
    last = info.state.last_seq
    if not last:
        return 0
    refusal = (
        f"the stream {settings.stream} is not empty ({last:,} events) and is not an interrupted "
        "restore of this backup: restore into a fresh server after `fourlinks nats init`"
    )
    if info.state.messages != last or last >= manifest["last_position"]:
        raise BackupRefused(refusal)
    line = next(line for line in _lines(source / EVENTS) if line["position"] == last)
    message = await nc.jetstream().get_msg(settings.stream, last, direct=True)
    if message.subject != line["subject"] or message.data != base64.b64decode(line["payload"]):
        raise BackupRefused(refusal)
    return last


def checked_manifest(source: Path, settings: Settings) -> dict[str, Any]:
    """The backup's manifest, once every file matches it and the master key at hand is its key."""
    try:
        manifest: dict[str, Any] = json.loads((source / MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        raise BackupRefused(f"{source} holds no readable backup manifest: {exc}") from exc
    for name, expected in manifest["sha256"].items():
        if _digest(source / name) != expected:
            raise BackupRefused(
                f"{name} does not match the manifest's SHA-256: the backup was changed or cut short"
            )
    _check_photos(source)
    if manifest["master_key_fingerprint"] != fingerprint(settings.master_key_bytes()):
        raise BackupRefused(
            "the master key at hand is not the backup's (fingerprints differ): the restored key table "
            "could not be opened; set FOURLINKS_MASTER_KEY(_FILE) to the key the backup was taken with"
        )
    return manifest


def _check_photos(source: Path) -> None:
    """Every photo the backup lists is there, byte for byte (the list itself is in the manifest)."""
    if not (source / PHOTO_LIST).exists():
        return  # a backup of photos in an object store, or from before photos were backed up
    for line in _lines(source / PHOTO_LIST):
        if not PHOTO_NAME.fullmatch(line["name"]):
            raise BackupRefused(f"{PHOTO_LIST} names {line['name']!r}, not a photo of the store")
        path = source / PHOTOS / line["name"]
        if not path.is_file() or _digest(path) != line["sha256"]:
            raise BackupRefused(
                f"the photo {PHOTOS}/{line['name']} is missing or does not match its SHA-256 in "
                f"{PHOTO_LIST}: the backup was changed or cut short"
            )


def _lines(path: Path) -> Iterator[dict[str, Any]]:
    with path.open() as handle:
        for line in handle:
            yield json.loads(line)


async def _publish_events(nc: Client, path: Path, total: int, done: int) -> int:
    """Each event at its own position, in atomic batches that land right after the last position
    restored or not at all; returns how many events the stream holds from the backup."""
    bar = Progress("restore", total)
    bar.advance(done)
    batch: list[Message] = []
    for line in _lines(path):
        if line["position"] <= done:
            continue
        batch.append(_message(line))
        if len(batch) == RESTORE_BATCH:
            done = await _publish(nc, batch, done, bar)
            batch = []
    if batch:
        done = await _publish(nc, batch, done, bar)
    bar.finish()
    return done


def _message(line: dict[str, Any]) -> Message:
    headers = type_headers(line["event_type"], line["schema_version"])
    if line.get("signature"):
        headers[SIGNATURE_HEADER] = line["signature"]
    return line["subject"], base64.b64decode(line["payload"]), headers


async def _publish(nc: Client, batch: list[Message], done: int, bar: Progress) -> int:
    try:
        last = await publish_batch(nc, batch, expect_last=done)
    except AppendRejected as exc:
        raise BackupRefused(
            f"{exc}: something else writes to the stream; restore before the services start"
        ) from exc
    if last != done + len(batch):
        raise BackupRefused(f"events {done + 1}..{done + len(batch)} landed ending at {last}")
    bar.advance(len(batch))
    return last


async def _put_keys(nc: Client, settings: Settings, path: Path) -> int:
    bucket = await nc.jetstream().key_value(settings.key_bucket)
    count = 0
    for line in _lines(path):
        await bucket.put(line["key"], base64.b64decode(line["value"]))
        count += 1
    return count


async def _put_photos(settings: Settings, source: Path) -> int:
    """The backup's photos into the store the settings name, each one not there yet; how many the
    store holds from the backup."""
    if not (source / PHOTO_LIST).exists():
        return 0
    store = photo_store(settings)
    lines = list(_lines(source / PHOTO_LIST))
    bar = Progress("photos", len(lines))
    for line in lines:
        name = Path(line["name"]).name
        if await store.get(name) is None:  # one already there is this photo, sealed for this person
            await store.put(name, await asyncio.to_thread((source / PHOTOS / line["name"]).read_bytes))
        bar.advance()
    bar.finish()
    return len(lines)


async def _restore_checkpoints(settings: Settings, path: Path) -> int:
    notes = _note_files(path)
    async with tiles_and_checkpoints(settings) as (_, stored):
        for note_file in notes:
            note = note_file.read_text()
            stored.add(int(note.split("\n")[1]), note)
    return len(notes)
