"""`fourlinks province` (`make province`): a province and three districts on this machine, each a
`fourlinks up` of its own under var/province/ (the province in province/, a district in d<code>/),
the districts' links connected to the province's leafnode listener on loopback, each district
seeded small with another seed (another year of work). Its districts' public log keys and link
passwords are written into the province's districts file before anyone starts. Ctrl-C stops the
districts, then the province.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from fourlinks_cli.district_up import DISTRICT_ENV, DISTRICT_NAME_ENV, district_signer
from fourlinks_cli.nats_users import new_password
from fourlinks_cli.up import UPLINK_EVERY_ENV, secret_file, stop_on_signals
from fourlinks_kernel.notes import SignerKey
from fourlinks_province.settings import Districts
from fourlinks_runtime.federation import UPLINK_LEAF_URL_ENV, leaf_user
from fourlinks_runtime.upstate import UpState, read_state

UP = [sys.executable, "-m", "fourlinks_cli", "up"]
RUNNING = "Ctrl-C stops everything"
"""The last line of an `up`'s banner: everything it runs is ready."""
START_SECONDS = 600.0
DISTRICTS_FILE = "districts.json"


@dataclass(frozen=True)
class DemoDistrict:
    """One district of the demonstration: its code, name, root unit and seed (its year)."""

    code: str
    name: str
    root: str
    seed: int

    @property
    def folder(self) -> str:
        """Its var dir's name under the demonstration's."""
        return f"d{self.code}"


DISTRICTS = (
    DemoDistrict("330110", "余杭区", "yuhang", 2024),
    DemoDistrict("330105", "拱墅区", "gongshu", 2025),
    DemoDistrict("330106", "西湖区", "xihu", 2026),
)


def log_key(var_dir: Path, code: str) -> str:
    """The district's public log key, from its checkpoint key (made here first, named after its
    code, as its `up` would make it)."""
    var_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    secret_file(var_dir / "checkpoint.key", district_signer(code).encoded())
    return SignerKey.parse((var_dir / "checkpoint.key").read_text()).verifier.encoded()


def write_districts_file(root: Path, districts: tuple[DemoDistrict, ...]) -> Path:
    """The province's districts file: each district's code, name, link password (kept from an
    earlier run) and public log key."""
    province = root / "province"
    province.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = province / DISTRICTS_FILE
    kept = Districts.read(path if path.exists() else None).by_code()
    listed = []
    for d in districts:
        earlier = kept.get(d.code)
        password = earlier.leaf_password.get_secret_value() if earlier and earlier.leaf_password else None
        listed.append(
            {
                "code": d.code,
                "name": d.name,
                "leaf_password": password or new_password(),
                "log_key": log_key(root / d.folder, d.code),
            }
        )
    partial = path.with_suffix(".tmp")
    partial.write_text(json.dumps({"districts": listed}, ensure_ascii=False, indent=2) + "\n")
    partial.chmod(0o600)
    partial.replace(path)
    return path


def district_env(d: DemoDistrict, *, password: str, leaf_port: int, scale: float) -> dict[str, str]:
    """A district's `up`: its code and name, its link, its root unit, seed and size."""
    return {
        DISTRICT_ENV: d.code,
        DISTRICT_NAME_ENV: d.name,
        UPLINK_LEAF_URL_ENV: f"nats-leaf://{leaf_user(d.code)}:{password}@127.0.0.1:{leaf_port}",
        "FOURLINKS_CONSOLE_DISTRICT": d.root,
        "FOURLINKS_SEED": str(d.seed),
        "FOURLINKS_SEED_SCALE": str(scale),
        UPLINK_EVERY_ENV: "10",
    }


