"""What a running `fourlinks up` leaves under var/: one lock, and the addresses it chose.

The lock keeps a second `fourlinks up` off the same data (two nats-servers on one JetStream
store would corrupt it). The state file keeps the ports, so a restart reuses them while they are
free, and so other commands (`fourlinks seed`, `audit`, `token` ...) find the embedded NATS
without being told (FOURLINKS_NATS_URL still wins). It also keeps the instance id of this run of
`up`: every child gets it in FOURLINKS_UP_INSTANCE and echoes it in `/health/ready`, so `up` asks
readiness of its own processes, never of whoever answers on a port.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import socket
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO

STATE_FILE = "up.json"
LOCK_FILE = "up.lock"
INSTANCE_ENV = "FOURLINKS_UP_INSTANCE"
"""The environment variable that carries the instance id of the `up` run to its children."""


@dataclass
class UpState:
    """The addresses of the embedded system, and the process that runs it."""

    pid: int
    nats_port: int
    monitor_port: int
    services: dict[str, int] = field(default_factory=dict)
    pids: dict[str, int] = field(default_factory=dict)
    console: int | None = None
    checkpoints: int | None = None
    instance: str = ""
    leaf_port: int | None = None  # a province's leafnode listener, where its districts' links connect

    @property
    def nats_url(self) -> str:
        """Where the embedded NATS listens."""
        return f"nats://127.0.0.1:{self.nats_port}"

    @property
    def running(self) -> bool:
        """Whether the process that wrote this is still alive."""
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def read_state(var_dir: Path) -> UpState | None:
    """The last state `fourlinks up` wrote under `var_dir`, if any."""
    try:
        data = json.loads((var_dir / STATE_FILE).read_text())
        return UpState(**data)
    except (OSError, ValueError, TypeError):
        return None


def write_state(var_dir: Path, state: UpState) -> None:
    """Record the addresses (atomically: a reader never sees half a file)."""
    target = var_dir / STATE_FILE
    partial = target.with_suffix(".tmp")
    partial.write_text(json.dumps(asdict(state), indent=2) + "\n")
    partial.replace(target)


def hold_lock(var_dir: Path) -> IO[str] | None:
    """The lock on `var_dir` for this process's lifetime, or None if another process holds it."""
    handle = (var_dir / LOCK_FILE).open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


def port_is_free(port: int) -> bool:
    """Whether a server could listen on a loopback port now (as servers do, with SO_REUSEADDR:
    connections of a stopped server lingering in TIME_WAIT do not make its port taken)."""
    with socket.socket() as sock, contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen(1)
        return True
    return False


def free_port() -> int:
    """A loopback port free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def new_instance() -> str:
    """A fresh instance id for one run of `fourlinks up`."""
    return secrets.token_hex(8)


def listen_on(port: int = 0) -> socket.socket:
    """A listening socket that keeps a loopback port ours until it is closed (0: a free port the
    system picks); nobody else can listen on the port meanwhile. OSError if it is taken."""
    sock = socket.socket()
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen(1)
    except OSError:
        sock.close()
        raise
    return sock


def hold_port(port: int) -> socket.socket | None:
    """`listen_on(port)`, or None if the port is taken."""
    try:
        return listen_on(port)
    except OSError:
        return None


def held_port(sock: socket.socket) -> int:
    """The port a held socket keeps."""
    return int(sock.getsockname()[1])
