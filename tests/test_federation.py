"""Three districts and a province on loopback, end to end (issue #39): each district runs its own
members, assignments and feedback services and its checkpointer on its own nats-server, seeded
differently through the real commands; `fourlinks uplink` sends one round of figures up; the
province, sourcing every district's FOURLINKS_UPLINK across a leafnode link, answers the sums of
the districts' own answers. A district whose link is cut keeps working, the province shows it as of
the last position it had, and catches up without counting anything twice when the link returns.
The province's store and database hold figures, and not one name, phone, id or key of a district."""

from __future__ import annotations

import asyncio
import base64
import json
import os
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import District, bearer, eventually, running, wait_ready
from nats.aio.client import Client
from pydantic import SecretStr
from tools.console_pages import Route
from tools.federation import Federation, Server

from fourlinks_assignments.bootstrap import create_app as assignments_app
from fourlinks_audit.anchors import reading_store, run_checkpoint, tiles_and_checkpoints
from fourlinks_audit.notes import SignerKey
from fourlinks_audit.published import published_app
from fourlinks_cli.uplink import Asking, Publisher, run, uplink_token
from fourlinks_cli.uplink import District as Sender
from fourlinks_console.services import Services
from fourlinks_console.settings import ConsoleSettings
from fourlinks_contracts.figures import COUNTS
from fourlinks_feedback.bootstrap import create_app as feedback_app
from fourlinks_members.bootstrap import create_app as members_app
from fourlinks_province.bootstrap import create_app as province_app
from fourlinks_province.settings import ProvinceSettings
from fourlinks_runtime.federation import PROVINCE_STREAM, UPLINK_STREAM, UPLINK_USER
from fourlinks_runtime.serve import SERVICES
from fourlinks_runtime.settings import Settings
from fourlinks_runtime.signing_keys import ensure_signing_keys

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]
CATCH_UP_SECONDS = 60.0
PROVINCE_SCOPE = "330000"


@dataclass(frozen=True)
class Seed:
    """What one district holds: its org units, its member, its residents and what they report."""

    name: str
    root: str
    street: tuple[str, str]
    community: tuple[str, str]
    member: tuple[str, str]
    residents: tuple[tuple[str, str], ...]
    reports: tuple[str, ...]  # one feedback per resident, in order
    closed: int  # how many of their tasks are worked and closed

    @property
    def community_path(self) -> str:
        return f"{self.root}/{self.street[0]}/{self.community[0]}"

    def canaries(self) -> list[str]:
        """Every personal word of the seed: names, phones, what the residents wrote."""
        people = [self.member[0], self.member[1], *(w for r in self.residents for w in r)]
        return [*people, *self.reports]


SEEDS = {
    "330110": Seed(
        name="余杭区",
        root="yuhang",
        street=("cangqian", "仓前街道"),
        community=("xinghe", "星河社区"),
        member=("张建国", "0571-88880001"),
        residents=(("王小明", "13912345678"), ("李秀英", "13912345679"), ("赵德胜", "13912345680")),
        reports=("厨房水管漏水", "楼道灯不亮了", "门禁卡失灵"),
        closed=2,
    ),
    "330106": Seed(
        name="西湖区",
        root="xihu",
        street=("lingyin", "灵隐街道"),
        community=("yuquan", "玉泉社区"),
        member=("陈卫东", "0571-87770002"),
        residents=(("孙桂兰", "13857112301"), ("周海涛", "13857112302")),
        reports=("雨棚被风吹坏", "下水道堵塞反味"),
        closed=1,
    ),
    "330108": Seed(
        name="滨江区",
        root="binjiang",
        street=("changhe", "长河街道"),
        community=("jiangbian", "江边社区"),
        member=("吴志强", "0571-86660003"),
        residents=(("郑美玲", "13588776601"),),
        reports=("电梯异响需要检修",),
        closed=0,
    ),
}
LATE_REPORT = "阳台渗水墙皮脱落"  # written in a district while its link is down


def _key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