@dataclass
class Running:
    """One `up` of the demonstration, its output in its log."""

    name: str
    var_dir: Path
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        """Ctrl-C, as its terminal would send it; it stops its children in order."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)

    def wait(self) -> None:
        """Until it stopped (60 s at most, then SIGKILL)."""
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_up(name: str, var_dir: Path, arguments: list[str], env: Mapping[str, str]) -> Running:
    """An `up` in a session of its own (Ctrl-C reaches this command, which stops each in turn)."""
    log = var_dir.parent / "logs" / f"{name}.log"
    log.parent.mkdir(mode=0o700, exist_ok=True)
    with log.open("ab") as output:
        process = subprocess.Popen(
            [*UP, *arguments, "--var-dir", str(var_dir)],
            env={**os.environ, "FOURLINKS_API_WORKERS": "1", **env},
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Running(name, var_dir, process, log)


def wait_running(up: Running, offset: int, stopping: list[bool]) -> UpState:
    """Until its banner says everything runs; SystemExit (with its last lines) if it ended."""
    deadline = time.monotonic() + START_SECONDS
    while RUNNING not in up.log.read_bytes()[offset:].decode("utf-8", "replace"):
        if up.process.poll() is not None or stopping or time.monotonic() > deadline:
            tail = up.log.read_bytes()[-3000:].decode("utf-8", "replace")
            raise SystemExit(f"{up.name} did not start ({up.log}):\n{tail}")
        time.sleep(0.5)
    state = read_state(up.var_dir)
    assert state is not None  # written before its banner
    return state


def run_demo(root: Path, *, scale: float = 0.02) -> int:
    """Start the province and its three districts, say where to look, until Ctrl-C."""
    stopping = stop_on_signals()
    listed = Districts.read(write_districts_file(root, DISTRICTS)).by_code()
    started: list[Running] = []
    try:
        arguments = ["--role", "province"]
        province = _start_and_wait(
            "province",
            var_dir=root / "province",
            arguments=arguments,
            env={},
            started=started,
            stopping=stopping,
        )
        assert province.leaf_port is not None
        for d in DISTRICTS:
            password = listed[d.code].leaf_password
            assert password is not None
            env = district_env(
                d, password=password.get_secret_value(), leaf_port=province.leaf_port, scale=scale
            )
            print(f"starting {d.name} ({d.code}, seed {d.seed}) ...", flush=True)
            _start_and_wait(
                d.folder, var_dir=root / d.folder, arguments=[], env=env, started=started, stopping=stopping
            )
        _say_where(root, province)
        while not stopping and all(up.process.poll() is None for up in started):
            time.sleep(0.5)
        return 0 if stopping else _ended(started)
    finally:
        for up in reversed(started):  # the districts first, the province last
            up.stop()
            up.wait()
        print("stopped", flush=True)


def _start_and_wait(
    name: str,
    *,
    var_dir: Path,
    arguments: list[str],
    env: Mapping[str, str],
    started: list[Running],
    stopping: list[bool],
) -> UpState:
    log = var_dir.parent / "logs" / f"{name}.log"
    offset = log.stat().st_size if log.exists() else 0
    up = start_up(name, var_dir, arguments, env)
    started.append(up)
    return wait_running(up, offset, stopping)


def _ended(started: list[Running]) -> int:
    ended = next(up for up in started if up.process.poll() is not None)
    print(f"{ended.name} stopped on its own ({ended.log}): stopping the others", file=sys.stderr)
    return 1


def _say_where(root: Path, province: UpState) -> None:
    print(f"\nA province and {len(DISTRICTS)} districts are running (data and logs in {root}).")
    print(f"  province console  http://127.0.0.1:{province.console}   (local sign-in)")
    print(f"  province API      http://127.0.0.1:{province.services['province']}/districts")
    for d in DISTRICTS:
        state = read_state(root / d.folder)
        console = f"http://127.0.0.1:{state.console}" if state else "?"
        print(f"  {d.name} {d.code}  console {console}   (local sign-in; its own people and figures)")
    print(
        f"A token for the province's API: FOURLINKS_VAR_DIR={root / 'province'} "
        "./fourlinks token --role province --scope 330000"
    )
    print("The districts send their figures up every 10 s. Ctrl-C stops all; data stays.", flush=True)
