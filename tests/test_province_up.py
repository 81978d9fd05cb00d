"""`fourlinks up` in the federation: a province (`up --role province`) and two districts
(FOURLINKS_DISTRICT), each a real `up` in its own var dir on loopback. A district's nats-server
carries its JetStream domain and its link (account UPLINK only), the province's stream receives
that district's figures under its code, Ctrl-C stops every process of every `up`; and an `up`
without a code sets up its NATS as before."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest

from fourlinks_cli.district_up import DISTRICT_USERS, district_role
from fourlinks_cli.nats_accounts import render as render_accounts
from fourlinks_cli.nats_users import FOLDER
from fourlinks_cli.province_demo import DISTRICTS, DemoDistrict, district_env, write_districts_file
from fourlinks_cli.up import NatsSetup, system_nats
from fourlinks_province.settings import Districts
from fourlinks_runtime.federation import PROVINCE_STREAM, UPLINK_ACCOUNT, UPLINK_LEAF_URL_ENV
from fourlinks_runtime.upstate import UpState, read_state

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]
UP = [sys.executable, "-m", "fourlinks_cli", "up"]
WAIT_SECONDS = 150.0


def _start(var_dir: Path, *more: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    var_dir.parent.mkdir(parents=True, exist_ok=True)
    with (var_dir.parent / f"{var_dir.name}.out").open("ab") as output:
        return subprocess.Popen(
            [*UP, *more, "--var-dir", str(var_dir)],
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # as a terminal starts it: Ctrl-C is sent to its group below
            env={**os.environ, "FOURLINKS_LOG_LEVEL": "WARNING", "FOURLINKS_API_WORKERS": "1", **(env or {})},
        )


def _until(what: str, found: Callable[[], Any], process: subprocess.Popen[bytes] | None = None) -> Any:
    """`found()` once it is truthy; fails naming `what` when the wait runs out or the `up` ended."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        value = found()
        if value:
            return value
        assert process is None or process.poll() is None, f"{what}: the `up` ended ({process.returncode})"
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.3)


def _state_of(var_dir: Path, process: subprocess.Popen[bytes], *children: str) -> UpState:
    def started() -> UpState | None:
        state = read_state(var_dir)
        ours = state is not None and state.pid == process.pid and all(c in state.pids for c in children)
        return state if ours else None

    found: UpState = _until(f"{var_dir.name} started {children}", started, process)
    return found


