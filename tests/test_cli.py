"""The `fourlinks` command as an operator runs it."""

from __future__ import annotations

import os
import subprocess
import sys

from fourlinks_runtime.embedded import NatsEndpoint


def fourlinks(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fourlinks_runtime", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_nats_init_creates_the_stream_the_key_bucket_and_every_durable_consumer_once(
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
    assert "created consumer assignments-raise-from-feedback-v1" in first.stdout
    assert "created consumer feedback-callback-on-closure-v1" in first.stdout
    again = fourlinks("nats", "init", "--monitor-url", nats_server.monitor_url, "--consumers", env=env)
    assert "verified consumer assignments-raise-from-feedback-v1" in again.stdout
    refused = fourlinks("nats", "init", env=env)
    assert refused.returncode == 1
    assert "cannot verify sync_interval" in refused.stderr


def test_commands_without_their_arguments_say_what_is_missing() -> None:
    result = fourlinks("token", "--role", "secretary", env={})
    assert result.returncode == 2
    assert "--scope" in result.stderr
