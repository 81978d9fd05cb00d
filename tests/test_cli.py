"""The `fourlinks` command as an operator runs it."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from conftest import TEST_MASTER_KEY
from sqlalchemy import create_engine

from fourlinks_audit.consumers import durable_consumers
from fourlinks_kernel.projection import bookkeeping, checkpoints
from fourlinks_kernel.provisioning import ensure_consumers
from fourlinks_runtime.embedded import NatsEndpoint
from fourlinks_runtime.natsconn import connect
from fourlinks_runtime.settings import Settings


def fourlinks(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fourlinks_cli", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_nats_init_creates_the_stream_and_the_key_bucket_once_and_no_durable_consumer(
    nats_server: NatsEndpoint,
) -> None:
    env = {
        "FOURLINKS_NATS_URL": nats_server.url,
        "FOURLINKS_STREAM": "CLI_EVENTS",
        "FOURLINKS_SUBJECT_PREFIX": "cli",
        "FOURLINKS_KEY_BUCKET": "CLI_KEYS",
        "FOURLINKS_LOG_LEVEL": "WARNING",
    }
    first = fourlinks("nats", "init", "--monitor-url", nats_server.monitor_url, "--consumers", env=env)
    assert first.returncode == 0, first.stderr
    assert "created stream CLI_EVENTS" in first.stdout
    assert "no durable consumer created" in first.stdout  # an older manifest's flag still runs
    again = fourlinks("nats", "init", "--monitor-url", nats_server.monitor_url, env=env)
    assert "verified stream CLI_EVENTS" in again.stdout, again.stdout
    assert "consumer" not in again.stdout
    refused = fourlinks("nats", "init", env=env)
    assert refused.returncode == 1
    assert "cannot verify sync_interval" in refused.stderr


async def older_release_consumers(settings: Settings) -> None:
    """Every policy's durable consumer, as `nats init --consumers` made them before."""
    nc = await connect(settings, name="older-release")
    try:
        await ensure_consumers(nc, settings.stream, durable_consumers(settings))
    finally:
        await nc.close()


def a_started_policy(settings: Settings, service: str, checkpoint: str) -> None:
    """The service's read model holds the policy's own checkpoint: it has started from it."""
    engine = create_engine(f"sqlite:///{settings.var_dir / service}.db")
    with engine.begin() as conn:
        bookkeeping.create_all(conn)
        conn.execute(
            checkpoints.insert().values(name=checkpoint, version=2, position=0, updated_at=datetime.now(UTC))
        )
    engine.dispose()


def test_old_policy_consumers_are_deleted_once_their_policies_started_from_their_own_checkpoints(
    nats_server: NatsEndpoint, tmp_path: Path
) -> None:
    env = {
        "FOURLINKS_NATS_URL": nats_server.url,
        "FOURLINKS_STREAM": "CLI_OLD_EVENTS",
        "FOURLINKS_SUBJECT_PREFIX": "cliold",
        "FOURLINKS_KEY_BUCKET": "CLI_OLD_KEYS",
        "FOURLINKS_VAR_DIR": str(tmp_path),
        "FOURLINKS_LOG_LEVEL": "WARNING",
    }
    made = fourlinks("nats", "init", "--monitor-url", nats_server.monitor_url, env=env)
    assert made.returncode == 0, made.stderr
    settings = Settings(
        nats_url=nats_server.url, stream="CLI_OLD_EVENTS", subject_prefix="cliold", var_dir=tmp_path
    )
    asyncio.run(older_release_consumers(settings))
    a_started_policy(settings, "feedback", "policy:callback-on-closure-v2")

    dropped = fourlinks("nats", "drop-policy-consumers", env=env)
    assert dropped.returncode == 1, dropped.stderr  # some are kept: their policies have not started
    assert "deleted consumer feedback-callback-on-closure-v2" in dropped.stdout
    assert "kept consumer assignments-raise-from-feedback-v2" in dropped.stdout
    forced = fourlinks("nats", "drop-policy-consumers", "--force", env=env)
    assert forced.returncode == 0, forced.stderr
    assert "deleted consumer assignments-raise-from-feedback-v2" in forced.stdout
    assert "feedback-callback-on-closure-v2" not in forced.stdout
    none_left = fourlinks("nats", "drop-policy-consumers", env=env)
    assert none_left.returncode == 0
    assert "no policy's durable consumer is left on CLI_OLD_EVENTS" in none_left.stdout


def test_commands_without_their_arguments_say_what_is_missing() -> None:
    result = fourlinks("token", "--role", "secretary", env={})
    assert result.returncode == 2
    assert "--scope" in result.stderr


