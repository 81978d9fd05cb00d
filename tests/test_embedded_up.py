"""`make up` end to end: the pinned nats-server and three services on SQLite, stopped with Ctrl-C,
started again with the data kept."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

UP = [sys.executable, "-m", "fourlinks_runtime", "up"]


def start(var_dir: Path) -> tuple[subprocess.Popen[str], dict[str, str]]:
    process = subprocess.Popen(
        [*UP, "--var-dir", str(var_dir)],
        stdout=subprocess.PIPE,
        stderr=(var_dir.parent / "up.log").open("ab"),
        text=True,
        env={**os.environ, "FOURLINKS_LOG_LEVEL": "WARNING"},
    )
    assert process.stdout is not None
    urls: dict[str, str] = {}
    deadline = time.monotonic() + 60
    for line in process.stdout:
        found = re.match(r"\s+(\w+)\s+API (http://\S+)", line)
        if found:
            urls[found[1]] = found[2]
        if "Ctrl-C stops everything" in line or time.monotonic() > deadline:
            break
    return process, urls


def wait_ready(url: str) -> httpx.Response:
    deadline = time.monotonic() + 60
    while True:
        try:
            reply = httpx.get(f"{url}/health/ready", timeout=2)
            if reply.status_code == 200 or time.monotonic() > deadline:
                return reply
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.2)


def token(var_dir: Path) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "fourlinks_runtime", "token", "--role", "administrator", "--scope", "yuhang"],
        env={**os.environ, "FOURLINKS_VAR_DIR": str(var_dir)},
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


def stop(process: subprocess.Popen[str]) -> int:
    process.send_signal(signal.SIGINT)
    code = process.wait(timeout=60)
    if code != 0:  # say why: the tail of what `make up` and its services wrote
        log = Path(str(list(process.args)[-1])).parent / "up.log"  # type: ignore[arg-type]
        sys.stdout.write(log.read_text(errors="replace")[-4000:] if log.exists() else "no log")
    return code


def coverage(url: str, var_dir: Path) -> dict[str, object]:
    headers = {"Authorization": f"Bearer {token(var_dir)}"}
    deadline = time.monotonic() + 60
    while True:
        answer = httpx.get(f"{url}/coverage", headers=headers, timeout=10)
        reply = answer.json()
        if answer.status_code == 200 and reply["households"]["total"] == 500:
            return dict(reply)
        assert time.monotonic() < deadline, (
            f"coverage never showed the seeded district: {answer.status_code} {reply}"
        )
        time.sleep(0.2)


def test_make_up_runs_everything_seeds_once_stops_cleanly_and_keeps_the_data(tmp_path: Path) -> None:
    var_dir = tmp_path / "var"
    process, urls = start(var_dir)
    try:
        assert set(urls) == {"members", "assignments", "feedback"}
        for url in urls.values():
            assert wait_ready(url).status_code == 200
        first = coverage(urls["members"], var_dir)
        assert first["households"]["total"] == 500  # type: ignore[index]
        headers = {"Authorization": f"Bearer {token(var_dir)}"}
        created = httpx.post(
            f"{urls['members']}/org-units",
            json={"code": "extra", "name": "新建社区", "level": "community", "parent_path": "yuhang/s01"},
            headers=headers,
            timeout=10,
        )
        assert created.status_code == 201, created.text
    finally:
        assert stop(process) == 0
    assert (var_dir / "members.db").exists()
    assert (var_dir / "seeded").exists()

    again, urls = start(var_dir)
    try:
        wait_ready(urls["members"])
        assert coverage(urls["members"], var_dir) == first
        headers = {"Authorization": f"Bearer {token(var_dir)}"}
        listed = httpx.get(
            f"{urls['members']}/org-units", params={"unit": "yuhang/s01/extra"}, headers=headers, timeout=10
        )
        assert [u["path"] for u in listed.json()] == ["yuhang/s01/extra"]
    finally:
        assert stop(again) == 0
