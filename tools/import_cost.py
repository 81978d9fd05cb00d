"""What `fourlinks import` costs on a district's rosters (docs/benchmarks.md).

    .venv/bin/python tools/import_cost.py SCALE [WORK_DIR [IN_FLIGHT]]

Scale 1.0 is Yuhang: 60 communities of 20 buildings; 6,000 members, 30,000 households with about
75,000 residents (one row each), 6,000 enterprises and 6,000 service cards (five households of the
member's building and an enterprise each). In one run: `fourlinks up` on a fresh var dir (NATS,
the four services, the console; not seeded), the org tree through POST /org-units, the four rosters written as
Excel workbooks, then `fourlinks import` of each in turn (wall time, the command's CPU, the
members service's and nats-server's CPU), and the members' file imported again (nothing to do).
A figure, not a test.
"""

from __future__ import annotations

import json
import os
import random
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from openpyxl import Workbook

from fourlinks_bench.measure import cpu_seconds
from fourlinks_contracts.credit_codes import credit_code_check_char
from fourlinks_members.seed import COMMUNITY_WORDS, GIVEN, STREETS, SURNAMES, TRADES
from fourlinks_runtime.auth import issue_token
from fourlinks_runtime.settings import Settings
from fourlinks_runtime.upstate import read_state

BUILDINGS, HOUSEHOLDS, MEMBERS, ENTERPRISES = 20, 25, 100, 100
CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
IN_FLIGHT = sys.argv[3] if len(sys.argv) > 3 else "32"
rng = random.Random(2021)  # noqa: S311 - made-up data, reproducible by design


def name() -> str:
    return rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=rng.choice((1, 2))))


def mobile(used: set[str]) -> str:
    while (phone := f"1{rng.choice('3589')}{rng.randint(0, 999_999_999):09d}") in used:
        pass
    used.add(phone)
    return phone


def communities(scale: float) -> list[tuple[str, str, str, str]]:
    """(street path, street name, community path, community name) of each community."""
    count = max(1, round(60 * scale))
    streets = max(1, min(len(STREETS), round(count / 5)))
    return [
        (
            f"yuhang/s{n % streets + 1:02d}",
            f"{STREETS[n % streets]}街道",
            f"yuhang/s{n % streets + 1:02d}/c{n + 1:03d}",
            f"{COMMUNITY_WORDS[n % len(COMMUNITY_WORDS)]}社区{n // 12 or ''}",
        )
        for n in range(count)
    ]


def tree(places: list[tuple[str, str, str, str]]) -> list[dict[str, Any]]:
    units = [{"code": "yuhang", "name": "余杭区", "level": "district", "parent_path": None}]
    for street, street_name in sorted({(s, n) for s, n, _, _ in places}):
        units.append(
            {
                "code": street.rsplit("/", 1)[1],
                "name": street_name,
                "level": "street",
                "parent_path": "yuhang",
            }
        )
    for street, _, community, community_name in places:
        code = community.rsplit("/", 1)[1]
        units.append({"code": code, "name": community_name, "level": "community", "parent_path": street})
        units += [
            {"code": f"b{b:02d}", "name": f"{b}幢", "level": "building", "parent_path": community}
            for b in range(1, BUILDINGS + 1)
        ]
    return units


