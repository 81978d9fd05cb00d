"""A realistic district made through the real commands: `fourlinks seed --district yuhang --scale 1.0`.

Scale 1.0 is Yuhang in 2021: 60 communities with 100 members, 500 households (25 per building)
and 100 enterprises each, so about 6,000 members, 30,000 households and 6,000 enterprises. Every
member gets a card for about five households of their own building and one enterprise, leaving a
few contacts uncovered so coverage has something to show. The same --seed gives the same district.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial

from nats.aio.client import Client

from fourlinks_contracts import full_registry
from fourlinks_contracts.members import HelperRole, OrgLevel
from fourlinks_kernel.access import Role
from fourlinks_kernel.envelope import Actor, CommandContext
from fourlinks_kernel.store import EventStore
from fourlinks_kernel.unit_of_work import UnitOfWork, run_command
from fourlinks_members.application import commands, handlers
from fourlinks_members.domain.contacts import NewResident
from fourlinks_members.domain.org_units import OrgUnit, unit_id_for
from fourlinks_members.domain.rules import credit_code_check_char
from fourlinks_runtime.eventstore import open_event_store
from fourlinks_runtime.natsconn import COMMAND_CONNECT_SECONDS, connect
from fourlinks_runtime.progress import Progress
from fourlinks_runtime.settings import Settings

STREETS_OF = {  # a few real streets of the districts `make province` shows; others take Yuhang's
    "拱墅区": ["米市巷", "湖墅", "小河", "拱宸桥", "大关", "上塘", "和睦", "祥符", "康桥", "半山"],
    "西湖区": ["北山", "西溪", "翠苑", "文新", "古荡", "灵隐", "转塘", "留下", "蒋村", "三墩"],
}
STREETS = ["南苑", "东湖", "临平", "星桥", "乔司", "运河", "崇贤", "仁和", "良渚", "闲林", "五常", "仓前"]
COMMUNITY_WORDS = [
    "星河",
    "藕花洲",
    "邱山",
    "梅堰",
    "望梅",
    "超峰",
    "北沙",
    "府前",
    "景星",
    "龙船坞",
    "荷禹",
    "玉架山",
]
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚"
)
GIVEN = "建国伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉兰红梅海燕雪晨宇轩子涵欣怡浩然梓萱"
TRADES = [
    "便利店",
    "五金店",
    "餐饮店",
    "物流有限公司",
    "科技有限公司",
    "服装厂",
    "汽修店",
    "药房",
    "家纺有限公司",
]
COMMUNITIES_AT_FULL_SCALE = 60
BUILDINGS, HOUSEHOLDS_PER_BUILDING, MEMBERS, ENTERPRISES = 20, 25, 100, 100
IN_FLIGHT = 48
_IDS = uuid.UUID("3b1f0a9e-7c2d-4e8f-9a6b-5d4c3b2a1f00")


@dataclass
class Community:
    """What the seed made in one community, to hand out cards from."""

    path: str
    members: list[tuple[str, str]] = field(default_factory=list)  # (member id, building path)
    households: dict[str, list[str]] = field(default_factory=dict)  # building path -> household ids
    enterprises: list[str] = field(default_factory=list)
    cards: dict[str, list[str]] = field(default_factory=dict)  # member id -> the contacts on its card


class Seeder:
    """Creates a district through the members service's command handlers."""

    def __init__(
        self,
        store: EventStore,
        *,
        district: str,
        scale: float,
        seed: int,
        phone_index: commands.PhoneIndex,
        name: str = "余杭区",
    ) -> None:
        self.store = store
        self.district, self.name = district, name
        self.streets = STREETS_OF.get(name, STREETS)
        self.scale = scale
        self.random = random.Random(seed)  # noqa: S311 - made-up data, reproducible by design
        self.seed = seed
        self.phone_index = phone_index
        self.actor = Actor(id="seed", roles=(Role.ADMINISTRATOR,), scope=district)
        self._counter = 0
        self.communities: list[Community] = []  # what `run` made, for whatever follows the seed

    def id(self, kind: str) -> str:
        """A stable id: the same seed makes the same district."""
        self._counter += 1
        return str(uuid.uuid5(_IDS, f"{self.seed}:{kind}:{self._counter}"))

    async def run(self) -> dict[str, int]:
        """Create the whole district; returns what was made."""
        communities = self.communities = self._plan()
        await self._tree(communities)
        made = {"members": 0, "households": 0, "enterprises": 0, "cards": 0}
        for community in communities:
            await self._people(community, made)
        cards = Progress("cards", sum(len(c.members) for c in communities))
        for community in communities:
            made["cards"] += await self._cards(community, cards)
        cards.finish()
        return made

    def _plan(self) -> list[Community]:
        count = max(1, round(COMMUNITIES_AT_FULL_SCALE * self.scale))
        streets = max(1, min(len(self.streets), round(count / 5)))
        return [Community(f"{self.district}/s{n % streets + 1:02d}/c{n + 1:03d}") for n in range(count)]

    async def _tree(self, communities: list[Community]) -> None:
        units: list[tuple[str, OrgLevel, str]] = [(self.district, OrgLevel.DISTRICT, self.name)]
        for street in sorted({c.path.rsplit("/", 1)[0] for c in communities}):
            index = int(street.rsplit("s", 1)[-1]) - 1
            units.append((street, OrgLevel.STREET, f"{self.streets[index % len(self.streets)]}街道"))
        for n, community in enumerate(communities):
            units.append(
                (
                    community.path,
                    OrgLevel.COMMUNITY,
                    f"{COMMUNITY_WORDS[n % len(COMMUNITY_WORDS)]}社区{n // 12 or ''}",
                )
            )
            units += [
                (f"{community.path}/b{b:02d}", OrgLevel.BUILDING, f"{b}幢") for b in range(1, BUILDINGS + 1)
            ]
        progress = Progress("org units", len(units))
        for path, level, name in units:  # parents before children: sequential
            await self._command(self._create_unit(path, level, name))
            progress.advance()
        progress.finish()

    def _create_unit(self, path: str, level: OrgLevel, name: str) -> Callable[[UnitOfWork], Awaitable[None]]:
        command = commands.CreateOrgUnit(actor=self.actor, path=path, name=name, level=level)
        return partial(handlers.create_org_unit, command)

    async def _people(self, community: Community, made: dict[str, int]) -> None:
        buildings = [f"{community.path}/b{b:02d}" for b in range(1, BUILDINGS + 1)]
        work: list[Callable[[UnitOfWork], Awaitable[None]]] = []
        for n in range(MEMBERS):
            member_id, building = self.id("member"), buildings[n % BUILDINGS]
            community.members.append((member_id, building))
            work.append(self._member(member_id, building, community.path, n))
        for building in buildings:
            for room in range(HOUSEHOLDS_PER_BUILDING):
                household_id = self.id("household")
                community.households.setdefault(building, []).append(household_id)
                work.append(self._household(household_id, building, room))
        for _ in range(ENTERPRISES):
            enterprise_id = self.id("enterprise")
            community.enterprises.append(enterprise_id)
            work.append(self._enterprise(enterprise_id, community.path))
        await self._all(f"{community.path.rsplit('/', 1)[-1]} people", work)
        made["members"] += MEMBERS
        made["households"] += BUILDINGS * HOUSEHOLDS_PER_BUILDING
        made["enterprises"] += ENTERPRISES

    def _member(
        self, member_id: str, building: str, community: str, n: int
    ) -> Callable[[UnitOfWork], Awaitable[None]]:
        name, phone = self._name(), self._mobile()
        branch = f"{community.rsplit('/', 1)[-1]}第{n % 4 + 1}党支部"
        helper_id, helper_name = self.id("helper"), self._name()

        async def work(uow: UnitOfWork) -> None:
            await handlers.register_member(
                commands.RegisterMember(
                    actor=self.actor,
                    member_id=member_id,
                    name=name,
                    public_phone=phone,
                    party_branch=branch,
                    org_unit=building,
                    capacity=8,
                ),
                uow,
            )
            if n < BUILDINGS:  # the first member of each building gets its building chief as a helper
                await handlers.attach_helper(
                    commands.AttachHelper(
                        actor=self.actor,
                        member_id=member_id,
                        helper_id=helper_id,
                        role=HelperRole.BUILDING_CHIEF,
                        name=helper_name,
                        phone=None,
                    ),
                    uow,
                )

        return work

    def _household(
        self, household_id: str, building: str, room: int
    ) -> Callable[[UnitOfWork], Awaitable[None]]:
        people = [
            NewResident(
                self.id("resident"),
                self._name(),
                self._mobile(),
                elderly_living_alone=self.random.random() < 0.08,
                disability=self.random.random() < 0.03,
            )
            for _ in range(self.random.choice((1, 2, 2, 3, 3, 4)))
        ]
        cadence = self.random.choice((30, 30, 60, 90))

        async def work(uow: UnitOfWork) -> None:
            await handlers.register_household(
                commands.RegisterHousehold(
                    actor=self.actor,
                    household_id=household_id,
                    org_unit=building,
                    unit_no=str(room // 10 + 1),
                    room=f"{room // 4 + 1}{room % 4 + 1:02d}",
                    visit_cadence_days=cadence,
                    residents=people,
                    phone_index=self.phone_index,
                ),
                uow,
            )

        return work

    def _enterprise(self, enterprise_id: str, community: str) -> Callable[[UnitOfWork], Awaitable[None]]:
        first17 = "9133011" + "".join(
            self.random.choice("0123456789ABCDEFGHJKLMNPQRTUWXY") for _ in range(10)
        )
        code = first17 + credit_code_check_char(first17)
        name = f"杭州{self.random.choice(COMMUNITY_WORDS)}{self.random.choice(TRADES)}"
        contact_person_id, contact_name, phone = self.id("contact-person"), self._name(), self._mobile()
        address = f"{self.random.choice(COMMUNITY_WORDS)}路{self.random.randint(1, 999)}号"

        async def work(uow: UnitOfWork) -> None:
            await handlers.register_enterprise(
                commands.RegisterEnterprise(
                    actor=self.actor,
                    enterprise_id=enterprise_id,
                    org_unit=community,
                    name=name,
                    credit_code=code,
                    address=address,
                    contact_person_id=contact_person_id,
                    contact_name=contact_name,
                    contact_phone=phone,
                    phone_index=self.phone_index,
                ),
                uow,
            )

        return work

    async def _cards(self, community: Community, progress: Progress) -> int:
        """About five households of the member's building and one enterprise each; ~4% stay uncovered."""
        pools = {b: list(ids) for b, ids in community.households.items()}
        enterprises = list(community.enterprises)
        work = []
        for member_id, building in community.members:
            pool = pools[building]
            households = [pool.pop() for _ in range(min(len(pool), 5 if self.random.random() < 0.8 else 4))]
            firms = [enterprises.pop()] if enterprises and self.random.random() < 0.96 else []
            community.cards[member_id] = [*households, *firms]
            work.append(self._card(member_id, households, firms))
        await self._all(None, work, progress)
        return len(work)

    def _card(
        self, member_id: str, households: list[str], enterprises: list[str]
    ) -> Callable[[UnitOfWork], Awaitable[None]]:
        matters = self.random.sample(
            ["policy_explanation", "dispute_mediation", "repairs", "elderly_care"], 2
        )
        if enterprises:
            matters.append("enterprise_services")

        async def work(uow: UnitOfWork) -> None:
            await handlers.issue_card(
                commands.IssueCard(
                    actor=self.actor,
                    member_id=member_id,
                    households=households,
                    enterprises=enterprises,
                    matters=matters,
                    note="",
                ),
                uow,
            )

        return work

    async def _all(
        self,
        label: str | None,
        work: list[Callable[[UnitOfWork], Awaitable[None]]],
        progress: Progress | None = None,
    ) -> None:
        own = progress is None
        progress = progress or Progress(label or "commands", len(work))
        gate = asyncio.Semaphore(IN_FLIGHT)

        async def one(item: Callable[[UnitOfWork], Awaitable[None]]) -> None:
            async with gate:
                await self._command(item)
                progress.advance()

        await asyncio.gather(*(one(item) for item in work))
        if own:
            progress.finish()

    async def _command(self, work: Callable[[UnitOfWork], Awaitable[None]]) -> None:
        await run_command(self.store, CommandContext.new(self.actor), work)

    def _name(self) -> str:
        return self.random.choice(SURNAMES) + "".join(
            self.random.choices(GIVEN, k=self.random.choice((1, 2)))
        )

    def _mobile(self) -> str:
        return f"1{self.random.choice('3589')}{self.random.randint(0, 999_999_999):09d}"


def plan_size(scale: float) -> dict[str, int]:
    """How much a scale makes, before running it."""
    communities = max(1, round(COMMUNITIES_AT_FULL_SCALE * scale))
    return {
        "communities": communities,
        "members": communities * MEMBERS,
        "households": communities * BUILDINGS * HOUSEHOLDS_PER_BUILDING,
        "enterprises": communities * ENTERPRISES,
    }


Then = Callable[[Client, Seeder], Awaitable[dict[str, int]]]
"""What follows the seed on its connection, with what the seed made (a story of weeks of work)."""


async def seed_district(
    settings: Settings,
    *,
    district: str,
    scale: float,
    seed: int = 2021,
    name: str = "余杭区",
    at: Callable[[], datetime] | None = None,
    then: Then | None = None,
) -> dict[str, int] | None:
    """Seed a district into the event store of `settings`; None when it already exists. `at`: when
    its events occur (the wall clock unless said); `then`: what follows, its counts added."""
    nc = await connect(settings, name="fourlinks-seed", within=COMMAND_CONNECT_SECONDS)
    try:
        store, cipher = open_event_store(nc, settings, full_registry(), service="members")
        if at is not None:
            store.codec.clock = at
        existing = await store.load(OrgUnit.stream_of(unit_id_for(district)))
        if existing.events:
            return None
        seeder = Seeder(
            store,
            district=district,
            scale=scale,
            seed=seed,
            phone_index=lambda p: cipher.blind_index(p, purpose="phone"),
            name=name,
        )
        made = await seeder.run()
        return made if then is None else {**made, **await then(nc, seeder)}
    finally:
        await nc.close()
