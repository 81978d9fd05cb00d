"""The province service fed by a real nats-server: each district's figures go into a stream of
its own, and the province's stream sources them all under the district's code (here on one
server, the sources local; across leaf nodes the same sources carry an `external` API). What the
province answers is read through its HTTP API, as a province's or a city's staff read it."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import nats
import nats.js.errors
import pytest
from conftest import TEST_JWT_SECRET, _database_params, bearer, eventually, postgres_database, running
from nats.aio.client import Client

from fourlinks_contracts.figures import (
    COUNTS,
    CheckpointStatement,
    Figures,
    msg_id,
    payload_of,
    rate_of,
)
from fourlinks_kernel.notes import Checkpoint, SignerKey, signed_checkpoint
from fourlinks_province.bootstrap import create_app
from fourlinks_province.settings import ProvinceSettings
from fourlinks_runtime.embedded import EmbeddedNats, start_nats
from fourlinks_runtime.settings import Settings

pytestmark = pytest.mark.integration
MONTH = "2026-07"
YUHANG, XIHU, HAISHU = "330110", "330106", "330203"  # two districts of Hangzhou, one of Ningbo
NAMES = {YUHANG: "余杭区", XIHU: "西湖区", HAISHU: "海曙区"}


@pytest.fixture(scope="module")
def province_nats(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedNats]:
    server = start_nats(tmp_path_factory.mktemp("province-nats"), name="province")
    yield server
    server.stop()


@dataclass
class Province:
    """Three districts' streams sourced into the province's, and the province service on it."""

    nc: Client
    settings: Settings
    client: httpx.AsyncClient
    tag: str
    keys: dict[str, SignerKey]
    latest: dict[str, bytes] = field(default_factory=dict)  # what the province should hold, by subject

    def reader(self, role: str, scope: str) -> dict[str, str]:
        return bearer(self.settings, role, scope=scope)

    async def send(self, district: str, statement: Figures | CheckpointStatement, *, subject: str) -> bool:
        """Publish into the district's own stream; whether the stream stored it (not a duplicate)."""
        payload = payload_of(statement)
        ack = await self.nc.jetstream().publish(
            f"{self.tag}{district}.{subject}", payload, headers={"Nats-Msg-Id": msg_id(subject, payload)}
        )
        self.latest[f"{district}.{subject}"] = payload
        return not ack.duplicate

    async def figures(self, district: str, unit: str, kind: str, **counts: int) -> bool:
        street = unit.rsplit("/", 1)[0]
        statement = Figures(
            kind=kind,
            district=district,
            unit=unit,
            unit_name=f"{unit.rsplit('/', 1)[1]}社区",
            street=street,
            street_name=f"{street.rsplit('/', 1)[1]}街道",
            month=MONTH,
            position=100 + len(self.latest),
            published_at="2026-07-20T02:00:00+00:00",
            counts={name: counts.get(name, 0) for name in COUNTS[kind]} if kind in COUNTS else counts,
        )
        return await self.send(district, statement, subject=statement.subject)

    async def caught_up(self) -> None:
        """Wait until the province's stream holds the latest of what was sent on every subject
        (sourced under the district's code) and the province applied all it holds."""
        js = self.nc.jetstream()
        stream = f"PROVINCE_{self.tag}"

        async def holds(subject: str, payload: bytes) -> bool:
            try:
                return (await js.get_last_msg(stream, subject)).data == payload
            except nats.js.errors.NotFoundError:
                return False

        async def applied() -> bool:
            if not all([await holds(subject, payload) for subject, payload in self.latest.items()]):
                return False
            last = (await js.stream_info(stream)).state.last_seq
            ready = (await self.client.get("/health/ready")).json()
            return bool(ready["projections"]["province_figures"]["position"] >= last)

        await eventually(applied)

    async def get(self, path: str, headers: dict[str, str], **params: Any) -> Any:
        reply = await self.client.get(path, params=params, headers=headers)
        assert reply.status_code == 200, reply.text
        return reply.json()


async def _streams(nc: Client, tag: str) -> None:
    """A stream per district holding `<tag><code>.uplink.>`, and the province's sourcing them all
    under `<code>.uplink.>` (no subjects of its own)."""
    for code in NAMES:
        await nc.jetstream().add_stream(
            name=f"UPLINK_{tag}{code}", subjects=[f"{tag}{code}.uplink.>"], max_msgs_per_subject=1
        )
    sources = [
        {
            "name": f"UPLINK_{tag}{code}",
            "subject_transforms": [{"src": f"{tag}{code}.uplink.>", "dest": f"{code}.uplink.>"}],
        }
        for code in NAMES
    ]
    config = {"name": f"PROVINCE_{tag}", "storage": "file", "max_msgs_per_subject": 1, "sources": sources}
    reply = await nc.request(f"$JS.API.STREAM.CREATE.PROVINCE_{tag}", json.dumps(config).encode(), timeout=5)
    assert "error" not in json.loads(reply.data), reply.data


