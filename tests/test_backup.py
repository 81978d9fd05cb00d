"""The restore drill: a district's events, key table and signed checkpoints backed up, restored into a
fresh nats-server, and the restored log verifies, keeps every position and gives read models equal to
the original's; a changed backup, a non-empty stream or another master key are refused."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import District, a_problem_assigned

from fourlinks_audit.notes import SignerKey
from fourlinks_runtime.embedded import start_nats

KEY = SignerKey.generate("fourlinks-drill")
SERVICES = ("members", "assignments", "feedback")


def fourlinks(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "fourlinks_cli", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)


def env_for(d: District, nats_url: str, var_dir: Path) -> dict[str, str]:
    """The commands' settings: the district's stream and buckets on a server, a var/ of their own."""
    s = d.settings
    assert s.master_key is not None
    return {
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


def digests(env: dict[str, str], where: Path) -> dict[str, str]:
    """Each service's read models rebuilt from the log, and their digest."""
    found = {}
    for service in SERVICES:
        url = f"sqlite:///{where / service}.db"
        rebuilt = fourlinks(env, "replay", "rebuild", service, "--database-url", url)
        assert rebuilt.returncode == 0, rebuilt.stderr
        digest = fourlinks(env, "audit", "digest", service, "--database-url", url)
        found[service] = digest.stdout.strip().splitlines()[-1]
    return found


async def test_a_backup_restores_into_a_fresh_server_with_the_same_history(
    district: District, tmp_path: Path
) -> None:
    d = district
    await a_problem_assigned(d)  # people, a card, a resident's problem and its task
    original = env_for(d, d.settings.nats_url, tmp_path / "original")
    assert fourlinks(original, "audit", "checkpoint").returncode == 0
    saved = fourlinks(original, "backup", "--out", str(tmp_path / "backup"))
    assert saved.returncode == 0, saved.stderr
    manifest = json.loads((tmp_path / "backup" / "manifest.json").read_text())
    assert manifest["checkpoints"] == 1
    assert manifest["keys"] >= 1
    assert 'master_key"' not in json.dumps(manifest)  # a fingerprint, never the key

    server = start_nats(tmp_path / "fresh-nats")
    try:
        fresh = env_for(d, server.url, tmp_path / "fresh")
        init = fourlinks(fresh, "nats", "init", "--monitor-url", server.monitor_url)
        assert init.returncode == 0, init.stderr
        other_key = {**fresh, "FOURLINKS_MASTER_KEY": "b3RoZXIta2V5LW9mLXRoaXJ0eS10d28tYnl0ZXMtISE="}
        refused = fourlinks(other_key, "restore", "--from", str(tmp_path / "backup"))
        assert (refused.returncode, "master key" in refused.stderr) == (1, True), refused.stderr
        restored = fourlinks(fresh, "restore", "--from", str(tmp_path / "backup"))
        assert restored.returncode == 0, restored.stderr
        again = fourlinks(fresh, "restore", "--from", str(tmp_path / "backup"))
        assert (again.returncode, "not empty" in again.stderr) == (1, True), again.stderr
        verified = fourlinks(fresh, "audit", "verify", "--json")
        assert verified.returncode == 0, verified.stdout + verified.stderr
        answer = json.loads(verified.stdout)
        assert answer["events"] == manifest["events"] == manifest["last_position"]
        assert [c["intact"] for c in answer["checkpoints"]] == [True]  # the backed-up checkpoint holds
        assert digests(fresh, tmp_path / "fresh") == digests(original, tmp_path / "original")
    finally:
        server.stop()

    events = tmp_path / "backup" / "events.jsonl"
    events.write_text(events.read_text().replace('"position": 1,', '"position": 1, ', 1))
    changed = fourlinks(fresh, "restore", "--from", str(tmp_path / "backup"))
    assert (changed.returncode, "SHA-256" in changed.stderr) == (1, True), changed.stderr
