"""`fourlinks up` is honest about readiness: it names, within seconds, each service that is not
ready and why (here a halted projection); it asks readiness of its own processes only (the run's
instance id, echoed by `/health/ready`), so a foreign server answering "ready" on a port it chose
is reported as someone else's and never counted; a service whose port was taken before it could
listen there moves to another port and says so."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
from sqlalchemy import create_engine, insert
from tools.kill_check import Embedded, start

from fourlinks_cli.up import _last_lines, _readiness
from fourlinks_kernel.projection import bookkeeping, checkpoints
from fourlinks_notifications.projections.outbox import OutboxProjection
from fourlinks_runtime.upstate import free_port

HALT = (
    "cannot apply CallbackScheduled at position 7: TypeError: can't compare offset-naive and "
    "offset-aware datetimes"
)


def halted(database: Path, name: str, version: int, reason: str) -> None:
    """A read-model database whose projection halted in an earlier run (a halt outlives restarts)."""
    database.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(f"sqlite:///{database}")
    bookkeeping.create_all(engine)
    with engine.begin() as conn:
        conn.execute(
            insert(checkpoints).values(
                name=name, version=version, position=0, halted_reason=reason, updated_at=datetime.now(UTC)
            )
        )
    engine.dispose()


def previous_ports(var_dir: Path) -> dict[str, object]:
    """An up.json of an earlier run whose ports are all free now."""
    services = {name: free_port() for name in ("members", "assignments", "feedback", "notifications")}
    state = {
        "pid": 0,
        "nats_port": free_port(),
        "monitor_port": free_port(),
        "services": services,
        "console": free_port(),
        "checkpoints": free_port(),
    }
    var_dir.mkdir(parents=True)
    (var_dir / "up.json").write_text(json.dumps(state))
    return state


def wait_for_line(embedded: Embedded, pattern: str, seconds: float) -> tuple[str, float]:
    """The first line of `up`'s output matching `pattern`, and when it was seen."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for line in embedded.log.read_text(errors="replace").splitlines():
            if re.search(pattern, line):
                return line, time.monotonic()
        assert embedded.process.poll() is None, embedded.log.read_text()[-3000:]
        time.sleep(0.2)
    raise AssertionError(
        f"no line matching {pattern!r} in {seconds:g} s:\n{embedded.log.read_text()[-3000:]}"
    )


def first_answer(url: str, seconds: float) -> float:
    """When the service at `url` first answered `/health/ready` (ready or not)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{url}/health/ready", timeout=1)
            return time.monotonic()
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"{url} never answered in {seconds:g} s")


def test_a_halted_projection_is_named_with_its_reason_within_seconds(tmp_path: Path) -> None:
    var_dir = tmp_path / "var"
    previous_ports(var_dir)
    halted(var_dir / "notifications.db", OutboxProjection.name, OutboxProjection.version, HALT)
    embedded = start(var_dir, banner_seconds=0)
    try:
        wait_for_line(embedded, r"waiting for the services to be ready", 60)
        answered = first_answer(embedded.url("notifications"), 90)
        line, seen = wait_for_line(
            embedded, r"notifications: not ready \(projection notifications\.outbox", 30
        )
        assert "halted: cannot apply CallbackScheduled at position 7" in line
        assert "offset-naive and offset-aware" in line
        assert seen - answered < 10, f"told {seen - answered:.0f} s after the service first answered"
        wait_for_line(embedded, r"members: ready", 90)
        instance = json.loads((var_dir / "up.json").read_text())["instance"]
        assert instance
        members = httpx.get(f"{embedded.url('members')}/health/ready", timeout=5)
        assert members.json()["instance"] == instance  # each child echoes the run that started it
        notifications = httpx.get(f"{embedded.url('notifications')}/health/ready", timeout=5)
        assert notifications.status_code == 503
        assert notifications.json()["instance"] == instance
        assert "Four Links is running" not in embedded.log.read_text()  # never announced while halted
    finally:
        assert embedded.stop() == 0


class ForeignReady(BaseHTTPRequestHandler):
    """Someone else's server: answers every GET with "ready", and an instance id of its own."""

    instance: str | None = None

    def do_GET(self) -> None:
        body = {"status": "ready", "missing": []}
        if self.instance is not None:
            body["instance"] = self.instance
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@contextmanager
def foreign_server(
    port: int, *, instance: str | None = None, after: threading.Event | None = None
) -> Iterator[None]:
    """A foreign HTTP server on `port`, listening as soon as it can once `after` is set (it
    retries while the port is taken, as a second `make up` in another clone would win a race)."""
    stopping, servers = threading.Event(), []
    handler = type("Handler", (ForeignReady,), {"instance": instance})

    def serve() -> None:
        if after is not None:
            after.wait()
        while not stopping.is_set():
            try:
                server = ThreadingHTTPServer(("127.0.0.1", port), handler)
            except OSError:
                time.sleep(0.005)
                continue
            servers.append(server)
            server.serve_forever(poll_interval=0.1)
            return

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stopping.set()
        if after is not None:
            after.set()
        for server in servers:
            server.shutdown()
            server.server_close()
        thread.join(timeout=5)