# -- one district: its services, its checkpointer, its uplink ---------------------------------------
@dataclass
class Home:
    """A district running: its services, its checkpoints' signer, and what it wrote."""

    code: str
    seed: Seed
    d: District
    key: SignerKey
    uplink_nc: Client
    asking: Asking
    auditor: Settings  # the checkpointer's: NATS user `auditor`
    ids: list[str] = field(default_factory=list)  # member, households, feedback, tasks
    households: list[str] = field(default_factory=list)

    def token(self, role: str, subject: str | None = None, scope: str | None = None) -> dict[str, str]:
        return bearer(self.d.settings, role, scope=scope or self.seed.community_path, subject=subject)

    async def round(self) -> None:
        """A checkpoint signed over the district's log, then one round of `fourlinks uplink --once`."""
        await sign_checkpoint(self.auditor)
        sender = Sender(self.code, self.seed.root, "Asia/Shanghai")
        assert await run(self.asking, sender, Publisher(self.uplink_nc), once=True) == 0

    async def answers(self) -> dict[str, Any]:
        """The district's own answers, as its auditor reads them once every service caught up."""
        auditor = self.token("auditor", scope=self.seed.root)
        d, root = self.d, self.seed.root
        return {
            "tasks": await d.get(d.assignments, "/kpis", auditor, unit=root, by="community"),
            "feedback": await d.get(d.feedback, "/kpis", auditor, unit=root, by="community"),
            "whole": await d.get(d.assignments, "/kpis", auditor, unit=root, by="unit"),
            "coverage": await d.get(d.members, "/coverage", auditor, unit=root),
        }


def _user(server: Server, user: str) -> dict[str, Any]:
    """Settings' NATS sign-in as one of the server's users."""
    return {"nats_user": user, "nats_password": SecretStr(server.password(user))}


async def sign_checkpoint(settings: Settings) -> None:
    """What the district's checkpointer does when its log grew: catch up the tiles and sign."""
    async with reading_store(settings) as store:
        assert await run_checkpoint(store, settings, follow=False, rebuild=False) == 0


@asynccontextmanager
async def district_running(federation: Federation, code: str, root: Path) -> AsyncIterator[Home]:
    """One district's three services under their own NATS users, its published checkpoint, and the
    uplink's connection as `uplink`."""
    server = federation.districts[code]
    key = SignerKey.generate(f"fourlinks.invalid/{code}/e2e")
    var_dir = root / f"services-{code}"
    var_dir.mkdir()
    ensure_signing_keys(var_dir, SERVICES)
    base = Settings(
        var_dir=var_dir,
        nats_url=server.nats.url,
        master_key=_key(),
        jwt_secret=_key(),
        checkpoint_key=SecretStr(key.encoded()),
        log_level="WARNING",
    )
    async with AsyncExitStack() as stack:
        clients = []
        for make, user in (
            (members_app, "members"),
            (assignments_app, "assignments"),
            (feedback_app, "feedback"),
        ):
            clients.append(
                await stack.enter_async_context(running(make(base.model_copy(update=_user(server, user)))))
            )
        for client in clients:
            assert (await wait_ready(client, timeout=30)).status_code == 200
        members, assignments, feedback = clients
        d = District(base, members, assignments, feedback)
        auditor = base.model_copy(update=_user(server, "auditor"))
        await sign_checkpoint(auditor)  # the published store exists before the first round
        _, checkpoints = await stack.enter_async_context(tiles_and_checkpoints(auditor))
        audit = await stack.enter_async_context(
            httpx.AsyncClient(transport=httpx.ASGITransport(app=published_app(checkpoints)))
        )
        console = ConsoleSettings(
            members_url="http://members", assignments_url="http://assignments", feedback_url="http://feedback"
        )
        services = Services(console, transport=Route(d))
        stack.push_async_callback(services.aclose)
        uplink_nc = await server.connect(UPLINK_USER)
        stack.push_async_callback(uplink_nc.close)
        seed = SEEDS[code]
        asking = Asking(services, uplink_token(base, seed.root), audit, "http://audit")
        yield Home(code, seed, d, key, uplink_nc, asking, auditor)


