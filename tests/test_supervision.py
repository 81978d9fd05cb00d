"""`fourlinks up` supervises: under load, a SIGKILLed nats-server comes back on the same port and
the services carry on without a restart; a SIGKILLed service comes back while the others never
stop; nothing acknowledged is lost; a child that crashes at every start stops everything after the
crash-loop limit, with a message naming it. (The recovery times: `tools/kill_check.py`.)"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
from tools.kill_check import Load, district_root, kill, missing_after, start


def test_killed_children_come_back_and_nothing_acknowledged_is_lost(tmp_path: Path) -> None:
    embedded = start(tmp_path / "var")
    try:
        assert embedded.process.poll() is None, embedded.log.read_text()[-3000:]
        district_root(embedded)
        load = Load(embedded)
        feeder = threading.Thread(target=load.run, daemon=True)
        feeder.start()
        time.sleep(1)
        nats_port = embedded.state["nats_port"]
        for child in ("nats", "members", "assignments", "feedback"):
            others = {
                name: embedded.pid(name) for name in ("members", "assignments", "feedback") if name != child
            }
            kill(embedded, child, load)
            assert embedded.state["nats_port"] == nats_port  # the same address for everyone
            assert {name: embedded.pid(name) for name in others} == others  # nobody else restarted
        load.stopping.set()
        feeder.join(timeout=90)
        assert load.acknowledged
        assert not load.refused
        assert missing_after(embedded, load) == []
        for service in ("members", "assignments", "feedback"):
            assert httpx.get(f"{embedded.url(service)}/health/ready", timeout=5).status_code == 200
        log = embedded.log.read_text()
        assert "nats: exited (killed by SIGKILL)" in log
        assert "members: exited (killed by SIGKILL)" in log
        assert "Traceback" not in log
    finally:
        assert embedded.stop() == 0


def test_a_child_crashing_at_every_start_stops_everything_after_the_limit_naming_it(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    broken = {  # a database file under a plain file: no directory can be made for it
        "FOURLINKS_FEEDBACK_DATABASE_URL": f"sqlite:///{tmp_path / 'a-file' / 'feedback.db'}",
        "FOURLINKS_RESTART_LIMIT": "2",
        "FOURLINKS_RESTART_WINDOW_SECONDS": "120",
    }
    embedded = start(tmp_path / "var", env=broken, banner_seconds=0)
    code = embedded.process.wait(timeout=120)
    log = embedded.log.read_text()
    assert code == 1, log[-3000:]
    assert "feedback exited 3 times in 120 s" in log
    assert "giving up" in log
    assert "Four Links is running" not in log
    assert "stopped" in log
