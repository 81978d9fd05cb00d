"""A province service faked as it answers the console (tests of the 省市汇总 page, in
apps/console/tests and in a browser): three districts — two of Hangzhou, one of Ningbo — one heard
a moment ago with its checkpoint verified, one silent for two days behind a broken link with a
checkpoint that does not verify, one never heard from; each reader answered only the districts of
their own code, as the province service answers them: a trend of the months asked, ending this
month; coverage stated this month only (none for the months before)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import jwt

from fourlinks_console.figures import months_back
from fourlinks_console.i18n import Language
from fourlinks_contracts.figures import COUNTS, RATES, rates_of

PROVINCE_URL = "http://province.test:8110"
DISTRICT_CODE = re.compile(r"(?<![0-9A-Za-z])[1-9]\d{5}(?![0-9A-Za-z])")
"""A GB/T 2260 code standing alone in a page's text: districts are named, never coded."""
LANG = Language.of("zh_CN", "Asia/Shanghai")
NOW = datetime.now(UTC).replace(microsecond=0)
HEARD = (NOW - timedelta(minutes=3)).isoformat()
LOST = (NOW - timedelta(days=2)).isoformat()
LAST_WORD = (NOW - timedelta(days=2) + timedelta(hours=1)).isoformat()  # its checkpoint, after its figures
MONTH = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")


def _district(code: str, name: str, **standing: Any) -> dict[str, Any]:
    line = {
        "code": code,
        "name": name,
        "as_of_position": None,
        "as_of": None,
        "heard_seconds_ago": None,
        "stale": True,
        "checkpoint": {
            "verified": False,
            "problem": "no_checkpoint",
            "size": None,
            "origin": None,
            "published_at": None,
        },
        "link": None,
        "refused": None,
    }
    return line | standing


def _checkpoint(**more: Any) -> dict[str, Any]:
    return {
        "verified": True,
        "problem": None,
        "size": 12345,
        "origin": "fourlinks.invalid/x",
        "published_at": None,
    } | more


DISTRICTS = [
    _district(
        "330110",
        "余杭区",
        as_of_position=48211,
        as_of=HEARD,
        heard_seconds_ago=180.0,
        stale=False,
        checkpoint=_checkpoint(published_at=HEARD),
        link={"lag": 0, "active_seconds": 1.5, "error": None},
    ),
    _district(
        "330106",
        "西湖区",
        as_of_position=9000,
        as_of=LOST,
        stale=True,
        checkpoint=_checkpoint(verified=False, problem="signature_invalid", published_at=LAST_WORD),
        link={"lag": 42, "active_seconds": 172800.0, "error": "no responders"},
        refused={"subject": "330106.uplink.figures.tasks.2026-12.xihu~s01~c001", "reason": "unreadable"},
    ),
    _district("330203", "海曙区"),  # Ningbo: never heard from
]
STREETS = {
    "330110": ("yuhang/s01", "仓前街道"),
    "330106": ("xihu/s02", "北山街道"),
    "330203": ("haishu/s01", "鼓楼街道"),
}


def _counts(seed: int) -> dict[str, int]:
    tasks = dict(zip(COUNTS["tasks"], (40 + seed, 30 + seed, 25, 2, 20, 28, 24, 3), strict=True))
    feedback = dict(zip(COUNTS["feedback"], (50 + seed, 45, 30, 24, 26, 4), strict=True))
    return tasks | feedback


def figures_row(group: str, name: str, district: str | None, seed: int) -> dict[str, Any]:
    counts = _counts(seed)
    rates = rates_of(tuple(r for r in RATES if r != "coverage_rate"), counts)
    return {"group": group, "name": name, "district": district, "month": MONTH, **counts, **rates}


def coverage_row(code: str, name: str, seed: int) -> dict[str, Any]:
    counts = dict(zip(COUNTS["coverage"], (1000 + seed, 950, 80, 70, 60, 120, 2), strict=True))
    return {
        "group": code,
        "name": name,
        "district": code,
        "month": MONTH,
        **counts,
        **rates_of(("coverage_rate",), counts),
    }


def trend_months(count: int) -> list[str]:
    """The months the province's trend answers: `count` of them, this one the last."""
    return months_back(date.fromisoformat(f"{MONTH}-01"), count)


def trend_point(month: str, metric: str, scope: str) -> dict[str, Any]:
    """A month of the trend: its rate the month's number over 20, its sample the month's number."""
    number = int(month[5:])
    return {"month": month, "metric": metric, "value": number / 20, "sample": number, "group": scope}


class FakeProvince:
    """The province service as the console calls it: each reader the districts whose code starts
    with their city's first 4 (province's first 2) digits; every call kept, with whose token."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, dict[str, str], dict[str, Any]]] = []
        self.ranked = True
        """False: no district or street has the minimum sample, every ranking is empty."""

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.host != "province.test":
            return httpx.Response(503)
        if request.url.path == "/health/live":
            return httpx.Response(200, json={"status": "live"})
        claims = jwt.decode(request.headers["authorization"].split()[1], options={"verify_signature": False})
        params = dict(request.url.params)
        self.asked.append((request.url.path, params, claims))
        prefix = claims["scope"][:2] if "province" in claims["roles"] else claims["scope"][:4]
        seen = [d for d in DISTRICTS if d["code"].startswith(prefix)]
        return httpx.Response(200, json=self._answer(request.url.path, params, seen, claims["scope"]))

    def _answer(self, path: str, params: dict[str, str], seen: list[dict[str, Any]], scope: str) -> Any:
        kpis = [figures_row(d["code"], d["name"], d["code"], i) for i, d in enumerate(seen)]
        streets = [
            figures_row(f"{d['code']}:{STREETS[d['code']][0]}", STREETS[d["code"]][1], d["code"], i)
            for i, d in enumerate(seen)
        ]
        if path == "/districts":
            return seen
        if path == "/kpis":
            return kpis if params["by"] == "district" else [figures_row(scope, scope, None, 7)]
        if path == "/kpis/ranking":
            ranked = (kpis if params["by"] == "district" else streets)[:2] if self.ranked else []
            return {"metric": params["metric"], "minimum_sample": 10, "ranking": ranked, "total": len(ranked)}
        if path == "/kpis/trend":
            return [trend_point(m, params["metric"], scope) for m in trend_months(int(params["months"]))]
        if path == "/kpis/categories":
            if params["by"] == "province":
                return [{"group": scope, "name": scope, "district": None, "category": "repairs", "count": 7}]
            return [
                {
                    "group": d["code"],
                    "name": d["name"],
                    "district": d["code"],
                    "category": "safety",
                    "count": 3,
                }
                for d in seen
            ]
        if path == "/coverage":
            if params.get("month", MONTH) < MONTH:
                return []
            return [coverage_row(d["code"], d["name"], i) for i, d in enumerate(seen)]
        return {"detail": "not faked"}
