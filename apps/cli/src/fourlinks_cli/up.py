"""`fourlinks up`: the embedded system on this machine, supervised (pinned nats-server + four
services, the console and the checkpointer). Many districts run Four Links on one machine: this is
their production.

One `up` per var dir (a lock). The ports of the first start are kept in var/up.json and reused
on every restart of a child and of `up` while free. A port is held (a listening socket of `up`)
from the moment it is chosen until its child is launched; a child that finds its port taken at its
first start (EADDRINUSE) gets another one, said aloud. Readiness is asked of our own processes
only: each child gets the run's instance id (FOURLINKS_UP_INSTANCE) and echoes it in
`/health/ready`; whoever else answers on a port is reported as such, never counted ready.

A child that exits unexpectedly is restarted with backoff and the others keep running; one that
keeps crashing (more than FOURLINKS_RESTART_LIMIT restarts in FOURLINKS_RESTART_WINDOW_SECONDS)
stops everything, loudly, naming it, with what it wrote. Every change of a child's state is one
status line, and a service that is not ready is named with the reason its `/health/ready` gives,
within seconds, from the first start on. Ctrl-C or SIGTERM stop the services first and NATS last,
without a traceback from anyone.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from fourlinks_cli.district_up import (
    DISTRICT_USERS,
    DistrictRole,
    checkpoint_signer,
    district_accounts,
    district_role,
    district_server_env,
    provision_district_uplink,
)
from fourlinks_cli.nats_accounts import render as render_accounts
from fourlinks_cli.nats_users import FOLDER, as_nats_user, move_unlocked_store, nats_users
from fourlinks_console.serve import DEFAULT_PORT as CONSOLE_PORT
from fourlinks_kernel.crypto import generate_master_key
from fourlinks_runtime.embedded import start_nats
from fourlinks_runtime.federation import UPLINK_USER
from fourlinks_runtime.serve import SERVICES
from fourlinks_runtime.settings import Settings
from fourlinks_runtime.signing_keys import ensure_signing_keys
from fourlinks_runtime.upstate import (
    INSTANCE_ENV,
    UpState,
    held_port,
    hold_lock,
    hold_port,
    listen_on,
    new_instance,
    read_state,
    write_state,
)

LAST_LINES = 15
READY_POLL_SECONDS = 2.0
STARTING_GRACE_SECONDS = 5.0
"""How long a launched service may stay silent on its port before `up` says it is not answering."""
RETELL_SECONDS = 10.0
"""A reason that only changed its figures (events behind ...) is told again at most this often."""
PORT_TAKEN = "address already in use"
ADDRESS_READERS = ("console", "uplink")
"""The children given the services' addresses when launched: relaunched when a service's port moves."""
MAX_PORT_MOVES = 3
UPLINK_EVERY_ENV = "FOURLINKS_UPLINK_EVERY_SECONDS"
"""How often a district's figures publisher looks for changed figures (default 30 s)."""
"""How often one child's port may move because another process took it before the child bound it."""


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
    was_ready: bool = False  # ready at least once in this run: its port is proven ours
    launched_at: float = 0.0
    log_offset: int = 0  # where this launch's output starts in its log
    told: str = ""  # the last reason for not being ready that was said aloud
    told_at: float = 0.0
    port_moves: int = 0

    def start(self) -> None:
        """Launch it, remembering where its output starts in its log."""
        self.log_offset = _size(self.log)
        self.launched_at = time.monotonic()
        self.process = self.launch()
        self.restart_at = None

    def output(self) -> str:
        """What this launch wrote to its log (the last 20 kB of it)."""
        try:
            with self.log.open("rb") as written:
                end = written.seek(0, os.SEEK_END)
                written.seek(max(self.log_offset, end - 20_000) if end >= self.log_offset else 0)
                return written.read().decode("utf-8", "replace")
        except OSError:
            return ""

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


LOCAL_CONSOLE = {"FOURLINKS_CONSOLE_LOCAL_SIGNIN": "1", "FOURLINKS_CONSOLE_ENVIRONMENT": "embedded"}
"""`make up`: the local sign-in page (the machine's own loopback, for trying the system)."""


@dataclass(frozen=True)
class NatsSetup:
    """What the supervised nats-server runs with: its accounts, what they read from the server's
    environment (passwords, a link's URL), its name and JetStream domain."""

    accounts: str
    env: dict[str, str]
    name: str = "fourlinks"
    domain: str | None = None