def rosters(places: list[tuple[str, str, str, str]]) -> dict[str, list[list[Any]]]:
    """The four rosters of the district, each a header row and its rows."""
    used: set[str] = set()
    sheets: dict[str, list[list[Any]]] = {
        "党员": [["姓名", "手机", "所在单位", "党支部", "联系上限"]],
        "住户": [["楼栋", "单元", "室", "住户姓名", "住户手机", "独居老人", "残疾", "走访周期（天）"]],
        "企业": [["企业名称", "统一社会信用代码", "所在单位", "地址", "联系人", "联系电话"]],
        "服务卡": [["党员姓名", "党员手机", "党员所在单位", "联系住户", "联系企业", "服务事项"]],
    }
    for _, _, _, community in places:
        homes: dict[int, list[str]] = {}
        for b in range(1, BUILDINGS + 1):
            for room in range(HOUSEHOLDS):
                unit_no, number = str(room // 10 + 1), f"{room // 4 + 1}{room % 4 + 1:02d}"
                homes.setdefault(b, []).append(f"{b}幢{unit_no}单元{number}室")
                cadence = rng.choice((30, 30, 60, 90))
                for _ in range(rng.choice((1, 2, 2, 3, 3, 4))):
                    elderly, disabled = rng.random() < 0.08, rng.random() < 0.03
                    sheets["住户"].append(
                        [
                            f"{community}/{b}幢",
                            unit_no,
                            number,
                            name(),
                            mobile(used),
                            "是" if elderly else "否",
                            "是" if disabled else "否",
                            cadence,
                        ]
                    )
        codes = []
        for _ in range(ENTERPRISES):
            first17 = "9133011" + "".join(rng.choice(CHARSET) for _ in range(10))
            codes.append(first17 + credit_code_check_char(first17))
            sheets["企业"].append(
                [
                    f"杭州{rng.choice(COMMUNITY_WORDS)}{rng.choice(TRADES)}",
                    codes[-1],
                    community,
                    f"{rng.choice(COMMUNITY_WORDS)}路{rng.randint(1, 999)}号",
                    name(),
                    mobile(used),
                ]
            )
        for n in range(MEMBERS):
            b = n % BUILDINGS + 1
            who, phone = name(), mobile(used)
            sheets["党员"].append([who, phone, f"{community}/{b}幢", f"{community}第{n % 4 + 1}党支部", 8])
            mine = [homes[b].pop() for _ in range(HOUSEHOLDS * BUILDINGS // MEMBERS)]
            sheets["服务卡"].append(
                [who, phone, f"{community}/{b}幢", "、".join(mine), codes[n], "政策宣讲、维修协调"]
            )
    return sheets


def written(path: Path, title: str, rows: list[list[Any]]) -> Path:
    book = Workbook(write_only=True)
    sheet = book.create_sheet(title)
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def post(url: str, body: dict[str, Any], token: str) -> None:
    httpx.post(url, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=30).raise_for_status()


def get(url: str, token: str) -> Any:
    answer = httpx.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    answer.raise_for_status()
    return answer.json()


def started(var: Path) -> tuple[subprocess.Popen[bytes], dict[str, int]]:
    env = {
        **os.environ,
        "FOURLINKS_VAR_DIR": str(var),
        "FOURLINKS_LOG_LEVEL": "WARNING",
        "FOURLINKS_SKIP_SEED": "1",
    }
    up = subprocess.Popen(
        [sys.executable, "-m", "fourlinks_cli", "up", "--var-dir", str(var)],
        env=env,
        stdout=(var / "up.out").open("wb"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        state = read_state(var)
        if state and len(state.services) >= 4 and all(_ready(port) for port in state.services.values()):
            return up, state.services
        time.sleep(1)
    raise SystemExit(f"fourlinks up did not get ready: see {var / 'up.out'}")


def _ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def imported(var: Path, roster: Path, pids: dict[str, int]) -> dict[str, Any]:
    """`fourlinks import` of one file: its wall time, its CPU and the services' and NATS's."""
    env = {**os.environ, "FOURLINKS_VAR_DIR": str(var), "FOURLINKS_LOG_LEVEL": "WARNING"}
    before = {who: cpu_seconds(pid) for who, pid in pids.items()}
    own = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "fourlinks_cli",
            "import",
            str(roster),
            "--scope",
            "yuhang",
            "--in-flight",
            IN_FLIGHT,
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    figures = {
        "file": roster.name,
        "seconds": round(seconds, 1),
        "exit": done.returncode,
        "printed": done.stdout.strip().splitlines(),
        "cpu_s_command": round(after.ru_utime + after.ru_stime - own.ru_utime - own.ru_stime, 1),
        **{f"cpu_s_{who}": round(cpu_seconds(pid) - before[who], 1) for who, pid in pids.items()},
    }
    print(json.dumps(figures, ensure_ascii=False), file=sys.stderr, flush=True)
    if done.returncode not in (0, 1):
        print(done.stderr[-3000:], file=sys.stderr)
    return figures


def caught_up(url: str, token: str, wanted: dict[str, int]) -> None:
    """Wait for the members service's read model to show what was imported."""
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        coverage = get(f"{url}/coverage?unit=yuhang", token)
        if (
            coverage["households"]["total"] >= wanted["households"]
            and coverage["enterprises"]["total"] >= wanted["enterprises"]
        ):
            return
        time.sleep(1)


def main(scale: float, work: Path) -> dict[str, Any]:
    var = work / "var"
    var.mkdir(parents=True, exist_ok=True)
    up, ports = started(var)
    try:
        state = read_state(var)
        assert state is not None
        pids = {"members": state.pids["members"], "nats": state.pids.get("nats", 0)}
        pids = {who: pid for who, pid in pids.items() if pid}
        url = f"http://127.0.0.1:{ports['members']}"
        token = issue_token(Settings(var_dir=var), subject="bench", roles=["administrator"], scope="yuhang")
        places = communities(scale)
        units = tree(places)
        began = time.perf_counter()
        for unit in units:
            post(f"{url}/org-units", unit, token)
        figures: dict[str, Any] = {
            "scale": scale,
            "units": len(units),
            "tree_s": round(time.perf_counter() - began, 1),
        }
        began = time.perf_counter()
        sheets = rosters(places)
        files = {title: written(work / f"{title}.xlsx", title, rows) for title, rows in sheets.items()}
        figures["rows"] = {title: len(rows) - 1 for title, rows in sheets.items()}
        figures["write_s"] = round(time.perf_counter() - began, 1)
        print(json.dumps(figures, ensure_ascii=False), file=sys.stderr, flush=True)
        figures["imports"] = [imported(var, files[title], pids) for title in ("党员", "住户", "企业")]
        households = len({tuple(r[:3]) for r in sheets["住户"][1:]})
        caught_up(url, token, {"households": households, "enterprises": figures["rows"]["企业"]})
        figures["imports"].append(imported(var, files["服务卡"], pids))
        figures["again"] = imported(var, files["党员"], pids)
        return figures
    finally:
        up.send_signal(signal.SIGTERM)
        up.wait(timeout=120)


if __name__ == "__main__":
    work = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(tempfile.mkdtemp(prefix="import-cost-"))
    print(json.dumps(main(float(sys.argv[1]), work), ensure_ascii=False, indent=2))
