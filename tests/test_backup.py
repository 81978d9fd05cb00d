"""The restore drill: a district's events, key table, signed checkpoints and evidence photos backed up
while residents keep being registered, restored into a fresh nats-server and photo store, and the
restored log verifies, keeps every position and gives read models equal to the original's at the
backup's position, and a resident's photo opens again with the restored key table; an interrupted
restore continues; a changed backup (an event or a photo), another stream's events or another master
key are refused; hourly backups copy a photo once and link it after."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import nats
from conftest import COMMUNITY, District, a_photo_with_a_location, a_problem_assigned

from fourlinks_audit.notes import SignerKey
from fourlinks_cli.backup import EVENTS, PHOTO_LIST, PHOTOS, _lines, _message
from fourlinks_kernel.crypto import PersonalDataCipher, parse_master_key
from fourlinks_kernel.jetstream import NatsKeyStore, publish_batch
from fourlinks_photos.evidence import Evidence, PhotoRef
from fourlinks_photos.stores import FileStore
from fourlinks_runtime.embedded import start_nats

KEY = SignerKey.generate("fourlinks-drill")
SERVICES = ("members", "assignments", "feedback")


def fourlinks(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "fourlinks_cli", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)


def env_for(d: District, nats_url: str, var_dir: Path, photos: Path | None = None) -> dict[str, str]:
    """The commands' settings: the district's stream and buckets on a server, a var/ of their own,
    the photo store given (else var/photos)."""
    s = d.settings
    assert s.master_key is not None
    return {
        "FOURLINKS_PHOTOS_DIR": str(photos or var_dir / "photos"),
        "PATH": "/usr/bin:/bin",
        "FOURLINKS_NATS_URL": nats_url,
        "FOURLINKS_STREAM": s.stream,
        "FOURLINKS_SUBJECT_PREFIX": s.subject_prefix,
        "FOURLINKS_KEY_BUCKET": s.key_bucket,
        "FOURLINKS_IDEMPOTENCY_BUCKET": s.idempotency_bucket,
        "FOURLINKS_MASTER_KEY": s.master_key.get_secret_value(),
        "FOURLINKS_CHECKPOINT_KEY": KEY.encoded(),
        "FOURLINKS_VAR_DIR": str(var_dir),
        "FOURLINKS_LOG_LEVEL": "WARNING",
    }


def digests(env: dict[str, str], where: Path, at: int | None = None) -> dict[str, str]:
    """Each service's read models rebuilt from the log (up to position `at`), and their digest."""
    found = {}
    for service in SERVICES:
        url = f"sqlite:///{where / service}.db"
        up_to = ("at", service, "--position", str(at)) if at else ("rebuild", service)
        rebuilt = fourlinks(env, "replay", *up_to, "--database-url", url)
        assert rebuilt.returncode == 0, rebuilt.stderr
        digest = fourlinks(env, "audit", "digest", service, "--database-url", url)
        found[service] = digest.stdout.strip().splitlines()[-1]
    return found


async def households_registered(d: District, written: list[int], stop: asyncio.Event) -> None:
    """A secretary registering households, one after another, until told to stop."""
    for n in itertools.count():
        body = {"org_unit": f"{COMMUNITY}/b1", "room": f"{n + 200}", "residents": [{"name": f"住户{n}"}]}
        written.append((await d.post(d.members, "/households", body, d.secretary))["position"])
        if stop.is_set():
            return


async def backed_up_under_load(d: District, env: dict[str, str], out: Path) -> dict[str, object]:
    """`fourlinks backup` while households keep being registered before, during and after it."""
    written: list[int] = []
    stop = asyncio.Event()
    writer = asyncio.create_task(households_registered(d, written, stop))
    while len(written) < 5:
        await asyncio.sleep(0.01)
    saved = await asyncio.to_thread(fourlinks, env, "backup", "--out", str(out))
    during = len(written)
    while len(written) < during + 5:
        await asyncio.sleep(0.01)
    stop.set()
    await writer
    assert saved.returncode == 0, saved.stderr
    manifest: dict[str, object] = json.loads((out / "manifest.json").read_text())
    assert written[0] < int(str(manifest["last_position"])) < written[-1]  # writes on both sides of it
    return manifest