def _districts_file(path: Path, keys: dict[str, SignerKey]) -> Path:
    lines = []
    for code, name in NAMES.items():
        lines += ["[[districts]]", f'code = "{code}"', f'name = "{name}"']
        lines.append(f'log_key = "{keys[code].verifier.encoded()}"')
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(params=_database_params())
async def province(
    request: pytest.FixtureRequest, tmp_path: Path, province_nats: EmbeddedNats
) -> AsyncIterator[Province]:
    tag = f"t{uuid.uuid4().hex[:8]}"
    keys = {code: SignerKey.generate(f"fourlinks.invalid/{code}/test") for code in NAMES}
    async with AsyncExitStack() as stack:
        nc = await nats.connect(province_nats.url)
        stack.push_async_callback(nc.close)
        await _streams(nc, tag)
        settings = Settings(
            var_dir=tmp_path, nats_url=province_nats.url, jwt_secret=TEST_JWT_SECRET, ranking_min_sample=10
        )
        if request.param == "postgresql":
            url = await stack.enter_async_context(postgres_database())
            settings = settings.model_copy(update={"database_url": url})
        districts = _districts_file(tmp_path / "districts.toml", keys)
        app = create_app(settings, ProvinceSettings(districts_file=districts, stream=f"PROVINCE_{tag}"))
        client = await stack.enter_async_context(running(app))
        yield Province(nc, settings, client, tag, keys)


async def _two_districts_of_hangzhou_and_one_of_ningbo(p: Province) -> None:
    await p.figures(YUHANG, "yuhang/s01/c001", "tasks", tasks=12, closed=9, due=8, extended=2,
                    closed_on_time=5, worked=8, resolved_at_level=6, rework_count=1)  # fmt: skip
    await p.figures(YUHANG, "yuhang/s02/c003", "tasks", tasks=4, closed=4, due=4, closed_on_time=4,
                    worked=3, resolved_at_level=3)  # fmt: skip
    await p.figures(XIHU, "xihu/s01/c001", "tasks", tasks=7, closed=2, due=3, extended=1, closed_on_time=1,
                    worked=2, resolved_at_level=1, rework_count=2)  # fmt: skip
    await p.figures(HAISHU, "haishu/s01/c001", "tasks", tasks=30, closed=30, due=30, closed_on_time=30,
                    worked=30, resolved_at_level=30)  # fmt: skip
    await p.figures(YUHANG, "yuhang/s01/c001", "feedback", feedback=10, responded=9, callbacks_answered=6,
                    resolved=5, satisfied=4, not_reached=1)  # fmt: skip
    await p.figures(XIHU, "xihu/s01/c001", "feedback", feedback=3, responded=1, callbacks_answered=2,
                    resolved=2, satisfied=2)  # fmt: skip


def _summed(rows: list[dict[str, Any]], names: tuple[str, ...]) -> dict[str, int]:
    return {name: sum(row[name] for row in rows) for name in names}


TASKS, FEEDBACK = COUNTS["tasks"], COUNTS["feedback"]


async def test_the_province_sums_each_district_and_the_whole_with_the_districts_rate_rule(
    province: Province,
) -> None:
    p = province
    await _two_districts_of_hangzhou_and_one_of_ningbo(p)
    await p.caught_up()
    reader = p.reader("province", "330000")
    by_district = {row["group"]: row for row in await p.get("/kpis", reader, by="district", month=MONTH)}
    assert set(by_district) == {YUHANG, XIHU, HAISHU}
    yuhang = by_district[YUHANG]
    assert yuhang["name"] == "余杭区"
    assert {name: yuhang[name] for name in TASKS} == {
        "tasks": 16, "closed": 13, "due": 12, "extended": 2, "closed_on_time": 9,
        "worked": 11, "resolved_at_level": 9, "rework_count": 1,
    }  # fmt: skip
    assert yuhang["on_time_closure_rate"] == round(9 / (12 - 2), 4)  # extended tasks leave the denominator
    assert yuhang["satisfaction_rate"] == round(4 / 6, 4)  # the unreached call-back is in neither
    for row in by_district.values():
        for metric in ("closure_rate", "on_time_closure_rate", "resolved_at_level_rate", "response_rate"):
            assert row[metric] == rate_of(metric, row)

    (whole,) = await p.get("/kpis", reader, by="province", month=MONTH)
    assert whole["group"] == "330000"
    assert {n: whole[n] for n in (*TASKS, *FEEDBACK)} == _summed(
        list(by_district.values()), (*TASKS, *FEEDBACK)
    )
    assert whole["closure_rate"] == round(
        (13 + 2 + 30) / (16 + 7 + 30), 4
    )  # a rate of sums, no mean of rates

    cities = {row["group"]: row["tasks"] for row in await p.get("/kpis", reader, by="city", month=MONTH)}
    assert cities == {"330100": 16 + 7, "330200": 30}
    streets = {row["group"]: row["tasks"] for row in await p.get("/kpis", reader, by="street", month=MONTH)}
    assert streets == {
        "330110:yuhang/s01": 12,
        "330110:yuhang/s02": 4,
        "330106:xihu/s01": 7,
        "330203:haishu/s01": 30,
    }