def system_nats(var_dir: Path, district: DistrictRole | None) -> NatsSetup:
    """A district's server: the system's accounts, and with a code its part in the federation."""
    if district is None:
        return NatsSetup(render_accounts(), nats_users(var_dir))
    passwords = nats_users(var_dir, DISTRICT_USERS)
    env = passwords | district_server_env(district)
    return NatsSetup(district_accounts(district), env, district.domain, district.domain)


def _runtime_serve(name: str, port: int, workers: int) -> list[str]:
    """A district service: `fourlinks_runtime.serve`."""
    return [
        sys.executable,
        "-m",
        "fourlinks_runtime.serve",
        name,
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]


@dataclass
class Supervisor:
    """Starts, watches and restarts the children; stops them in order."""

    var_dir: Path
    state: UpState
    env: dict[str, str]
    settings: Settings
    children: dict[str, Child] = field(default_factory=dict)
    held: dict[str, list[socket.socket]] = field(default_factory=dict)  # ports kept until launch
    console_env: dict[str, str] = field(default_factory=lambda: dict(LOCAL_CONSOLE))
    console_user: str = "console"
    serve_command: Callable[[str, int, int], list[str]] = _runtime_serve
    banner: Callable[[UpState, Path], None] = field(default=lambda state, var_dir: _banner(state, var_dir))  # noqa: PLW0108 - _banner comes later

    # -- starting ---------------------------------------------------------------------------
    def start_nats(self, setup: NatsSetup) -> None:
        def launch() -> subprocess.Popen[bytes]:
            server = start_nats(
                self.var_dir / "nats",
                port=self.state.nats_port,
                monitor_port=self.state.monitor_port,
                name=setup.name,
                accounts=setup.accounts,
                env={**os.environ, **setup.env},
                domain=setup.domain,
            )
            return server.process

        child = Child("nats", launch, self.var_dir / "nats" / "nats-server.log", signal.SIGTERM)
        self._launch(child)
        self.children["nats"] = child
        self._record_pids()

    def start_services(self) -> None:
        logs = self.var_dir / "logs"
        logs.mkdir(exist_ok=True)
        for name in self.state.services:
            child = Child(name, self._service_launcher(name, logs / f"{name}.log"), logs / f"{name}.log")
            self._launch(child)
            self.children[name] = child
        self._record_pids()

    def _service_launcher(self, name: str, log: Path) -> Callable[[], subprocess.Popen[bytes]]:
        workers = api_workers(self.env)

        def launch() -> subprocess.Popen[bytes]:
            # the port read at each launch: it may have moved
            command = self.serve_command(name, self.state.services[name], workers)
            with log.open("ab") as output:
                # A session of its own: Ctrl-C reaches only the supervisor, which stops in order.
                return subprocess.Popen(
                    command,
                    env=as_nats_user(self.env, self.var_dir, name),
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )

        return launch

    def start_console(self) -> None:
        """The console: with the local sign-in page for `make up`, through the identity provider
        only in production (`--production`)."""
        if self.state.console is None:
            return
        log = self.var_dir / "logs" / "console.log"

        def launch() -> subprocess.Popen[bytes]:  # the addresses of each launch: a port may have moved
            command = [sys.executable, "-m", "fourlinks_console", "--port", str(self.state.console)]
            env = {
                **as_nats_user(self.env, self.var_dir, self.console_user),
                **self.console_env,
                **self._console_urls(),
            }
            with log.open("ab") as output:
                return subprocess.Popen(
                    command, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
                )

        child = Child("console", launch, log)
        self._launch(child)
        self.children["console"] = child
        self._record_pids()

    def _console_urls(self) -> dict[str, str]:
        """Where the console finds the services and the published checkpoints."""
        urls = {
            f"FOURLINKS_CONSOLE_{name.upper()}_URL": f"http://127.0.0.1:{port}"
            for name, port in self.state.services.items()
        }
        if self.state.checkpoints is not None:
            urls["FOURLINKS_CONSOLE_AUDIT_URL"] = f"http://127.0.0.1:{self.state.checkpoints}"
        return urls

    def start_checkpointer(self) -> None:
        """Signs a checkpoint of the log every FOURLINKS_CHECKPOINT_EVERY_EVENTS events or
        FOURLINKS_CHECKPOINT_EVERY_MINUTES (docs/audit.md), into var/checkpoints/."""
        log = self.var_dir / "logs" / "checkpoints.log"

        def launch() -> subprocess.Popen[bytes]:
            command = [sys.executable, "-m", "fourlinks_cli", "audit", "checkpoint", "--follow"]
            if self.state.checkpoints is not None:
                command += ["--port", str(self.state.checkpoints)]
            with log.open("ab") as output:
                return subprocess.Popen(
                    command,
                    env=as_nats_user(self.env, self.var_dir, "auditor"),
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )

        child = Child("checkpoints", launch, log)
        self._launch(child)
        self.children["checkpoints"] = child
        self._record_pids()

    def start_uplink(self, district: DistrictRole) -> None:
        """The district's figures publisher (`fourlinks uplink`), as the NATS user `uplink`: it asks
        the services and the checkpointer where the console does, and publishes into
        FOURLINKS_UPLINK whether the link to the province is up or not."""
        log = self.var_dir / "logs" / "uplink.log"

        def launch() -> subprocess.Popen[bytes]:
            command = [sys.executable, "-m", "fourlinks_cli", "uplink", "--district", district.code]
            if self.env.get(UPLINK_EVERY_ENV):
                command += ["--every", self.env[UPLINK_EVERY_ENV]]
            env = {**as_nats_user(self.env, self.var_dir, UPLINK_USER), **self._console_urls()}
            with log.open("ab") as output:
                return subprocess.Popen(
                    command, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
                )

        child = Child("uplink", launch, log)
        self._launch(child)
        self.children["uplink"] = child
        self._record_pids()

    def _launch(self, child: Child) -> None:
        """Start a child, letting go of its port only now, so nobody else takes it meanwhile."""
        for sock in self.held.pop(child.name, []):
            sock.close()
        child.start()

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
                self._poll_readiness(time.monotonic())
                if not announced and all(self.children[n].ready for n in self.state.services):
                    announced = True
                    self.banner(self.state, self.var_dir)
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
            self._launch(child)
        except (RuntimeError, TimeoutError, OSError) as exc:  # nats-server that would not start
            _status(f"{child.name}: could not start: {exc}")
            self._died(child, 1, now)
            return
        self._record_pids()
        _status(f"{child.name}: restarted (pid {child.process.pid if child.process else '?'})")

    def _died(self, child: Child, code: int, now: float) -> None:
        child.ready = False
        written = child.output()
        if self._port_taken_at_first_start(child, written):
            self._move_port(child, now)
            return
        window = self.settings.restart_window_seconds
        while child.restarts and now - child.restarts[0] > window:
            child.restarts.popleft()
        child.restarts.append(now)
        tail = _last_lines(written, child.log)
        if len(child.restarts) > self.settings.restart_limit:
            raise CrashLoop(
                f"{child.name} exited {len(child.restarts)} times in {window:g} s ({_how(code)}): giving up "
                f"and stopping everything. Its last lines ({child.log}):\n{tail}"
            )
        delay = min(0.5 * 2 ** (len(child.restarts) - 1), 15.0)
        child.restart_at = now + delay
        _status(f"{child.name}: exited ({_how(code)}); restarting in {delay:g} s. Its last lines:\n{tail}")

    # -- ports ------------------------------------------------------------------------------
    def _port_taken_at_first_start(self, child: Child, written: str) -> bool:
        """Whether a child that never was ready died because another process listens on its port."""
        return (
            _port_of(self.state, child.name) is not None
            and not child.was_ready
            and child.port_moves < MAX_PORT_MOVES
            and PORT_TAKEN in written.lower()
        )

    def _move_port(self, child: Child, now: float) -> None:
        """Another port for a child whose port was taken before it could listen there; at once."""
        taken = _port_of(self.state, child.name)
        sock = listen_on(0)
        self.held[child.name] = [sock]
        _set_port(self.state, child.name, held_port(sock))
        child.port_moves += 1
        child.restart_at = now
        write_state(self.var_dir, self.state)
        _status(
            f"{child.name}: port {taken} was taken by another process before {child.name} could listen "
            f"there; using port {held_port(sock)} instead"
        )
        if child.name in self.state.services:
            self._relaunch_readers()

    def _relaunch_readers(self) -> None:
        """The children that ask the services (the console, a district's uplink) again, with the
        services' addresses as they are now: one left on an old port asks whoever took it."""
        for name in ADDRESS_READERS:
            child = self.children.get(name)
            if child is None or child.restart_at is not None or child.process is None:
                continue  # not started yet, or about to be: it will read the addresses when it starts
            child.signal_stop()
            child.wait_stopped()
            self._launch(child)
            self._record_pids()
            _status(f"{name}: restarted with the services' new addresses")

    # -- readiness --------------------------------------------------------------------------
    def _poll_readiness(self, now: float) -> None:
        """Ask each running service whether it is ready, and say what changed."""
        for name, port in self.state.services.items():
            child = self.children[name]
            if child.restart_at is None:
                self._tell(child, _readiness(port, self.state.instance), now)

    def _tell(self, child: Child, answer: Answer, now: float) -> None:
        """One status line when a service becomes ready, or is not ready for a new reason."""
        if answer.ready:
            if child.ready is not True:
                _status(f"{child.name}: ready")
            child.ready, child.was_ready, child.told = True, True, ""
            return
        child.ready = False
        if not answer.answering and now - child.launched_at < STARTING_GRACE_SECONDS:
            return  # still starting: give it a few seconds before saying so
        why = answer.why if answer.answering else _with_last_line(answer.why, child.output())
        if _worth_telling(why, child.told, now - child.told_at):
            _status(f"{child.name}: not ready ({why})")
            child.told, child.told_at = why, now

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
        for held in self.held.values():
            for sock in held:
                sock.close()
        self.held.clear()
        print("stopped", flush=True)