# -- seeding through the real commands --------------------------------------------------------------
async def seed_district(home: Home) -> None:
    """Org units, a member with a card over every household, one report per resident, each handed
    to the member as a task, and the first `closed` of them worked and closed."""
    d, seed = home.d, home.seed
    admin = home.token("administrator", scope=seed.root)
    street_path = f"{seed.root}/{seed.street[0]}"
    for code, name, level, parent in (
        (seed.root, seed.name, "district", None),
        (seed.street[0], seed.street[1], "street", seed.root),
        (seed.community[0], seed.community[1], "community", street_path),
        ("b1", "1幢", "building", seed.community_path),
    ):
        body = {"code": code, "name": name, "level": level, "parent_path": parent}
        await d.post(d.members, "/org-units", body, admin)
    secretary = home.token("secretary", "secretary-1")
    building = f"{seed.community_path}/b1"
    member_body = {
        "name": seed.member[0],
        "public_phone": seed.member[1],
        "party_branch": f"{seed.community[1]}第一支部",
        "org_unit": building,
    }
    member = (await d.post(d.members, "/members", member_body, secretary))["id"]
    for room, (name, phone) in enumerate(seed.residents, start=101):
        people = [{"name": name, "phone": phone}]
        household = {"org_unit": building, "room": str(room), "residents": people}
        home.households.append((await d.post(d.members, "/households", household, secretary))["id"])
    card = {"households": home.households, "service_matters": ["repairs"]}
    await d.post(d.members, f"/members/{member}/card", card, secretary)
    home.ids += [member, *home.households]
    tasks = [
        await report(home, household, words)
        for household, words in zip(home.households, seed.reports, strict=True)
    ]
    for task_id in tasks[: seed.closed]:
        await work_and_close(home, task_id, member)


async def report(home: Home, household: str, words: str) -> str:
    """A resident's report of a repair; the task it became, once assigned to the member."""
    d = home.d
    resident = home.token("resident", household)
    body = {"category": "repairs", "household_id": household, "description": words}
    submitted = await d.post(d.feedback, "/feedback", body, resident)
    task_id: str = (await d.get(d.feedback, f"/feedback/{submitted['id']}", resident))["task_id"]

    async def assigned() -> bool:
        reply = await d.assignments.get(f"/tasks/{task_id}", headers=home.token("secretary", "secretary-1"))
        return reply.status_code == 200 and reply.json()["assignee"] is not None

    await eventually(assigned)
    home.ids += [submitted["id"], task_id]
    return task_id


async def work_and_close(home: Home, task_id: str, member: str) -> None:
    """The member accepts and resolves, an inspector checks, the secretary closes."""
    d, me = home.d, home.token("member", member)
    await d.post(d.assignments, f"/tasks/{task_id}/accept", {}, me)
    resolution = {"summary": "已修好", "result": "resolved", "evidence": ["photo-1"]}
    await d.post(d.assignments, f"/tasks/{task_id}/resolution", resolution, me)
    check = {"passed": True, "note": "复查合格"}
    await d.post(d.assignments, f"/tasks/{task_id}/spot-check", check, home.token("inspector", "inspector-1"))
    close = {"reason": "resolved"}
    await d.post(d.assignments, f"/tasks/{task_id}/close", close, home.token("secretary", "secretary-1"))


async def settled(home: Home) -> dict[str, Any]:
    """The district's answers once its policies stopped writing: the same twice, a moment apart."""

    async def same_twice() -> dict[str, Any] | None:
        first = await home.answers()
        await asyncio.sleep(0.5)
        return first if await home.answers() == first else None

    found: dict[str, Any] = await eventually(same_twice, timeout=30)
    return found


# -- what the district says, and what the province should ------------------------------------------
def _summed(rows: list[dict[str, Any]], names: tuple[str, ...]) -> dict[str, int]:
    return {name: sum(int(row[name]) for row in rows) for name in names}