async def test_restated_figures_replace_the_earlier_statement_and_a_repeated_one_is_stored_once(
    province: Province,
) -> None:
    p = province
    assert await p.figures(YUHANG, "yuhang/s01/c001", "tasks", tasks=10, closed=3)
    assert await p.figures(YUHANG, "yuhang/s01/c001", "tasks", tasks=12, closed=5)  # the month goes on
    await p.caught_up()
    (yuhang,) = await p.get("/kpis", p.reader("province", "330000"), by="district", month=MONTH)
    assert (yuhang["tasks"], yuhang["closed"]) == (12, 5)


async def test_a_statement_sent_twice_with_the_same_bytes_is_kept_once(province: Province) -> None:
    p = province
    statement = Figures(
        kind="coverage", district=XIHU, unit="xihu/s01/c001", unit_name="c", street="xihu/s01",
        street_name="s", month=MONTH, position=5, published_at="2026-07-20T02:00:00+00:00",
        counts=dict.fromkeys(COUNTS["coverage"], 1),
    )  # fmt: skip
    assert await p.send(XIHU, statement, subject=statement.subject)
    assert not await p.send(XIHU, statement, subject=statement.subject)  # Nats-Msg-Id: a duplicate


async def test_a_ranking_lists_only_groups_with_the_minimum_sample(province: Province) -> None:
    p = province
    await _two_districts_of_hangzhou_and_one_of_ningbo(p)  # Xihu raised 7 tasks: fewer than 10
    await p.caught_up()
    reader = p.reader("province", "330000")
    ranked = await p.get("/kpis/ranking", reader, by="district", metric="closure_rate", month=MONTH)
    assert ranked["minimum_sample"] == 10
    assert [row["group"] for row in ranked["ranking"]] == [HAISHU, YUHANG]  # 30/30, then 13/16
    by_feedback = await p.get("/kpis/ranking", reader, by="district", metric="satisfaction_rate", month=MONTH)
    assert by_feedback["ranking"] == []  # no district has 10 call-backs answered


async def test_a_city_reads_only_its_own_districts_and_a_district_role_is_refused(province: Province) -> None:
    p = province
    await _two_districts_of_hangzhou_and_one_of_ningbo(p)
    await p.caught_up()
    hangzhou = p.reader("city", "330100")
    seen = {row["group"] for row in await p.get("/kpis", hangzhou, by="district", month=MONTH)}
    assert seen == {YUHANG, XIHU}
    assert {d["code"] for d in await p.get("/districts", hangzhou)} == {YUHANG, XIHU}
    (whole,) = await p.get("/kpis", hangzhou, by="city", month=MONTH)
    assert whole["tasks"] == 16 + 7
    categories = await p.get("/kpis/categories", hangzhou, month=MONTH)
    assert categories == []
    secretary = await p.client.get("/kpis", headers=p.reader("secretary", "yuhang"))
    assert secretary.status_code == 403
    assert secretary.json()["code"] == "role_needed"
    city_of_a_path = await p.client.get("/kpis", headers=p.reader("city", "yuhang"))
    assert city_of_a_path.status_code == 403
    assert (await p.client.get("/kpis")).status_code == 401


async def test_each_district_says_how_old_its_figures_are_and_whether_its_checkpoint_verifies(
    province: Province,
) -> None:
    p = province
    await _two_districts_of_hangzhou_and_one_of_ningbo(p)
    checkpoint = Checkpoint(f"fourlinks.invalid/{YUHANG}/test", 2041, bytes(32))
    for district, key in ((YUHANG, p.keys[YUHANG]), (XIHU, p.keys[HAISHU])):  # Xihu signed with another key
        note = signed_checkpoint(checkpoint, key)
        statement = CheckpointStatement(
            district=district, origin=checkpoint.origin, note=note, published_at="2026-07-20T02:00:30+00:00"
        )
        await p.send(district, statement, subject="uplink.checkpoint")
    await p.caught_up()
    standing = {d["code"]: d for d in await p.get("/districts", p.reader("province", "330000"))}
    assert standing[YUHANG]["checkpoint"]["verified"] is True
    assert standing[YUHANG]["checkpoint"]["size"] == 2041
    assert (
        standing[XIHU]["checkpoint"] | {"verified": False, "problem": "signature_invalid"}
        == standing[XIHU]["checkpoint"]
    )
    assert standing[HAISHU]["checkpoint"]["problem"] == "no_checkpoint"
    assert standing[YUHANG]["as_of_position"] is not None
    assert standing[YUHANG]["heard_seconds_ago"] is not None