def test_a_foreign_server_on_a_chosen_port_is_never_counted_ready_and_the_service_moves(
    tmp_path: Path,
) -> None:
    """The race of two clones: the port was free when `up` chose it; another process starts
    listening on it as soon as it can. `up` held it until its own service was launched, so the other
    process gets it only then, and the service fails to listen there: it moves, said aloud, and
    whatever answers on the old port is never taken for our service. Run as a district, whose
    figures publisher asks the services too: it is relaunched with the new address as the console
    is (left on the old port, it asked another district's service, refused: `make province`)."""
    var_dir = tmp_path / "var"
    port = previous_ports(var_dir)["services"]["members"]  # type: ignore[index]
    chosen = threading.Event()
    with foreign_server(port, after=chosen):
        embedded = start(var_dir, banner_seconds=0, env={"FOURLINKS_DISTRICT": "330110"})
        try:
            deadline = time.monotonic() + 60
            while json.loads((var_dir / "up.json").read_text()).get("pid") != embedded.process.pid:
                assert time.monotonic() < deadline, embedded.log.read_text()[-3000:]
                time.sleep(0.05)
            chosen.set()  # up has chosen its ports (and written them): the other process starts now
            moved, _ = wait_for_line(embedded, rf"members: port {port} was taken by another process", 90)
            assert re.search(r"using port (\d+) instead", moved)
            wait_for_line(embedded, r"Ctrl-C stops everything", 90)
            log = embedded.log.read_text()
            banner = re.search(r"members\s+API http://127\.0\.0\.1:(\d+)", log)
            assert banner is not None
            assert int(banner[1]) != port
            assert embedded.url("members") == f"http://127.0.0.1:{banner[1]}"
            ours = httpx.get(f"{embedded.url('members')}/health/ready", timeout=5).json()
            assert ours["instance"] == json.loads((var_dir / "up.json").read_text())["instance"]
            before_move = log.split(moved, 1)[0]
            assert "members: ready" not in before_move  # the foreign "ready" was never taken for ours
            assert "Traceback" not in log
            after_move = log.split(moved, 1)[1]
            assert "console: restarted with the services' new addresses" in after_move
            assert "uplink: restarted with the services' new addresses" in after_move
        finally:
            assert embedded.stop() == 0


def test_readiness_is_asked_of_our_own_instance_only(tmp_path: Path) -> None:
    """A server answering "ready" with another instance id, or none, is someone else's process."""
    port = free_port()
    with foreign_server(port, instance="theirs"):
        wait_listening(port)
        assert _readiness(port, "theirs").ready
        answer = _readiness(port, "ours")
        assert not answer.ready
        assert f"someone else's process is answering on port {port} (instance theirs" in answer.why
    port = free_port()
    with foreign_server(port):
        wait_listening(port)
        answer = _readiness(port, "ours")
        assert not answer.ready
        assert "no instance id" in answer.why
    assert not _readiness(free_port(), "ours").ready  # nobody there


def wait_listening(port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.02)
    raise AssertionError(f"nothing listens on {port}")


def test_a_crash_with_nothing_written_says_so(tmp_path: Path) -> None:
    log = tmp_path / "members.log"
    assert "wrote nothing" in _last_lines("", log)
    log.write_text("an earlier run's line\n")
    assert "wrote nothing" in _last_lines("\n\n", log)
    assert "| address already in use" in _last_lines("\naddress already in use\n", log)