def production_console(var_dir: Path) -> dict[str, str]:
    """The console of a production on one machine: the identity provider only, secure cookies,
    sessions signed with var/console.secret; refused (SystemExit, naming what is missing) when the
    identity provider is not configured."""
    secret = var_dir / "console.secret"
    secret_file(secret, secrets.token_urlsafe(48))
    env = {
        "FOURLINKS_CONSOLE_ENVIRONMENT": "production",
        "FOURLINKS_CONSOLE_LOCAL_SIGNIN": "0",
        "FOURLINKS_CONSOLE_SESSION_SECRET": secret.read_text().strip(),
    }
    missing = [
        name
        for name in ("FOURLINKS_CONSOLE_OIDC_DISCOVERY_URL", "FOURLINKS_CONSOLE_OIDC_CLIENT_ID")
        if not os.environ.get(name)
    ]
    if missing:
        raise SystemExit(
            "fourlinks up --production: people sign in through the identity provider, and "
            f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set "
            "(the EnvironmentFile of the unit, /etc/fourlinks/fourlinks.env; docs/operations.md)"
        )
    return env


def run_up(var_dir: Path, *, production: bool = False) -> int:
    """Run everything until Ctrl-C or SIGTERM; 1 if it cannot start or a child crash-loops.
    `production`: the console takes people through the identity provider only."""
    console_env = production_console(var_dir) if production else dict(LOCAL_CONSOLE)
    lock = claim_var_dir(var_dir)
    if lock is None:
        return 1
    district = district_role(os.environ)
    secret_file(var_dir / "master.key", generate_master_key())
    secret_file(var_dir / "jwt.secret", secrets.token_urlsafe(48))
    origin = os.environ.get("FOURLINKS_LOG_ORIGIN")  # the key's name is the log's (docs/audit.md)
    secret_file(var_dir / "checkpoint.key", checkpoint_signer(origin, district).encoded())
    ensure_signing_keys(var_dir, SERVICES)
    stopping = stop_on_signals()
    state, held = _addresses(read_state(var_dir))
    env = {
        **os.environ,
        "FOURLINKS_NATS_URL": state.nats_url,
        "FOURLINKS_VAR_DIR": str(var_dir),
        INSTANCE_ENV: state.instance,
    }
    supervisor = Supervisor(var_dir, state, env, Settings(), held=held, console_env=console_env)
    try:
        if move_unlocked_store(var_dir / "nats"):
            print("the NATS store moved to its account: the server now admits its users only", flush=True)
        supervisor.start_nats(system_nats(var_dir, district))
        admin = as_nats_user(env, var_dir, "admin")
        fourlinks_command(["nats", "init", "--monitor-url", f"http://127.0.0.1:{state.monitor_port}"], admin)
        if district is not None:
            _provision_uplink(var_dir, state)
        supervisor.start_services()
        supervisor.start_console()
        supervisor.start_checkpointer()
        if district is not None:
            supervisor.start_uplink(district)
        _seed_first_time(var_dir, admin)
        print("waiting for the services to be ready ...", flush=True)
        return supervisor.run(stopping)
    finally:
        supervisor.stop_all()
        lock.close()