def test_expected_conditions_end_in_one_line_never_a_traceback(tmp_path: Path) -> None:
    away = {
        "FOURLINKS_VAR_DIR": str(tmp_path),
        "FOURLINKS_NATS_URL": "nats://127.0.0.1:9",
        "FOURLINKS_LOG_LEVEL": "WARNING",
    }
    for args, says, code in [
        (("audit", "verify"), "cannot reach NATS at nats://127.0.0.1:9", 2),  # 2: could not run (1: findings)
        (("token", "--role", "secretary", "--scope", "yuhang"), "no token secret", 1),
        (("seed", "--scale", "0.01"), "cannot reach NATS", 1),
    ]:
        answer = fourlinks(*args, env=away)
        assert answer.returncode == code, answer
        assert "Traceback" not in answer.stderr
        assert says in answer.stderr
        assert len(answer.stderr.strip().splitlines()) == 1, answer.stderr


def test_commands_find_the_nats_of_a_running_make_up_through_its_state_file(
    nats_server: NatsEndpoint, tmp_path: Path
) -> None:
    port = int(nats_server.url.rsplit(":", 1)[1])
    monitor = int(nats_server.monitor_url.rsplit(":", 1)[1])
    (tmp_path / "up.json").write_text(
        json.dumps({"pid": os.getpid(), "nats_port": port, "monitor_port": monitor})
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOURLINKS_")}
    env |= {
        "FOURLINKS_VAR_DIR": str(tmp_path),
        "FOURLINKS_LOG_LEVEL": "WARNING",
        "FOURLINKS_STREAM": "FOUND_EVENTS",
        "FOURLINKS_SUBJECT_PREFIX": "found",
        "FOURLINKS_KEY_BUCKET": "FOUND_KEYS",
        "FOURLINKS_IDEMPOTENCY_BUCKET": "FOUND_IDEMPOTENCY",
        "FOURLINKS_MASTER_KEY": TEST_MASTER_KEY,
    }
    for args, says in [(("nats", "init"), "created stream FOUND_EVENTS"), (("audit", "verify"), "intact")]:
        answer = subprocess.run(
            [sys.executable, "-m", "fourlinks_cli", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert answer.returncode == 0, answer.stderr
        assert says in answer.stdout


def test_nats_init_with_an_unreachable_monitor_or_a_stale_state_file_says_so_in_one_line(
    nats_server: NatsEndpoint, tmp_path: Path
) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # a pid that no longer runs: the state file of a `make up` that has stopped
    (tmp_path / "up.json").write_text(json.dumps({"pid": dead.pid, "nats_port": 9, "monitor_port": 9}))
    env = {
        "FOURLINKS_VAR_DIR": str(tmp_path),
        "FOURLINKS_NATS_URL": nats_server.url,
        "FOURLINKS_STREAM": "STALE_EVENTS",
        "FOURLINKS_SUBJECT_PREFIX": "stale",
        "FOURLINKS_KEY_BUCKET": "STALE_KEYS",
        "FOURLINKS_LOG_LEVEL": "WARNING",
    }
    stale = fourlinks("nats", "init", env=env)
    unreachable = fourlinks("nats", "init", "--monitor-url", "http://127.0.0.1:9", env=env)
    for answer, says in [
        (stale, "cannot verify sync_interval: always without --monitor-url"),
        (unreachable, "cannot read the NATS monitor at http://127.0.0.1:9/varz"),
    ]:
        assert answer.returncode == 1, answer
        assert "Traceback" not in answer.stderr
        assert says in answer.stderr
        assert len(answer.stderr.strip().splitlines()) == 1, answer.stderr


def test_an_import_with_the_members_service_away_or_an_unreadable_file_says_so_in_one_line(
    tmp_path: Path,
) -> None:
    roster = tmp_path / "党员.csv"
    roster.write_text("姓名,手机,所在单位,党支部\n张建国,13912345678,3幢,星河第一支部\n", encoding="utf-8")
    broken = tmp_path / "名册.xlsx"
    broken.write_bytes(b"PK\x03\x04 not a workbook at all")
    env = {
        "FOURLINKS_VAR_DIR": str(tmp_path),
        "FOURLINKS_JWT_SECRET": "a-secret-for-signing-tokens-in-this-test-only",
        "FOURLINKS_CONSOLE_MEMBERS_URL": "http://127.0.0.1:9",
        "FOURLINKS_LOG_LEVEL": "WARNING",
    }
    for args, says in [
        (("import", str(roster)), "is not answering"),
        (("import", str(broken), "--dry-run"), "无法读取这个文件"),
    ]:
        answer = fourlinks(*args, env=env)
        assert answer.returncode == 1, answer
        assert "Traceback" not in answer.stderr
        assert says in answer.stderr
        assert len(answer.stderr.strip().splitlines()) == 1, answer.stderr
