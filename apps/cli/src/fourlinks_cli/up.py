"""`fourlinks up`: the embedded system on this machine, supervised (pinned nats-server + three
services). Many districts run Four Links on one machine: this is their production.

One `up` per var dir (a lock). The ports of the first start are kept in var/up.json and reused
on every restart of a child and of `up` while free. A child that exits unexpectedly is restarted
with backoff and the others keep running; one that keeps crashing (more than
FOURLINKS_RESTART_LIMIT restarts in FOURLINKS_RESTART_WINDOW_SECONDS) stops everything, loudly,
naming it. Every change of a child's state is one status line. Ctrl-C or SIGTERM stop the services
first and NATS last, without a traceback from anyone.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from fourlinks_audit.notes import SignerKey
from fourlinks_console.serve import DEFAULT_PORT as CONSOLE_PORT
from fourlinks_kernel.crypto import generate_master_key
from fourlinks_runtime.embedded import start_nats
from fourlinks_runtime.serve import SERVICES
from fourlinks_runtime.settings import Settings
from fourlinks_runtime.upstate import UpState, free_port, hold_lock, port_is_free, read_state, write_state

LAST_LINES = 15
READY_POLL_SECONDS = 2.0


def api_workers(env: dict[str, str]) -> int:
    """HTTP API processes per service: FOURLINKS_API_WORKERS, or what fits the machine (one
    process doing everything below four cores: more processes would only take turns there)."""
    wanted = env.get("FOURLINKS_API_WORKERS", "").strip()
    if wanted:
        if not wanted.isdigit():
            raise SystemExit(f"FOURLINKS_API_WORKERS must be a whole number of processes, not {wanted!r}")
        return max(1, int(wanted))
    cores = os.cpu_count() or 1
    return 1 if cores < 4 else min(4, cores // 2)


class CrashLoop(Exception):
    """A child crashed more often than the restart limit allows."""


@dataclass
class Child:
    """One supervised process: how to start it, where its output goes, its recent restarts."""

    name: str
    launch: Callable[[], subprocess.Popen[bytes]]
    log: Path
    stop_signal: signal.Signals = signal.SIGINT
    process: subprocess.Popen[bytes] | None = None
    restarts: deque[float] = field(default_factory=deque)
    restart_at: float | None = None
    ready: bool | None = None

    def start(self) -> None:
        self.process = self.launch()
        self.restart_at = None

    def signal_stop(self) -> None:
        """Ask it to stop (once: a second SIGINT makes uvicorn quit without finishing its work)."""
        self.restart_at = None
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(self.stop_signal)

    def wait_stopped(self) -> None:
        """Wait for it to finish (20 s at most, then SIGKILL)."""
        if self.process is None:
            return
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@dataclass
class Supervisor:
    """Starts, watches and restarts the children; stops them in order."""

    var_dir: Path
    state: UpState
    env: dict[str, str]
    settings: Settings
    children: dict[str, Child] = field(default_factory=dict)

    # -- starting ---------------------------------------------------------------------------
    def start_nats(self) -> None:
        def launch() -> subprocess.Popen[bytes]:
            server = start_nats(
                self.var_dir / "nats", port=self.state.nats_port, monitor_port=self.state.monitor_port
            )
            return server.process

        child = Child("nats", launch, self.var_dir / "nats" / "nats-server.log", signal.SIGTERM)
        child.start()
        self.children["nats"] = child
        self._record_pids()

    def start_services(self) -> None:
        logs = self.var_dir / "logs"
        logs.mkdir(exist_ok=True)
        for name, port in self.state.services.items():
            child = Child(
                name, self._service_launcher(name, port, logs / f"{name}.log"), logs / f"{name}.log"
            )
            child.start()
            self.children[name] = child
        self._record_pids()

    def _service_launcher(self, name: str, port: int, log: Path) -> Callable[[], subprocess.Popen[bytes]]:
        command = [sys.executable, "-m", "fourlinks_runtime.serve", name, "--port", str(port)]
        command += ["--workers", str(api_workers(self.env))]

        def launch() -> subprocess.Popen[bytes]:
            with log.open("ab") as output:
                # A session of its own: Ctrl-C reaches only the supervisor, which stops in order.
                return subprocess.Popen(
                    command, env=self.env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
                )

        return launch

    def start_console(self) -> None:
        """The console, with the local sign-in page (this is the embedded system on one machine)."""
        if self.state.console is None:
            return
        log = self.var_dir / "logs" / "console.log"
        command = [sys.executable, "-m", "fourlinks_console", "--port", str(self.state.console)]
        urls = {
            f"FOURLINKS_CONSOLE_{name.upper()}_URL": f"http://127.0.0.1:{port}"
            for name, port in self.state.services.items()
        }
        if self.state.checkpoints is not None:
            urls["FOURLINKS_CONSOLE_AUDIT_URL"] = f"http://127.0.0.1:{self.state.checkpoints}"
        env = {"FOURLINKS_CONSOLE_LOCAL_SIGNIN": "1", **self.env, **urls}

        def launch() -> subprocess.Popen[bytes]:
            with log.open("ab") as output:
                return subprocess.Popen(
                    command, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
                )

        child = Child("console", launch, log)
        child.start()
        self.children["console"] = child
        self._record_pids()

    def start_checkpointer(self) -> None:
        """Signs a checkpoint of the log every FOURLINKS_CHECKPOINT_EVERY_EVENTS events or
        FOURLINKS_CHECKPOINT_EVERY_MINUTES (docs/audit.md), into var/checkpoints/."""
        log = self.var_dir / "logs" / "checkpoints.log"
        command = [sys.executable, "-m", "fourlinks_cli", "audit", "checkpoint", "--follow"]
        if self.state.checkpoints is not None:
            command += ["--port", str(self.state.checkpoints)]

        def launch() -> subprocess.Popen[bytes]:
            with log.open("ab") as output:
                return subprocess.Popen(
                    command, env=self.env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
                )

        child = Child("checkpoints", launch, log)
        child.start()
        self.children["checkpoints"] = child
        self._record_pids()

    # -- watching ---------------------------------------------------------------------------
    def run(self, stopping: list[bool]) -> int:
        """Until Ctrl-C (0) or a crash loop (1): restart what dies, report what changes."""
        announced = False
        next_poll = 0.0
        while not stopping:
            try:
                self._tend(time.monotonic())
            except CrashLoop as loop:
                print(f"\n{loop}", file=sys.stderr, flush=True)
                return 1
            if time.monotonic() >= next_poll:
                next_poll = time.monotonic() + READY_POLL_SECONDS
                self._poll_readiness(quiet=not announced)
                if not announced and all(self.children[n].ready for n in self.state.services):
                    announced = True
                    _banner(self.state, self.var_dir)
            time.sleep(0.1)
        return 0

    def _tend(self, now: float) -> None:
        for child in self.children.values():
            if child.restart_at is not None:
                if now >= child.restart_at:
                    self._restart(child, now)
                continue
            code = child.process.poll() if child.process else None
            if code is not None:
                self._died(child, code, now)

    def _restart(self, child: Child, now: float) -> None:
        try:
            child.start()
        except (RuntimeError, TimeoutError, OSError) as exc:  # nats-server that would not start
            _status(f"{child.name}: could not start: {exc}")
            self._died(child, 1, now)
            return
        self._record_pids()
        _status(f"{child.name}: restarted (pid {child.process.pid if child.process else '?'})")

    def _died(self, child: Child, code: int, now: float) -> None:
        window = self.settings.restart_window_seconds
        while child.restarts and now - child.restarts[0] > window:
            child.restarts.popleft()
        child.restarts.append(now)
        child.ready = False
        tail = _last_lines(child.log)
        if len(child.restarts) > self.settings.restart_limit:
            raise CrashLoop(
                f"{child.name} exited {len(child.restarts)} times in {window:g} s ({_how(code)}): giving up "
                f"and stopping everything. Its last lines ({child.log}):\n{tail}"
            )
        delay = min(0.5 * 2 ** (len(child.restarts) - 1), 15.0)
        child.restart_at = now + delay
        _status(f"{child.name}: exited ({_how(code)}); restarting in {delay:g} s. Its last lines:\n{tail}")

    def _poll_readiness(self, *, quiet: bool) -> None:
        for name in self.state.services:
            child = self.children[name]
            if child.restart_at is not None:
                continue
            ready, why = _readiness(self.state.services[name])
            if ready != child.ready and not quiet:
                _status(f"{name}: ready" if ready else f"{name}: not ready ({why})")
            child.ready = ready

    def _record_pids(self) -> None:
        self.state.pids = {n: c.process.pid for n, c in self.children.items() if c.process}
        write_state(self.var_dir, self.state)

    # -- stopping ---------------------------------------------------------------------------
    def stop_all(self) -> None:
        """Services first (they finish their work and close their connections), NATS last."""
        services = [c for n, c in self.children.items() if n != "nats"]
        for child in services:
            child.signal_stop()
        for child in services:
            child.wait_stopped()
        if "nats" in self.children:
            self.children["nats"].signal_stop()
            self.children["nats"].wait_stopped()
        print("stopped", flush=True)


def run_up(var_dir: Path) -> int:
    """Run everything until Ctrl-C or SIGTERM; 1 if it cannot start or a child crash-loops."""
    var_dir.mkdir(parents=True, exist_ok=True)
    lock = hold_lock(var_dir)
    if lock is None:
        _say_already_running(var_dir)
        return 1
    _secret_file(var_dir / "master.key", generate_master_key())
    _secret_file(var_dir / "jwt.secret", secrets.token_urlsafe(48))
    _secret_file(var_dir / "checkpoint.key", SignerKey.generate("fourlinks-checkpoints").encoded())
    stopping: list[bool] = []
    signal.signal(signal.SIGINT, lambda *_: stopping.append(True))
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    state = _addresses(var_dir, read_state(var_dir))
    env = {**os.environ, "FOURLINKS_NATS_URL": state.nats_url, "FOURLINKS_VAR_DIR": str(var_dir)}
    supervisor = Supervisor(var_dir, state, env, Settings())
    try:
        supervisor.start_nats()
        _command(["nats", "init", "--monitor-url", f"http://127.0.0.1:{state.monitor_port}"], env)
        supervisor.start_services()
        supervisor.start_console()
        supervisor.start_checkpointer()
        _seed_first_time(var_dir, env)
        print("waiting for the services to be ready ...", flush=True)
        return supervisor.run(stopping)
    finally:
        supervisor.stop_all()
        lock.close()


def _addresses(var_dir: Path, previous: UpState | None) -> UpState:
    """The ports of last time while free; others, said aloud, where taken."""
    services = {
        name: _keep_port(name, previous.services.get(name) if previous else None, default)
        for name, default in SERVICES.items()
    }
    return UpState(
        pid=os.getpid(),
        nats_port=_keep_port("nats", previous.nats_port if previous else None, None),
        monitor_port=_keep_port("nats monitoring", previous.monitor_port if previous else None, None),
        services=services,
        console=_keep_port("console", previous.console if previous else None, CONSOLE_PORT),
        checkpoints=_keep_port("checkpoints", previous.checkpoints if previous else None, None),
    )


def _say_already_running(var_dir: Path) -> None:
    state = read_state(var_dir)
    where = f" (pid {state.pid}, NATS at {state.nats_url})" if state else ""
    print(
        f"Four Links is already running on {var_dir}{where}: stop it first (Ctrl-C in its terminal).",
        file=sys.stderr,
    )


def _keep_port(name: str, kept: int | None, default: int | None) -> int:
    wanted = kept or default
    if wanted is None:
        return free_port()
    if port_is_free(wanted):
        return wanted
    chosen = free_port()
    print(f"{name}: port {wanted} is taken; using {chosen} this time", flush=True)
    return chosen


def _command(arguments: list[str], env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "-m", "fourlinks_cli", *arguments], env=env, check=True)


def _seed_first_time(var_dir: Path, env: dict[str, str]) -> None:
    """The first `make up` loads a small district (scale 0.02) so there is something to look at."""
    marker = var_dir / "seeded"
    if marker.exists() or os.environ.get("FOURLINKS_SKIP_SEED") == "1":
        return
    seed = [sys.executable, "-m", "fourlinks_cli", "seed", "--scale", "0.02"]
    if subprocess.run(seed, env=env, check=False).returncode == 0:
        marker.write_text("scale 0.02\n")


def _readiness(port: int) -> tuple[bool, str]:
    """Whether a service answers ready, and what it says is missing when not."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready", timeout=1) as reply:
            return reply.status == 200, ""
    except urllib.error.HTTPError as refused:
        try:
            missing = json.loads(refused.read()).get("missing") or []
        except ValueError:
            missing = []
        return False, "; ".join(missing) or f"HTTP {refused.code}"
    except OSError:
        return False, "not answering"