def claim_var_dir(var_dir: Path) -> IO[str] | None:
    """The var dir made private to this user and locked for this run; None (said aloud) when
    another `up` runs on it."""
    os.umask(0o077)  # everything up and its children write (databases, logs, NATS' store) is the user's alone
    var_dir.mkdir(parents=True, exist_ok=True)
    keep_private(var_dir)
    lock = hold_lock(var_dir)
    if lock is None:
        _say_already_running(var_dir)
    return lock


def stop_on_signals() -> list[bool]:
    """A list that Ctrl-C or SIGTERM appends to: the supervisor stops when it is not empty."""
    stopping: list[bool] = []
    signal.signal(signal.SIGINT, lambda *_: stopping.append(True))
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    return stopping


def _addresses(previous: UpState | None) -> tuple[UpState, dict[str, list[socket.socket]]]:
    """The ports of last time while free, others (said aloud) where taken, each held by a socket of
    ours until its child is launched; and a new instance id for this run."""
    last = previous or UpState(pid=0, nats_port=0, monitor_port=0, console=None)
    held = {
        "nats": [
            keep_port("nats", last.nats_port, None),
            keep_port("nats monitoring", last.monitor_port, None),
        ],
        **{name: [keep_port(name, last.services.get(name), port)] for name, port in SERVICES.items()},
        "console": [keep_port("console", last.console, CONSOLE_PORT)],
        "checkpoints": [keep_port("checkpoints", last.checkpoints, None)],
    }
    state = UpState(
        pid=os.getpid(),
        nats_port=held_port(held["nats"][0]),
        monitor_port=held_port(held["nats"][1]),
        services={name: held_port(held[name][0]) for name in SERVICES},
        console=held_port(held["console"][0]),
        checkpoints=held_port(held["checkpoints"][0]),
        instance=new_instance(),
    )
    return state, held