def kept_photos(d: District) -> Path:
    """Where the district's services keep their photos."""
    return d.settings.photos_dir or d.settings.var_dir / "photos"


async def a_photo_sent_with_feedback(d: District, household: str) -> dict[str, Any]:
    """A resident's photo of the problem, sent with their feedback: what the event names of it."""
    resident = d.token("resident", household)
    files = {"photo": ("leak.jpg", a_photo_with_a_location(), "image/jpeg")}
    uploaded = await d.feedback.post("/photos", files=files, headers=resident)
    assert uploaded.status_code == 201, uploaded.text
    photo: dict[str, Any] = uploaded.json()
    body = {"category": "repairs", "household_id": household, "description": "墙面渗水", "photos": [photo]}
    await d.post(d.feedback, "/feedback", body, resident)
    return photo


async def opened(
    d: District, nats_url: str, photos: Path, subject: str, photo: dict[str, Any]
) -> bytes | None:
    """The photo as a service opens it: from this store, with the key table on this server."""
    assert d.settings.master_key is not None
    nc = await nats.connect(nats_url)
    try:
        keys = NatsKeyStore(nc, d.settings.key_bucket)
        cipher = PersonalDataCipher(
            master_key=parse_master_key(d.settings.master_key.get_secret_value()), keys=keys
        )
        return await Evidence(FileStore(photos), cipher).read(subject, PhotoRef(**photo))
    finally:
        await nc.close()


async def interrupted_restore(url: str, backup: Path, events: int) -> None:
    """The first `events` of the backup in the stream, as a restore cut short leaves it."""
    nc = await nats.connect(url)
    try:
        lines = list(itertools.islice(_lines(backup / EVENTS), events))
        await publish_batch(nc, [_message(line) for line in lines], expect_last=0)
    finally:
        await nc.close()


async def test_a_backup_taken_under_load_restores_into_a_fresh_server_with_the_same_history(
    district: District, tmp_path: Path
) -> None:
    d = district
    _, resident, leak, _ = await a_problem_assigned(d)  # people, a card, a problem and its task
    household = (await d.get(d.feedback, f"/feedback/{leak['id']}", resident))["household_id"]
    photo = await a_photo_sent_with_feedback(d, household)
    original = env_for(d, d.settings.nats_url, tmp_path / "original", kept_photos(d))
    assert fourlinks(original, "audit", "checkpoint").returncode == 0
    manifest = await backed_up_under_load(d, original, tmp_path / "backup")
    assert manifest["checkpoints"] == 1
    assert int(str(manifest["keys"])) >= 1
    assert manifest["photos"] == len(list(_lines(tmp_path / "backup" / PHOTO_LIST))) >= 1
    assert 'master_key"' not in json.dumps(manifest)  # a fingerprint, never the key

    server = start_nats(tmp_path / "fresh-nats")
    try:
        fresh = env_for(d, server.url, tmp_path / "fresh")
        init = fourlinks(fresh, "nats", "init", "--monitor-url", server.monitor_url)
        assert init.returncode == 0, init.stderr
        other_key = {**fresh, "FOURLINKS_MASTER_KEY": "b3RoZXIta2V5LW9mLXRoaXJ0eS10d28tYnl0ZXMtISE="}
        refused = fourlinks(other_key, "restore", "--from", str(tmp_path / "backup"))
        assert (refused.returncode, "master key" in refused.stderr) == (1, True), refused.stderr
        await interrupted_restore(server.url, tmp_path / "backup", 7)
        restored = fourlinks(fresh, "restore", "--from", str(tmp_path / "backup"))
        assert restored.returncode == 0, restored.stderr  # it continues after the seventh event
        again = fourlinks(fresh, "restore", "--from", str(tmp_path / "backup"))
        assert (again.returncode, "not empty" in again.stderr) == (1, True), again.stderr
        signers = str(d.settings.signers_path())  # the services' public keys, published with the checkpoints
        verified = fourlinks(fresh, "audit", "verify", "--json", "--signers", signers)
        assert verified.returncode == 0, verified.stdout + verified.stderr
        answer = json.loads(verified.stdout)
        assert answer["signatures_checked"]  # every restored event still carries its service's signature
        assert answer["events"] == manifest["events"] == manifest["last_position"]
        assert [c["intact"] for c in answer["checkpoints"]] == [True]  # the backed-up checkpoint holds
        at_backup = digests(original, tmp_path / "original", at=int(str(manifest["last_position"])))
        assert digests(fresh, tmp_path / "fresh") == at_backup
        assert digests(original, tmp_path / "now") != at_backup  # the writes after it do count
        assert f"{manifest['photos']} photos" in restored.stdout
        again_photo = await opened(d, server.url, tmp_path / "fresh" / "photos", household, photo)
        assert again_photo is not None, "the resident's photo opens in the restored system"
        assert hashlib.sha256(again_photo).hexdigest() == photo["sha256"]
    finally:
        server.stop()

    kept = next(p for p in (tmp_path / "backup" / PHOTOS).rglob("*") if p.is_file())
    kept.write_bytes(kept.read_bytes()[:-1] + b"!")  # one byte of a sealed photo changed
    spoilt = fourlinks(fresh, "restore", "--from", str(tmp_path / "backup"))
    assert (spoilt.returncode, "does not match" in spoilt.stderr) == (1, True), spoilt.stderr

    events = tmp_path / "backup" / "events.jsonl"
    events.write_text(events.read_text().replace('"position": 1,', '"position": 1, ', 1))
    changed = fourlinks(fresh, "restore", "--from", str(tmp_path / "backup"))
    assert (changed.returncode, "SHA-256" in changed.stderr) == (1, True), changed.stderr