def expected(answers: dict[str, Any], month: str) -> dict[str, int]:
    """The district's task and feedback counts of the month: its communities' answers summed."""
    tasks = [r for r in answers["tasks"] if r["month"] == month]
    feedback = [r for r in answers["feedback"] if r["month"] == month]
    return _summed(tasks, COUNTS["tasks"]) | _summed(feedback, COUNTS["feedback"])


def coverage_counts(coverage: dict[str, Any]) -> dict[str, int]:
    """The district's own coverage answer in the counts the figures carry."""
    return {
        "households": coverage["households"]["total"],
        "households_covered": coverage["households"]["covered"],
        "enterprises": coverage["enterprises"]["total"],
        "enterprises_covered": coverage["enterprises"]["covered"],
        "uncovered": coverage["uncovered"],
        "members_active": coverage["members_active"],
        "members_over_capacity": coverage["members_over_capacity"],
    }


KPI_COUNTS = (*COUNTS["tasks"], *COUNTS["feedback"])


@dataclass
class Province:
    """The province service, read as the province's staff read it."""

    client: httpx.AsyncClient
    reader: dict[str, str]

    async def get(self, path: str, **params: Any) -> Any:
        reply = await self.client.get(path, params=params, headers=self.reader)
        assert reply.status_code == 200, reply.text
        return reply.json()

    async def by_district(self, month: str) -> dict[str, dict[str, int]]:
        rows = await self.get("/kpis", by="district", month=month)
        return {row["group"]: {name: row[name] for name in KPI_COUNTS} for row in rows}

    async def districts(self) -> dict[str, dict[str, Any]]:
        return {row["code"]: row for row in await self.get("/districts")}

    async def holding(self, month: str, wanted: dict[str, dict[str, int]], positions: dict[str, int]) -> bool:
        """Whether the province shows these counts and as-of positions (it follows asynchronously)."""
        standing = await self.districts()
        as_of = {code: standing[code]["as_of_position"] for code in positions}
        return await self.by_district(month) == wanted and as_of == positions


@asynccontextmanager
async def province_running(federation: Federation, root: Path, homes: list[Home]) -> AsyncIterator[Province]:
    """The province service on the province's server, as user `province`, its districts file
    naming each district's code, name and public log key."""
    lines = []
    for home in homes:
        lines += ["[[districts]]", f'code = "{home.code}"', f'name = "{home.seed.name}"']
        lines.append(f'log_key = "{home.key.verifier.encoded()}"')
    districts_file = root / "province-districts.toml"
    districts_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    server = federation.province
    settings = Settings(
        var_dir=root / "province-var",
        nats_url=server.nats.url,
        nats_user="province",
        nats_password=SecretStr(server.password("province")),
        jwt_secret=_key(),
        log_level="WARNING",
    )
    settings.var_dir.mkdir()
    app = province_app(settings, ProvinceSettings(districts_file=districts_file, stream=PROVINCE_STREAM))
    async with running(app) as client:
        yield Province(client, bearer(settings, "province", scope=PROVINCE_SCOPE))


# -- the tests -----------------------------------------------------------------------------------
@pytest.fixture
async def homes(federation: Federation, tmp_path: Path) -> AsyncIterator[list[Home]]:
    """The three districts running and seeded, each differently."""
    async with AsyncExitStack() as stack:
        running_homes = [
            await stack.enter_async_context(district_running(federation, code, tmp_path)) for code in SEEDS
        ]
        for home in running_homes:
            await seed_district(home)
        yield running_homes


async def test_the_province_adds_up_its_districts_keeps_a_cut_one_as_of_its_last_position_and_holds_no_secret(
    federation: Federation, homes: list[Home], tmp_path: Path
) -> None:
    answers = {home.code: await settled(home) for home in homes}
    month = answers["330110"]["tasks"][0]["month"]
    for home in homes:
        await home.round()
    async with province_running(federation, tmp_path, homes) as province:
        before = await the_province_equals_its_districts(province, homes, answers, month)
        await a_cut_district_is_shown_as_of_its_last_position_and_catches_up(
            federation, province, homes, before, month
        )
        await the_districts_checkpoints_verify(province, homes)
    await nothing_personal_reached_the_province(federation, homes, tmp_path)