def _how(code: int) -> str:
    if code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exit code {code}"


def _last_lines(log: Path) -> str:
    try:
        lines = log.read_bytes()[-20_000:].decode("utf-8", "replace").splitlines()
    except OSError:
        return "  (no log)"
    return "\n".join(f"  | {line[:300]}" for line in lines[-LAST_LINES:]) or "  (empty log)"


def _status(line: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {line}", flush=True)


def _banner(state: UpState, var_dir: Path) -> None:
    print(f"\nFour Links is running. NATS: {state.nats_url} (data in {var_dir}, logs in {var_dir / 'logs'})")
    for name, port in state.services.items():
        url = f"http://127.0.0.1:{port}"
        print(f"  {name:<12} API {url}   docs {url}/docs   events {url}/asyncapi")
    if state.console is not None:
        console = f"http://127.0.0.1:{state.console}"
        print(f"  console      {console}   (local sign-in: choose a person of the district)")
    published = f"http://127.0.0.1:{state.checkpoints}/checkpoint   " if state.checkpoints else ""
    print(f"  checkpoints  {published}{var_dir / 'checkpoints'}   (verify: ./fourlinks audit verify)")
    print("A token for trying the API: ./fourlinks token --role secretary --scope yuhang")
    print("Ctrl-C stops everything; data stays in", var_dir, flush=True)


def _secret_file(path: Path, make: str) -> None:
    if not path.exists():
        path.write_text(make + "\n")
        path.chmod(0o600)