async def test_a_restore_refuses_a_stream_that_holds_other_events(district: District, tmp_path: Path) -> None:
    d = district
    await a_problem_assigned(d)
    original = env_for(d, d.settings.nats_url, tmp_path / "original")
    assert fourlinks(original, "backup", "--out", str(tmp_path / "backup")).returncode == 0
    server = start_nats(tmp_path / "other-nats")
    try:
        other = env_for(d, server.url, tmp_path / "other")
        assert fourlinks(other, "nats", "init", "--monitor-url", server.monitor_url).returncode == 0
        nc = await nats.connect(server.url)
        try:
            second = list(itertools.islice(_lines(tmp_path / "backup" / EVENTS), 2))[1]
            await publish_batch(nc, [_message(second)], expect_last=0)  # not the backup's first event
        finally:
            await nc.close()
        refused = fourlinks(other, "restore", "--from", str(tmp_path / "backup"))
        assert (refused.returncode, "not an interrupted restore" in refused.stderr) == (1, True), (
            refused.stderr
        )
    finally:
        server.stop()


async def test_scheduled_backups_are_whole_and_only_the_newest_stay(
    district: District, tmp_path: Path
) -> None:
    d = district
    _, resident, leak, _ = await a_problem_assigned(d)
    household = (await d.get(d.feedback, f"/feedback/{leak['id']}", resident))["household_id"]
    await a_photo_sent_with_feedback(d, household)
    env = env_for(d, d.settings.nats_url, tmp_path / "var", kept_photos(d))
    into = tmp_path / "backups"
    (into / "20200101T000000Z.partial").mkdir(parents=True)  # what a crash left long ago
    made = []
    for _ in range(3):
        saved = fourlinks(env, "backup", "--into", str(into), "--keep", "2")
        assert saved.returncode == 0, saved.stderr
        made.append(saved.stdout.strip().rsplit(" ", 1)[-1])
        await asyncio.sleep(1.05)  # one backup a second at most: each is named by its second
    assert sorted(p.name for p in into.iterdir()) == sorted(Path(m).name for m in made[1:])
    assert all((Path(m) / "manifest.json").exists() for m in made[1:])
    copies = [sorted(p for p in (Path(m) / PHOTOS).rglob("*") if p.is_file()) for m in made[1:]]
    assert copies[0], "the photo is in the backups"
    assert [p.relative_to(made[1]) for p in copies[0]] == [p.relative_to(made[2]) for p in copies[1]]
    # Each photo is copied once and linked by the backups after it: the first copy outlived the
    # backup that made it (pruned) and is the very file both kept backups hold.
    assert all(p.stat().st_nlink == 2 for p in copies[1])
    assert [p.stat().st_ino for p in copies[0]] == [p.stat().st_ino for p in copies[1]]
    refused = fourlinks(env, "backup", "--into", str(into), "--keep", "0")
    assert (refused.returncode, "--keep must be at least 1" in refused.stderr) == (2, True)