def _say_already_running(var_dir: Path) -> None:
    state = read_state(var_dir)
    where = f" (pid {state.pid}, NATS at {state.nats_url})" if state else ""
    print(
        f"Four Links is already running on {var_dir}{where}: stop it first (Ctrl-C in its terminal).",
        file=sys.stderr,
    )


def keep_port(name: str, kept: int | None, default: int | None) -> socket.socket:
    """A socket holding the port wanted (kept from last time, else the default) or, where that is
    taken (said aloud) or there is none, a free one."""
    wanted = kept or default
    held = hold_port(wanted) if wanted else None
    if held is not None:
        return held
    chosen = listen_on(0)
    if wanted:
        print(f"{name}: port {wanted} is taken; using {held_port(chosen)} this time", flush=True)
    return chosen


def _port_of(state: UpState, name: str) -> int | None:
    """The port a child listens on (None for nats: its ports never move)."""
    if name in state.services:
        return state.services[name]
    return {"console": state.console, "checkpoints": state.checkpoints}.get(name)


def _set_port(state: UpState, name: str, port: int) -> None:
    """Record a child's new port."""
    if name in state.services:
        state.services[name] = port
    elif name == "console":
        state.console = port
    elif name == "checkpoints":
        state.checkpoints = port


def fourlinks_command(arguments: list[str], env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "-m", "fourlinks_cli", *arguments], env=env, check=True)


def _provision_uplink(var_dir: Path, state: UpState) -> None:
    """FOURLINKS_UPLINK, beside `nats init`'s streams: created (or verified) as `uplink`."""
    password = (var_dir / FOLDER / f"{UPLINK_USER}.password").read_text().strip()
    print(asyncio.run(provision_district_uplink(state.nats_url, password)), flush=True)


def _seed_first_time(var_dir: Path, env: dict[str, str]) -> None:
    """The first `make up` loads a small district (scale 0.02) so there is something to look at;
    FOURLINKS_SEED_SCALE, FOURLINKS_CONSOLE_DISTRICT (its root unit) and FOURLINKS_SEED choose
    otherwise where set (the districts of `make province` differ)."""
    marker = var_dir / "seeded"
    if marker.exists() or os.environ.get("FOURLINKS_SKIP_SEED") == "1":
        return
    seed = [sys.executable, "-m", "fourlinks_cli", "seed", "--scale", "0.02", *_seed_choices(os.environ)]
    if subprocess.run(seed, env=env, check=False).returncode == 0:
        marker.write_text("scale 0.02\n")


