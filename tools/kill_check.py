"""The kill check of the embedded system, as an operator would run it: commands flow through a
fresh `fourlinks up` while nats-server and then each service is SIGKILLed; prints how long each
took to come back and whether every acknowledged command is still there.

    .venv/bin/python tools/kill_check.py            # a throwaway var dir under /tmp

tests/test_supervision.py runs the same scenario and checks behaviour, never times.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

UP = [sys.executable, "-m", "fourlinks_cli", "up"]


@dataclass
class Embedded:
    """A running `fourlinks up` and where its parts are."""

    process: subprocess.Popen[str]
    var_dir: Path
    log: Path

    @property
    def state(self) -> dict[str, object]:
        loaded: dict[str, object] = json.loads((self.var_dir / "up.json").read_text())
        return loaded

    def pid(self, child: str) -> int:
        pids = self.state["pids"]
        assert isinstance(pids, dict)
        return int(pids[child])

    def url(self, service: str) -> str:
        services = self.state["services"]
        assert isinstance(services, dict)
        return f"http://127.0.0.1:{services[service]}"

    def token(self, *roles: str) -> str:
        command = [sys.executable, "-m", "fourlinks_cli", "token", "--scope", "yuhang"]
        for role in roles:
            command += ["--role", role]
        env = {**os.environ, "FOURLINKS_VAR_DIR": str(self.var_dir)}
        return subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout.strip()

    def stop(self) -> int:
        """Ctrl-C as a terminal sends it."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
        return self.process.wait(timeout=90)


def start(var_dir: Path, *, env: dict[str, str] | None = None, banner_seconds: float = 120) -> Embedded:
    """`fourlinks up` without the seed, once its banner shows (or it exits)."""
    var_dir.mkdir(parents=True, exist_ok=True)
    log = var_dir.parent / f"{var_dir.name}-up.log"
    process = subprocess.Popen(
        [*UP, "--var-dir", str(var_dir)],
        stdout=log.open("a"),
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "FOURLINKS_SKIP_SEED": "1", "FOURLINKS_LOG_LEVEL": "WARNING", **(env or {})},
        start_new_session=True,
    )
    deadline = time.monotonic() + banner_seconds
    while "Ctrl-C stops everything" not in log.read_text() and process.poll() is None:
        if time.monotonic() > deadline:
            break
        time.sleep(0.2)
    return Embedded(process, var_dir, log)


@dataclass
class Load:
    """Commands at a steady rate, each retried with its Idempotency-Key until it is answered."""

    embedded: Embedded
    per_second: float = 20.0
    acknowledged: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    successes: list[float] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        headers = {"Authorization": f"Bearer {self.embedded.token('administrator')}"}
        n = 0
        with httpx.Client(timeout=5) as client:
            while not self.stopping.is_set():
                n += 1
                self._one(client, headers, n)
                time.sleep(1 / self.per_second)

    def _one(self, client: httpx.Client, headers: dict[str, str], n: int) -> None:
        body = {"code": f"k{n:05d}", "name": f"街道{n}", "level": "street", "parent_path": "yuhang"}
        keyed = {**headers, "Idempotency-Key": f"kill-check-{n:06d}"}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not self.stopping.is_set():
            try:
                reply = client.post(f"{self.embedded.url('members')}/org-units", json=body, headers=keyed)
            except httpx.TransportError:
                time.sleep(0.1)
                continue
            if reply.status_code in (201, 200):
                self.acknowledged.append(f"yuhang/k{n:05d}")
                self.successes.append(time.monotonic())
                return
            if reply.status_code not in (409, 503):
                self.refused.append(f"{reply.status_code} {reply.text[:100]}")
                return
            time.sleep(0.1)


def district_root(embedded: Embedded) -> None:
    """The district the load creates streets in."""
    headers = {"Authorization": f"Bearer {embedded.token('administrator')}"}
    body = {"code": "yuhang", "name": "余杭区", "level": "district"}
    reply = httpx.post(f"{embedded.url('members')}/org-units", json=body, headers=headers, timeout=10)
    assert reply.status_code == 201, reply.text


def kill(embedded: Embedded, child: str, load: Load) -> tuple[float, float]:
    """SIGKILL a child; seconds until it is back (its pid changed, services ready) and until the
    first command acknowledged after the kill."""
    old = embedded.pid(child)
    killed = time.monotonic()
    os.kill(old, signal.SIGKILL)
    back = _until(lambda: _back(embedded, child, old))
    _until(lambda: any(t > killed for t in load.successes))
    return back - killed, min(t for t in load.successes if t > killed) - killed


def _back(embedded: Embedded, child: str, old: int) -> bool:
    if embedded.pid(child) == old:
        return False
    services = ["members", "assignments", "feedback"] if child == "nats" else [child]
    for service in services:
        try:
            if httpx.get(f"{embedded.url(service)}/health/ready", timeout=1).status_code != 200:
                return False
        except httpx.TransportError:
            return False
    return True


def _until(check: object, timeout: float = 90.0) -> float:
    assert callable(check)
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("did not come back in time")
        time.sleep(0.05)
    return time.monotonic()


def missing_after(embedded: Embedded, load: Load) -> list[str]:
    """Acknowledged streets that the read model does not show."""
    headers = {"Authorization": f"Bearer {embedded.token('administrator')}"}
    deadline = time.monotonic() + 30
    while True:
        listed = httpx.get(
            f"{embedded.url('members')}/org-units", params={"unit": "yuhang"}, headers=headers, timeout=10
        )
        paths = {unit["path"] for unit in listed.json()}
        missing = [path for path in load.acknowledged if path not in paths]
        if not missing or time.monotonic() > deadline:
            return missing
        time.sleep(0.5)


def main() -> int:
    """Run the kill check once and print its figures."""
    with tempfile.TemporaryDirectory(prefix="fourlinks-kill-") as scratch:
        embedded = start(Path(scratch) / "var")
        district_root(embedded)
        load = Load(embedded)
        feeder = threading.Thread(target=load.run, daemon=True)
        feeder.start()
        time.sleep(3)
        try:
            for child in ("nats", "members", "assignments", "feedback", "nats"):
                back, served = kill(embedded, child, load)
                print(
                    f"{child:<12} SIGKILL: back in {back:5.2f} s; next acknowledged command {served:5.2f} s"
                )
                time.sleep(2)
        finally:
            load.stopping.set()
            feeder.join(timeout=90)
        missing = missing_after(embedded, load)
        counts = f"{len(load.acknowledged)} commands acknowledged, {len(missing)} missing"
        print(f"{counts}, refused: {load.refused[:3]}")
        print(f"fourlinks up exited with {embedded.stop()}")
    return 0 if not missing else 1


if __name__ == "__main__":
    raise SystemExit(main())