async def _figures_position(home: Home, month: str) -> int:
    """The log position the district's latest task figures are as of, in its FOURLINKS_UPLINK."""
    js = home.uplink_nc.jetstream()
    subject = f"uplink.figures.tasks.{month}.{home.seed.community_path.replace('/', '~')}"
    msg = await js.get_last_msg(UPLINK_STREAM, subject, direct=True)
    return int(json.loads(msg.data or b"{}")["position"])


async def the_province_equals_its_districts(
    province: Province, homes: list[Home], answers: dict[str, dict[str, Any]], month: str
) -> dict[str, dict[str, int]]:
    """(a) by district: each district's own community answers summed; by province: the sum of the
    districts; rates by the same rule as the district's own; coverage as the district's own."""
    wanted = {code: expected(found, month) for code, found in answers.items()}
    positions = {home.code: await _figures_position(home, month) for home in homes}
    await eventually(lambda: province.holding(month, wanted, positions), timeout=CATCH_UP_SECONDS)
    assert len({json.dumps(counts, sort_keys=True) for counts in wanted.values()}) == 3, "seeds alike"

    (whole,) = await province.get("/kpis", by="province", month=month)
    assert {name: whole[name] for name in KPI_COUNTS} == _summed(list(wanted.values()), KPI_COUNTS)
    for row in await province.get("/kpis", by="district", month=month):
        (own,) = [r for r in answers[row["group"]]["whole"] if r["month"] == month]
        for rate in ("closure_rate", "on_time_closure_rate", "resolved_at_level_rate"):
            assert row[rate] == own[rate], (row["group"], rate)
    coverage = {row["group"]: row for row in await province.get("/coverage", by="district")}
    for code, found in answers.items():
        own = coverage_counts(found["coverage"])
        assert {name: coverage[code][name] for name in own} == own
        assert coverage[code]["coverage_rate"] == found["coverage"]["coverage_rate"]
    return wanted


async def a_cut_district_is_shown_as_of_its_last_position_and_catches_up(
    federation: Federation,
    province: Province,
    homes: list[Home],
    before: dict[str, dict[str, int]],
    month: str,
) -> None:
    """(b) Xihu's link is cut; Xihu keeps taking reports and sends a round up; the province shows
    Xihu as of its last position; restored, it catches up: equal again, nothing counted twice."""
    xihu = next(home for home in homes if home.code == "330106")
    at_cut = {home.code: await _figures_position(home, month) for home in homes}
    federation.districts[xihu.code].cut_link()
    await asyncio.to_thread(federation.wait_for_links, len(homes) - 1)

    await report(xihu, xihu.households[0], LATE_REPORT)
    during = await settled(xihu)
    await xihu.round()  # the district's own stream takes it: the link is not the district's business
    moved = await _figures_position(xihu, month)
    assert moved > at_cut[xihu.code]
    assert expected(during, month) != before[xihu.code]

    standing = (await province.districts())[xihu.code]
    assert standing["as_of_position"] == at_cut[xihu.code]
    assert await province.by_district(month) == before  # as it last knew Xihu, the others unchanged

    federation.districts[xihu.code].restore_link()
    await asyncio.to_thread(federation.wait_for_links, len(homes))
    after = before | {xihu.code: expected(during, month)}
    positions = at_cut | {xihu.code: moved}
    await eventually(lambda: province.holding(month, after, positions), timeout=CATCH_UP_SECONDS)
    (whole,) = await province.get("/kpis", by="province", month=month)
    assert {name: whole[name] for name in KPI_COUNTS} == _summed(list(after.values()), KPI_COUNTS)
    await the_province_holds_each_district_s_latest_once(federation, homes)


