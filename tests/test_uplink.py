"""`fourlinks uplink` over the real district services: one round publishes each community's figures
into FOURLINKS_UPLINK, holding no name, phone or id of anyone; the province, sourcing that stream
under the district's code, answers for the district exactly the sums of the district's own
`/kpis?by=community`; a round with nothing changed publishes nothing."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nats
import pytest
from conftest import District, a_problem_assigned, bearer, eventually, running, work_and_close
from nats.aio.client import Client
from tools.console_pages import Route

from fourlinks_cli.uplink import Asking, Publisher, cycle, run, uplink_token
from fourlinks_cli.uplink import District as Sender
from fourlinks_console.services import Services
from fourlinks_console.settings import ConsoleSettings
from fourlinks_contracts.figures import COUNTS
from fourlinks_province.bootstrap import create_app as province_app
from fourlinks_province.settings import ProvinceSettings
from fourlinks_runtime.embedded import EmbeddedNats, start_nats
from fourlinks_runtime.federation import uplink_stream_config

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
YUHANG = "330110"
CANARIES = ["王小明", "13912345678", "张建国"]  # the district's resident, her phone, the member


@pytest.fixture(scope="module")
def uplink_nats(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedNats]:
    """The uplink's own server (its stream and the province's), apart from the events' server."""
    server = start_nats(tmp_path_factory.mktemp("uplink-nats"), name="uplink")
    yield server
    server.stop()


@pytest.fixture
async def uplink_nc(uplink_nats: EmbeddedNats) -> AsyncIterator[Client]:
    nc = await nats.connect(uplink_nats.url)
    yield nc
    await nc.close()


async def _streams(nc: Client) -> str:
    """FOURLINKS_UPLINK as a district provisions it, and a province stream sourcing it locally."""
    js = nc.jetstream()
    await nc.request("$JS.API.STREAM.CREATE.FOURLINKS_UPLINK", json.dumps(uplink_stream_config()).encode())
    province = f"PROVINCE_{uuid.uuid4().hex[:8]}"
    source = {
        "name": "FOURLINKS_UPLINK",
        "subject_transforms": [{"src": "uplink.>", "dest": f"{YUHANG}.uplink.>"}],
    }
    config = {"name": province, "storage": "file", "max_msgs_per_subject": 1, "sources": [source]}
    reply = await nc.request(f"$JS.API.STREAM.CREATE.{province}", json.dumps(config).encode(), timeout=5)
    assert "error" not in json.loads(reply.data), reply.data
    assert (await js.stream_info("FOURLINKS_UPLINK")).config.max_msgs_per_subject == 1
    return province


async def _everything_in(nc: Client, stream: str) -> list[str]:
    js = nc.jetstream()
    last = (await js.stream_info(stream)).state.last_seq
    found = []
    for sequence in range(1, last + 1):
        try:
            found.append(((await js.get_msg(stream, sequence)).data or b"").decode())
        except nats.js.errors.NotFoundError:
            continue  # replaced by a later statement on its subject
    return found


def _sums(rows: list[dict[str, Any]], names: tuple[str, ...]) -> dict[str, int]:
    return {name: sum(int(row[name]) for row in rows) for name in names}


async def test_one_round_of_the_uplink_gives_the_province_the_district_s_own_sums_and_no_personal_data(
    district: District, uplink_nc: Client, uplink_nats: EmbeddedNats, tmp_path: Path
) -> None:
    d = district
    member, _, _, task_id = await a_problem_assigned(d)
    await work_and_close(d, task_id, member, accept=True)
    province_stream = await _streams(uplink_nc)
    console = ConsoleSettings(
        members_url="http://members", assignments_url="http://assignments", feedback_url="http://feedback"
    )
    services = Services(console, transport=Route(d))
    asking = Asking(services, uplink_token(d.settings, "yuhang"))
    sender = Sender(YUHANG, "yuhang", "Asia/Shanghai")
    publisher = Publisher(uplink_nc)
    try:
        assert await run(asking, sender, publisher, once=True) == 0
        assert await cycle(asking, sender, publisher, lambda: datetime.now(UTC)) == 0  # nothing changed

        sent = await _everything_in(uplink_nc, "FOURLINKS_UPLINK")
        assert sent, "the round published nothing"
        assert [c for c in [*CANARIES, member, task_id] if any(c in text for text in sent)] == []

        auditor = bearer(d.settings, "auditor", scope="yuhang")
        tasks = await d.get(d.assignments, "/kpis", auditor, unit="yuhang", by="community")
        feedback = await d.get(d.feedback, "/kpis", auditor, unit="yuhang", by="community")
        month = tasks[0]["month"]
        settings = d.settings.model_copy(
            update={"var_dir": tmp_path / "province", "nats_url": uplink_nats.url}
        )
        app = province_app(settings, ProvinceSettings(stream=province_stream))
        async with running(app) as province:
            reader = bearer(d.settings, "province", scope="330000")

            async def the_district() -> list[dict[str, Any]]:
                reply = await province.get("/kpis", params={"by": "district", "month": month}, headers=reader)
                rows: list[dict[str, Any]] = reply.json()
                return rows if rows and rows[0]["feedback"] and rows[0]["tasks"] else []

            (row,) = await eventually(the_district)
            in_month = [r for r in tasks if r["month"] == month]
            assert {n: row[n] for n in COUNTS["tasks"]} == _sums(in_month, COUNTS["tasks"])
            fed = [r for r in feedback if r["month"] == month]
            assert {n: row[n] for n in COUNTS["feedback"]} == _sums(fed, COUNTS["feedback"])
            assert row["closure_rate"] == tasks[0]["closure_rate"]  # one community: its own rate
    finally:
        await services.aclose()


async def test_each_cycle_asks_with_a_new_token(tmp_path: Path) -> None:
    """A token lives an hour and the publisher runs for days: each cycle takes a new one (the first
    publisher kept its first token, and every cycle after an hour was refused)."""
    from fourlinks_runtime.upstate import free_port

    nobody = f"http://127.0.0.1:{free_port()}"  # no service answers: the cycle ends at once
    console = ConsoleSettings(members_url=nobody, assignments_url=nobody, feedback_url=nobody)
    services = Services(console)
    minted: list[str] = []

    def renew() -> str:
        minted.append(f"token-{len(minted) + 1}")
        return minted[-1]

    asking = Asking(services, "first", renew=renew)
    try:
        where = Sender("330110", "yuhang", "Asia/Shanghai")
        assert await run(asking, where, Publisher(None), once=True) == 1  # type: ignore[arg-type]
        assert await run(asking, where, Publisher(None), once=True) == 1  # type: ignore[arg-type]
    finally:
        await services.aclose()
    assert minted == ["token-1", "token-2"]
    assert asking.token == "token-2"