def _seed_choices(env: Mapping[str, str]) -> list[str]:
    """`--scale`, `--district`, `--seed` and `--district-name` of the first seeding, where the
    environment chooses them."""
    chosen = []
    if env.get("FOURLINKS_SEED_SCALE"):
        chosen += ["--scale", env["FOURLINKS_SEED_SCALE"]]
    if env.get("FOURLINKS_CONSOLE_DISTRICT"):
        chosen += ["--district", env["FOURLINKS_CONSOLE_DISTRICT"]]
    if env.get("FOURLINKS_SEED"):
        chosen += ["--seed", env["FOURLINKS_SEED"]]
    if env.get("FOURLINKS_DISTRICT_NAME"):
        chosen += ["--district-name", env["FOURLINKS_DISTRICT_NAME"]]
    return chosen


@dataclass(frozen=True)
class Answer:
    """What `up` learnt from a service's `/health/ready`: ready or not, and why not, in words."""

    ready: bool
    why: str = ""
    answering: bool = True


def _readiness(port: int, instance: str) -> Answer:
    """Whether our own service on `port` (the one started with `instance`) is ready, and if not,
    why: what its `/health/ready` says is missing, or that someone else's process answers there."""
    try:
        status, body = _get_json(port, "/health/ready")
    except (OSError, http.client.HTTPException):
        return Answer(ready=False, why=f"starting: not answering on port {port} yet", answering=False)
    theirs = body.get("instance")
    if theirs != instance:
        return Answer(ready=False, why=_someone_else(port, theirs, instance))
    if status == 200:
        return Answer(ready=True)
    missing = body.get("missing")
    reasons = [str(reason) for reason in missing] if isinstance(missing, list) else []
    return Answer(ready=False, why="; ".join(reasons) or f"HTTP {status}")


def _get_json(port: int, path: str) -> tuple[int, dict[str, object]]:
    """The status of a GET on a loopback port and its body as a JSON object (empty when it is not one)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=1) as reply:
            return reply.status, _json_object(reply.read())
    except urllib.error.HTTPError as refused:
        return refused.code, _json_object(refused.read())


def _json_object(raw: bytes) -> dict[str, object]:
    try:
        found = json.loads(raw)
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def _someone_else(port: int, theirs: object, ours: str) -> str:
    """The reason given when a process not started by this `up` answers on a port of ours."""
    who = f"instance {theirs}" if isinstance(theirs, str) and theirs else "no instance id"
    return f"someone else's process is answering on port {port} ({who}; ours is {ours}): not counted as ready"


def _with_last_line(why: str, written: str) -> str:
    """A reason, with the last line the child wrote to its log since it was launched, if any."""
    lines = [line.strip() for line in written.splitlines() if line.strip()]
    return f"{why}; its log last said: {_clip(lines[-1], 200)}" if lines else why


def _worth_telling(why: str, told: str, since: float) -> bool:
    """A new reason is told at once; the same reason with other figures, every RETELL_SECONDS."""
    return _gist(why) != _gist(told) or (why != told and since >= RETELL_SECONDS)


def _gist(why: str) -> str:
    """A reason without its figures (positions, counts, times)."""
    return re.sub(r"\d[\d,.:]*", "#", why)


def _how(code: int) -> str:
    if code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exit code {code}"


def _last_lines(written: str, log: Path) -> str:
    """The last lines a child wrote since its launch, or a sentence saying it wrote nothing."""
    lines = [line for line in written.splitlines() if line.strip()]
    if lines:
        return "\n".join(f"  | {_clip(line)}" for line in lines[-LAST_LINES:])
    if not log.exists():
        return f"  (there is no {log}: the process wrote nothing)"
    return f"  (the process wrote nothing to {log} before it ended)"


def _clip(line: str, width: int = 300) -> str:
    """A long log line's start and end (a traceback logged as one line ends with its error)."""
    if len(line) <= width:
        return line
    return f"{line[: width // 3]} ... {line[-(2 * width) // 3 :]}"


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


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


KEPT_OPEN = {"tools", "isolated"}
"""Folders of var/ that hold the build's tools, not the system's data."""


def keep_private(var_dir: Path) -> None:
    """Take group and other access away from what an older run left readable under var/."""
    var_dir.chmod(0o700)
    for entry in var_dir.iterdir():
        if entry.name in KEPT_OPEN or entry.is_symlink():
            continue
        for path in [entry, *(entry.rglob("*") if entry.is_dir() else [])]:
            if not path.is_symlink():
                path.chmod(path.stat().st_mode & 0o700)


def secret_file(path: Path, make: str) -> None:
    """A secret made once (0600), kept across runs."""
    if not path.exists():
        path.write_text(make + "\n")
        path.chmod(0o600)
