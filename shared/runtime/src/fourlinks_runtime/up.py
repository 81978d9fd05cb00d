"""`fourlinks up`: the embedded system on this machine (pinned nats-server + three services).

One `up` per var dir (a lock); the ports of the first start are kept in var/up.json and reused
while free; the banner is printed only when every service answers ready; Ctrl-C stops the
services first and NATS last, without a traceback from anyone.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from fourlinks_kernel.crypto import generate_master_key
from fourlinks_runtime.embedded import EmbeddedNats, start_nats
from fourlinks_runtime.upstate import UpState, free_port, hold_lock, port_is_free, read_state, write_state

SERVICES = {"members": 8101, "assignments": 8102, "feedback": 8103}
READY_SECONDS = 180.0


def run_up(var_dir: Path) -> int:
    """Run everything until Ctrl-C or SIGTERM; 1 if it cannot start or a service dies."""
    var_dir.mkdir(parents=True, exist_ok=True)
    lock = hold_lock(var_dir)
    if lock is None:
        _say_already_running(var_dir)
        return 1
    _secret_file(var_dir / "master.key", generate_master_key())
    _secret_file(var_dir / "jwt.secret", secrets.token_urlsafe(48))
    stopping: list[bool] = []
    signal.signal(signal.SIGINT, lambda *_: stopping.append(True))
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    previous = read_state(var_dir)
    server = _start_nats(var_dir, previous)
    state = UpState(os.getpid(), _port_of(server.url), _port_of(server.monitor_url), {})
    env = {**os.environ, "FOURLINKS_NATS_URL": server.url, "FOURLINKS_VAR_DIR": str(var_dir)}
    children: dict[str, subprocess.Popen[bytes]] = {}
    try:
        _command(["nats", "init", "--monitor-url", server.monitor_url], env)
        for name, default in SERVICES.items():
            state.services[name] = _keep_port(
                name, previous.services.get(name) if previous else None, default
            )
            children[name] = _serve(name, state.services[name], env)
        write_state(var_dir, state)
        _seed_first_time(var_dir, env)
        if not _wait_ready(state, children, stopping):
            return 0 if stopping else 1
        _banner(state, var_dir)
        return _watch(children, stopping)
    finally:
        _stop(children, server)
        lock.close()


def _say_already_running(var_dir: Path) -> None:
    state = read_state(var_dir)
    where = f" (pid {state.pid}, NATS at {state.nats_url})" if state else ""
    print(
        f"Four Links is already running on {var_dir}{where}: stop it first (Ctrl-C in its terminal).",
        file=sys.stderr,
    )


def _start_nats(var_dir: Path, previous: UpState | None) -> EmbeddedNats:
    port = _keep_port("nats", previous.nats_port if previous else None, None)
    monitor = _keep_port("nats monitoring", previous.monitor_port if previous else None, None)
    return start_nats(var_dir / "nats", port=port, monitor_port=monitor)


def _keep_port(name: str, kept: int | None, default: int | None) -> int:
    """The port used last time (or the default) while free; another one, said aloud, if taken."""
    wanted = kept or default
    if wanted is None:
        return free_port()
    if port_is_free(wanted):
        return wanted
    chosen = free_port()
    print(f"{name}: port {wanted} is taken; using {chosen} this time", flush=True)
    return chosen


def _port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def _command(arguments: list[str], env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "-m", "fourlinks_runtime", *arguments], env=env, check=True)


def _serve(name: str, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "fourlinks_runtime", "serve", name, "--port", str(port)]
    # A session of its own: Ctrl-C reaches only this supervisor, which stops the services in order.
    return subprocess.Popen(command, env=env, start_new_session=True)


def _seed_first_time(var_dir: Path, env: dict[str, str]) -> None:
    """The first `make up` loads a small district (scale 0.02) so there is something to look at."""
    marker = var_dir / "seeded"
    if marker.exists() or os.environ.get("FOURLINKS_SKIP_SEED") == "1":
        return
    seed = [sys.executable, "-m", "fourlinks_runtime", "seed", "--scale", "0.02"]
    if subprocess.run(seed, env=env, check=False).returncode == 0:
        marker.write_text("scale 0.02\n")


def _wait_ready(state: UpState, children: dict[str, subprocess.Popen[bytes]], stopping: list[bool]) -> bool:
    """Until every service answers ready; False if one exits or Ctrl-C comes first."""
    print("waiting for the services to be ready ...", flush=True)
    waiting = dict(state.services)
    deadline = time.monotonic() + READY_SECONDS
    while waiting and not stopping:
        for name, port in list(waiting.items()):
            if children[name].poll() is not None:
                print(f"{name} exited with {children[name].returncode} while starting", file=sys.stderr)
                return False
            if _ready(port):
                del waiting[name]
        if time.monotonic() > deadline:
            print(f"not ready after {READY_SECONDS:g} s: {', '.join(waiting)}", file=sys.stderr)
            return False
        time.sleep(0.2)
    return not stopping


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready", timeout=2) as reply:
            return bool(reply.status == 200)
    except OSError:
        return False


def _banner(state: UpState, var_dir: Path) -> None:
    print(f"\nFour Links is running. NATS: {state.nats_url} (data in {var_dir})")
    for name, port in state.services.items():
        url = f"http://127.0.0.1:{port}"
        print(f"  {name:<12} API {url}   docs {url}/docs   events {url}/asyncapi")
    print("A token for trying the API: ./fourlinks token --role secretary --scope yuhang")
    print("Ctrl-C stops everything; data stays in", var_dir, flush=True)


def _watch(children: dict[str, subprocess.Popen[bytes]], stopping: list[bool]) -> int:
    while not stopping:
        for name, child in children.items():
            if child.poll() is not None:
                print(f"{name} exited with {child.returncode}; stopping the others", file=sys.stderr)
                return 1
        time.sleep(0.3)
    return 0


def _stop(children: dict[str, subprocess.Popen[bytes]], server: EmbeddedNats) -> None:
    """Services first (they finish their work and close their connections), NATS last."""
    for child in children.values():
        if child.poll() is None:
            child.send_signal(signal.SIGINT)
    for child in children.values():
        _wait_or_kill(child.wait, child.kill)
    server.stop()
    print("stopped", flush=True)


def _wait_or_kill(wait: Callable[..., object], kill: Callable[[], None]) -> None:
    try:
        wait(timeout=20)
    except subprocess.TimeoutExpired:
        kill()


def _secret_file(path: Path, make: str) -> None:
    if not path.exists():
        path.write_text(make + "\n")
        path.chmod(0o600)