async def test_a_statement_naming_another_district_is_refused_and_the_rest_still_counts(
    province: Province,
) -> None:
    p = province
    forged = Figures(
        kind="tasks", district=HAISHU, unit="xihu/s01/c009", unit_name="c", street="xihu/s01",
        street_name="s", month=MONTH, position=1, published_at="2026-07-20T02:00:00+00:00",
        counts=dict.fromkeys(TASKS, 99),
    )  # fmt: skip
    await p.send(XIHU, forged, subject=forged.subject)  # Xihu's link, Haishu's name
    await p.figures(XIHU, "xihu/s01/c001", "tasks", tasks=7)
    await p.caught_up()
    reader = p.reader("province", "330000")
    rows = await p.get("/kpis", reader, by="district", month=MONTH)
    assert [(row["group"], row["tasks"]) for row in rows] == [(XIHU, 7)]
    standing = {d["code"]: d for d in await p.get("/districts", reader)}
    assert "names district 330203" in standing[XIHU]["refused"]["reason"]


async def test_the_read_model_is_rebuilt_from_the_stream_alone(province: Province, tmp_path: Path) -> None:
    p = province
    await _two_districts_of_hangzhou_and_one_of_ningbo(p)
    await p.caught_up()
    reader = p.reader("province", "330000")
    before = await p.get("/kpis", reader, by="street", month=MONTH)
    fresh = p.settings.model_copy(update={"var_dir": tmp_path / "fresh", "database_url": None})
    same = ProvinceSettings(districts_file=tmp_path / "districts.toml", stream=f"PROVINCE_{p.tag}")
    async with running(create_app(fresh, same)) as client:
        again = Province(p.nc, fresh, client, p.tag, p.keys, p.latest)
        await again.caught_up()
        assert await again.get("/kpis", reader, by="street", month=MONTH) == before


async def test_restated_categories_replace_the_earlier_ones_a_category_dropped_included(
    province: Province,
) -> None:
    p = province
    await p.figures(YUHANG, "yuhang/s01/c001", "categories", repairs=3, safety=2)
    await p.figures(XIHU, "xihu/s01/c001", "categories", repairs=1)
    await p.caught_up()
    await p.figures(YUHANG, "yuhang/s01/c001", "categories", repairs=4)  # no safety task any more
    await p.caught_up()
    hangzhou = p.reader("city", "330100")
    whole = await p.get("/kpis/categories", hangzhou, month=MONTH)
    assert [(row["group"], row["category"], row["count"]) for row in whole] == [("330000", "repairs", 5)]
    by_district = await p.get("/kpis/categories", hangzhou, month=MONTH, by="district")
    assert [(row["group"], row["count"]) for row in by_district] == [(YUHANG, 4), (XIHU, 1)]


async def _coverage(p: Province, unit: str, month: str, households: int, covered: int) -> None:
    street = unit.rsplit("/", 1)[0]
    counts = dict.fromkeys(COUNTS["coverage"], 0) | {"households": households, "households_covered": covered}
    statement = Figures(
        kind="coverage", district=YUHANG, unit=unit, unit_name="c", street=street, street_name=street,
        month=month, position=100 + len(p.latest), published_at="2026-07-20T02:00:00+00:00", counts=counts,
    )  # fmt: skip
    await p.send(YUHANG, statement, subject=statement.subject)


async def test_coverage_counts_each_community_as_its_latest_statement_up_to_the_month_asked(
    province: Province,
) -> None:
    p = province
    await _coverage(p, "yuhang/s01/c001", "2026-06", households=10, covered=5)
    await _coverage(p, "yuhang/s01/c001", "2026-07", households=10, covered=8)
    await _coverage(p, "yuhang/s02/c002", "2026-06", households=20, covered=20)  # nothing new in July
    await p.caught_up()
    reader = p.reader("province", "330000")
    (july,) = await p.get("/coverage", reader, by="district", month="2026-07")
    assert (july["group"], july["households"], july["households_covered"]) == (YUHANG, 30, 28)
    assert july["coverage_rate"] == rate_of("coverage_rate", july) == round(28 / 30, 4)
    (june,) = await p.get("/coverage", reader, by="district", month="2026-06")
    assert (june["households"], june["households_covered"]) == (30, 25)
    assert await p.get("/coverage", reader, by="district", month="2026-05") == []
    streets = {
        row["group"]: row["households_covered"] for row in await p.get("/coverage", reader, by="street")
    }
    assert streets == {f"{YUHANG}:yuhang/s01": 8, f"{YUHANG}:yuhang/s02": 20}
