"""`fourlinks-serve SERVICE --workers N`: N HTTP API processes beside one worker process; a client
reads its own writes whichever process answers, and stopping the service stops them all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from conftest import TEST_JWT_SECRET, TEST_MASTER_KEY, bearer

from fourlinks_cli.up import api_workers
from fourlinks_kernel.jetstream import JetStreamSettings
from fourlinks_runtime.embedded import NatsEndpoint
from fourlinks_runtime.settings import Settings
from fourlinks_runtime.upstate import free_port


def children_of(pid: int) -> set[int]:
    """Every process below `pid`."""
    found: set[int] = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if parent == pid:
                found |= {int(entry.name)} | children_of(int(entry.name))
    return found


def wait_ready(url: str, serving: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert serving.poll() is None, log.read_text()[-3000:]
        try:
            if httpx.get(f"{url}/health/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"not ready: {log.read_text()[-3000:]}")


def test_api_processes_beside_one_worker_read_their_own_writes_and_stop_together(
    nats_server: NatsEndpoint, jetstream_settings: JetStreamSettings, tmp_path: Path
) -> None:
    js = jetstream_settings
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOURLINKS_")}
    env |= {
        "FOURLINKS_NATS_URL": nats_server.url,
        "FOURLINKS_STREAM": js.stream,
        "FOURLINKS_SUBJECT_PREFIX": js.prefix,
        "FOURLINKS_KEY_BUCKET": js.key_bucket,
        "FOURLINKS_IDEMPOTENCY_BUCKET": js.idempotency_bucket,
        "FOURLINKS_VAR_DIR": str(tmp_path),
        "FOURLINKS_MASTER_KEY": TEST_MASTER_KEY,
        "FOURLINKS_JWT_SECRET": TEST_JWT_SECRET,
        "FOURLINKS_LOG_LEVEL": "WARNING",
    }
    port, log = free_port(), tmp_path / "serve.log"
    command = [sys.executable, "-m", "fourlinks_runtime.serve", "members", "--port", str(port)]
    with log.open("wb") as output:
        serving = subprocess.Popen([*command, "--workers", "2"], env=env, stdout=output, stderr=output)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, serving, log)
        processes = children_of(serving.pid)
        assert len(processes) >= 3, processes  # two API processes and the worker (at least)
        admin = bearer(Settings(jwt_secret=TEST_JWT_SECRET), "administrator", scope="yuhang")
        body = {"code": "yuhang", "name": "余杭区", "level": "district"}
        created = httpx.post(f"{url}/org-units", json=body, headers=admin, timeout=10)
        assert created.status_code == 201, created.text
        for n in range(8):  # new connections, spread over the API processes by the kernel
            body = {"code": f"s{n}", "name": f"街道{n}", "level": "street", "parent_path": "yuhang"}
            street = httpx.post(f"{url}/org-units", json=body, headers=admin, timeout=10).json()
            headers = {**admin, "X-Min-Position": str(street["position"])}
            read = httpx.get(f"{url}/org-units/{street['id']}", headers=headers, timeout=10)
            assert read.status_code == 200, read.text  # written by the worker, read by any
            assert read.json()["name"] == f"街道{n}"
    finally:
        serving.send_signal(signal.SIGTERM)
        serving.wait(timeout=30)
    deadline = time.monotonic() + 15
    while any(Path(f"/proc/{pid}").exists() for pid in processes) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [pid for pid in processes if _alive(pid)], "a process outlived the service"


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_make_up_runs_the_api_processes_that_fit_the_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert api_workers({}) == 1  # two cores: one process does everything
    monkeypatch.setattr(os, "cpu_count", lambda: 16)
    assert api_workers({}) == 4
    assert api_workers({"FOURLINKS_API_WORKERS": "3"}) == 3
    with pytest.raises(SystemExit, match="whole number"):
        api_workers({"FOURLINKS_API_WORKERS": "three"})