def _monitor(state: UpState, path: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{state.monitor_port}/{path}", timeout=5) as reply:
        body: dict[str, Any] = json.load(reply)
    return body


def _password(var_dir: Path, user: str) -> str:
    return (var_dir / FOLDER / f"{user}.password").read_text().strip()


def _ctrl_c(process: subprocess.Popen[bytes], var_dir: Path) -> None:
    """Ctrl-C as a terminal sends it; then not one process of that `up` is left."""
    state = read_state(var_dir)
    os.killpg(process.pid, signal.SIGINT)
    assert process.wait(timeout=90) == 0, (var_dir.parent / f"{var_dir.name}.out").read_text()[-3000:]
    alive = [name for name, pid in (state.pids if state else {}).items() if _alive(pid)]
    assert alive == [], f"{var_dir.name}: still running after Ctrl-C: {alive}"
    out = (var_dir.parent / f"{var_dir.name}.out").read_text(errors="replace")
    assert "Traceback" not in out, out[-3000:]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def _province_subjects(province_dir: Path, state: UpState) -> list[str]:
    """Every subject FOURLINKS_PROVINCE holds, as the province service's user reads it."""
    nc = await nats.connect(state.nats_url, user="province", password=_password(province_dir, "province"))
    try:
        reply = await nc.request(
            f"$JS.API.STREAM.INFO.{PROVINCE_STREAM}", json.dumps({"subjects_filter": ">"}).encode(), timeout=5
        )
        info: dict[str, Any] = json.loads(reply.data)
    finally:
        await nc.close()
    return sorted((info["state"].get("subjects") or {}).keys())


@pytest.fixture
def running_ups() -> Iterator[list[tuple[subprocess.Popen[bytes], Path]]]:
    """Every `up` a test starts; whatever is still running at the end is stopped, districts first."""
    started: list[tuple[subprocess.Popen[bytes], Path]] = []
    yield started
    for process, _ in reversed(started):
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


def _start_district(
    root: Path, d: DemoDistrict, province: UpState, running: list[Any], **more: str
) -> tuple[subprocess.Popen[bytes], Path, UpState]:
    listed = Districts.read(root / "province" / "districts.json").by_code()[d.code]
    assert listed.leaf_password is not None
    assert province.leaf_port is not None
    env = district_env(
        d, password=listed.leaf_password.get_secret_value(), leaf_port=province.leaf_port, scale=0.001
    )
    process = _start(root / d.folder, env={**env, "FOURLINKS_UPLINK_EVERY_SECONDS": "2", **more})
    running.append((process, root / d.folder))
    return process, root / d.folder, _state_of(root / d.folder, process, "uplink")


async def test_districts_link_up_to_their_province_and_their_figures_arrive_under_their_codes(
    tmp_path: Path, running_ups: list[tuple[subprocess.Popen[bytes], Path]]
) -> None:
    yuhang, gongshu = DISTRICTS[0], DISTRICTS[1]
    write_districts_file(tmp_path, (yuhang, gongshu))
    province_dir = tmp_path / "province"
    province = _start(province_dir, "--role", "province")
    running_ups.append((province, province_dir))
    at_province = _state_of(province_dir, province, "nats", "province", "console")

    first, first_dir, at_yuhang = _start_district(tmp_path, yuhang, at_province, running_ups)
    second, second_dir, _ = _start_district(
        tmp_path, gongshu, at_province, running_ups, FOURLINKS_SKIP_SEED="1"
    )

    assert _monitor(at_yuhang, "varz")["jetstream"]["config"]["domain"] == "d330110"
    links = _until("yuhang's link is up", lambda: _monitor(at_yuhang, "leafz").get("leafs"), first)
    assert [link["account"] for link in links] == [UPLINK_ACCOUNT]  # the events' account never crosses
    _until("the province holds both links", lambda: _monitor(at_province, "leafz").get("leafnodes") == 2)

    async def figures_of_yuhang() -> list[str]:
        subjects = await _province_subjects(province_dir, at_province)
        return subjects if any(s.startswith("330110.uplink.figures.") for s in subjects) else []

    subjects = await _await_until("yuhang's figures at the province", figures_of_yuhang)
    assert {s.split(".", 1)[0] for s in subjects} <= {"330110", "330105"}, subjects
    assert "330110.uplink.checkpoint" in subjects or any(".coverage." in s for s in subjects)

    yuhang_there = _until(
        "yuhang's checkpoint verified at the province", lambda: _verified(province_dir, at_province)
    )
    assert yuhang_there["checkpoint"]["origin"].startswith("fourlinks.invalid/330110/")  # its log's name

    _ctrl_c(second, second_dir)
    _ctrl_c(first, first_dir)
    _ctrl_c(province, province_dir)


def _verified(province_dir: Path, state: UpState) -> dict[str, Any] | None:
    """Yuhang's line of the province's /districts once its checkpoint is verified with the log key
    its districts file registered."""
    token = subprocess.run(
        [sys.executable, "-m", "fourlinks_cli", "token", "--role", "province", "--scope", "330000"],
        env={**os.environ, "FOURLINKS_VAR_DIR": str(province_dir)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    url = f"http://127.0.0.1:{state.services['province']}/districts"
    lines: list[dict[str, Any]] = httpx.get(
        url, headers={"Authorization": f"Bearer {token}"}, timeout=5
    ).json()
    found = [line for line in lines if line["code"] == "330110" and line["checkpoint"]["verified"]]
    return found[0] if found else None


async def _await_until(what: str, found: Callable[[], Any]) -> Any:
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        value = await found()
        if value:
            return value
        assert time.monotonic() < deadline, f"never: {what}"
        await asyncio.sleep(0.5)


def test_up_without_a_district_code_sets_up_its_nats_as_before(tmp_path: Path) -> None:
    assert district_role({UPLINK_LEAF_URL_ENV: "nats-leaf://d330110:x@127.0.0.1:7422"}) is None
    setup = system_nats(tmp_path, None)
    assert setup.accounts == render_accounts()  # no UPLINK account, no leafnode remote
    assert (setup.name, setup.domain) == ("fourlinks", None)
    assert not (tmp_path / FOLDER / "uplink.password").exists()
    assert isinstance(setup, NatsSetup)


def test_a_district_code_adds_the_uplink_account_its_user_and_its_domain(tmp_path: Path) -> None:
    role = district_role({"FOURLINKS_DISTRICT": "330110", UPLINK_LEAF_URL_ENV: "nats-leaf://x@127.0.0.1:1"})
    assert role is not None
    setup = system_nats(tmp_path, role)
    assert (setup.name, setup.domain) == ("d330110", "d330110")
    assert f"  {UPLINK_ACCOUNT} {{" in setup.accounts
    assert "leafnodes {" in setup.accounts
    assert {f"FOURLINKS_NATS_{u.upper()}_PASSWORD" for u in DISTRICT_USERS} <= set(setup.env)
    assert setup.env[UPLINK_LEAF_URL_ENV] == "nats-leaf://x@127.0.0.1:1"
    with pytest.raises(SystemExit, match="330110"):
        district_role({"FOURLINKS_DISTRICT": "yuhang"})