async def the_province_holds_each_district_s_latest_once(federation: Federation, homes: list[Home]) -> None:
    """Every subject of every district's FOURLINKS_UPLINK is in the province's stream once, under
    the district's code, with the district's latest bytes; nothing else is."""
    wanted: dict[str, bytes] = {}
    for home in homes:
        for subject, data in (await _everything(home.uplink_nc, UPLINK_STREAM)).items():
            wanted[f"{home.code}.{subject}"] = data
    admin = await federation.province.connect("admin")
    try:

        async def held() -> bool:
            return await _everything(admin, PROVINCE_STREAM) == wanted

        await eventually(held, timeout=CATCH_UP_SECONDS)
        state = (await admin.jetstream().stream_info(PROVINCE_STREAM)).state
    finally:
        await admin.close()
    assert state.messages == len(wanted)


async def _everything(nc: Client, stream: str) -> dict[str, bytes]:
    """The latest message of every subject of a stream."""
    js = nc.jetstream()
    info = await js.stream_info(stream, subjects_filter=">")
    found = {}
    for subject in info.state.subjects or {}:
        found[subject] = (await js.get_last_msg(stream, subject, direct=True)).data or b""
    return found


async def the_districts_checkpoints_verify(province: Province, homes: list[Home]) -> None:
    """Each district's checkpoint, signed by its own checkpointer, verifies at the province."""
    standing = await province.districts()
    for home in homes:
        checkpoint = standing[home.code]["checkpoint"]
        assert checkpoint["verified"] is True, checkpoint
        assert checkpoint["origin"] == home.key.name
        assert standing[home.code]["link"]["error"] is None


# -- (c) what the province's disk holds ------------------------------------------------------------
def _files(*roots: Path) -> list[Path]:
    return [path for root in roots for path in root.rglob("*") if path.is_file()]


def _forms(secret: str | bytes) -> list[bytes]:
    """How a secret may stand in a file: its UTF-8 bytes, and JSON's \\u escapes of them."""
    if isinstance(secret, bytes):
        return [secret]
    escaped = json.dumps(secret).strip('"').encode()
    return list({secret.encode(), escaped})


def found_in(files: list[Path], secrets: list[str | bytes]) -> list[str]:
    """Which secrets any of the files holds, in any of their forms."""
    contents = [path.read_bytes() for path in files]
    return [
        repr(secret)
        for secret in secrets
        if any(form in content for form in _forms(secret) for content in contents)
    ]


async def _wrapped_keys(federation: Federation, code: str) -> list[bytes]:
    """The district's key table as stored: each resident's and household's wrapped key."""
    admin = await federation.districts[code].connect("admin")
    try:
        bucket = await admin.jetstream().key_value("FOURLINKS_KEYS")
        values = []
        for key in await bucket.keys():
            entry = await bucket.get(key)
            if entry.value:
                values.append(entry.value)
        return values
    finally:
        await admin.close()


async def nothing_personal_reached_the_province(
    federation: Federation, homes: list[Home], tmp_path: Path
) -> None:
    """(c) No name, phone, report, id or key of any district in the province's NATS store or its
    database; the figures are there (the search finds what is there)."""
    province_files = _files(federation.province.data_dir, tmp_path / "province-var")
    assert any(path.suffix == ".db" for path in province_files), "the province's database was not searched"
    secrets: list[str | bytes] = []
    for home in homes:
        settings = home.d.settings
        master = settings.master_key.get_secret_value() if settings.master_key else ""
        wrapped = await _wrapped_keys(federation, home.code)
        assert wrapped, "no wrapped key to look for"
        district_files = _files(federation.districts[home.code].data_dir)
        assert found_in(district_files, list(wrapped)) == [repr(w) for w in wrapped]  # the search sees them
        secrets += [*home.seed.canaries(), LATE_REPORT, *home.ids, master, base64.b64decode(master)]
        secrets += [*wrapped, home.key.encoded(), home.key.seed]
    assert found_in(province_files, secrets) == []
    figures = [home.seed.community[1] for home in homes] + [f"{home.code}.uplink.figures" for home in homes]
    assert found_in(province_files, list(figures)) == [repr(f) for f in figures]
