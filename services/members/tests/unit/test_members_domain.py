"""Rules of the members domain, given events, when a command, then events or an error (in memory)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from functools import partial
from typing import Any

import pytest
from conftest import InMemoryWorld

from fourlinks_contracts.members import (
    ContactKind,
    DeactivationReason,
    HelperRole,
    HouseholdRegistered,
    OrgLevel,
    ResidentAdded,
    Urgency,
)
from fourlinks_kernel.envelope import Actor
from fourlinks_kernel.errors import InvalidCommand, NotAllowed, NotFound, StateConflict
from fourlinks_kernel.ids import new_id
from fourlinks_kernel.unit_of_work import UnitOfWork
from fourlinks_members.application import handlers
from fourlinks_members.application.commands import (
    AttachHelper,
    CreateOrgUnit,
    DeactivateMember,
    DetachHelper,
    EraseResident,
    IssueCard,
    RecordVisit,
    RegisterHousehold,
    RegisterMember,
    RenameOrgUnit,
    ReviseCard,
    RevokeCard,
    TransferMember,
)
from fourlinks_members.domain.cards import ServiceCard, card_id_for
from fourlinks_members.domain.contacts import Household, NewResident
from fourlinks_members.domain.org_units import OrgUnit, unit_id_for
from fourlinks_members.domain.rules import check_credit_code, credit_code_check_char

SECRETARY = Actor(id="secretary-1", roles=("secretary",), scope="yuhang")
TREE = [
    ("yuhang", OrgLevel.DISTRICT),
    ("yuhang/nanyuan", OrgLevel.STREET),
    ("yuhang/nanyuan/xinghe", OrgLevel.COMMUNITY),
    ("yuhang/nanyuan/xinghe/b1", OrgLevel.BUILDING),
    ("yuhang/nanyuan/xinghe/b2", OrgLevel.BUILDING),
    ("yuhang/nanyuan/linping", OrgLevel.COMMUNITY),
    ("yuhang/nanyuan/linping/b9", OrgLevel.BUILDING),
]


class World(InMemoryWorld):
    """An in-memory store with the org tree in place and helpers to run commands."""

    async def run(self, work: Callable[[UnitOfWork], Awaitable[Any]], actor: Actor = SECRETARY) -> list[str]:
        return await super().run(work, actor)

    async def build_tree(self) -> None:
        for path, level in TREE:
            command = CreateOrgUnit(actor=SECRETARY, path=path, name=path, level=level)
            await self.run(partial(handlers.create_org_unit, command))

    async def member(self, unit: str = "yuhang/nanyuan/xinghe/b1", capacity: int = 3) -> str:
        member_id = new_id()
        await self.run(
            lambda uow: handlers.register_member(
                RegisterMember(
                    actor=SECRETARY,
                    member_id=member_id,
                    name="张建国",
                    public_phone="0571-8888000",
                    party_branch="星河社区第一支部",
                    org_unit=unit,
                    capacity=capacity,
                ),
                uow,
            )
        )
        return member_id

    async def household(self, unit: str = "yuhang/nanyuan/xinghe/b1", phone: str = "13912345678") -> str:
        household_id = new_id()
        resident = NewResident(new_id(), "王小明", phone, elderly_living_alone=True)
        await self.run(
            lambda uow: handlers.register_household(
                RegisterHousehold(
                    actor=SECRETARY,
                    household_id=household_id,
                    org_unit=unit,
                    unit_no="1",
                    room="101",
                    visit_cadence_days=30,
                    residents=[resident],
                    phone_index=lambda p: self.cipher.blind_index(p, purpose="phone"),
                ),
                uow,
            )
        )
        return household_id

    async def issue(
        self, member_id: str, households: list[str], enterprises: list[str] | None = None
    ) -> list[str]:
        return await self.run(
            lambda uow: handlers.issue_card(
                IssueCard(
                    actor=SECRETARY,
                    member_id=member_id,
                    households=households,
                    enterprises=enterprises or [],
                    matters=["repairs", "elderly_care"],
                    note="",
                ),
                uow,
            )
        )

    async def card(self, member_id: str) -> ServiceCard:
        loaded = await self.store.load(ServiceCard.stream_of(card_id_for(member_id)))
        return ServiceCard.replay(card_id_for(member_id), [r.event for r in loaded.events])

    async def household_state(self, household_id: str) -> Household:
        loaded = await self.store.load(Household.stream_of(household_id))
        return Household.replay(household_id, [r.event for r in loaded.events])


@pytest.fixture
async def world() -> World:
    built = World()
    await built.build_tree()
    return built


async def test_issuing_a_card_links_every_contact_in_one_atomic_command(world: World) -> None:
    member = await world.member()
    one, two = await world.household(), await world.household()
    events = await world.issue(member, [one, two])
    assert events == ["ServiceCardIssued", "ContactLinked", "ContactLinked"]
    assert (await world.household_state(one)).member_id == member


async def test_a_contact_is_in_the_scope_of_at_most_one_active_card(world: World) -> None:
    first, second = await world.member(), await world.member()
    shared, other = await world.household(), await world.household()
    await world.issue(first, [shared])
    before = await world.store.last_position()
    with pytest.raises(StateConflict, match="already in the scope of card"):
        await world.issue(second, [other, shared])
    assert await world.store.last_position() == before  # nothing half-written: not even `other`
    assert (await world.household_state(other)).card_id is None


async def test_a_scope_larger_than_the_capacity_is_refused(world: World) -> None:
    member = await world.member(capacity=1)
    households = [await world.household(), await world.household()]
    with pytest.raises(InvalidCommand, match="capacity is 1"):
        await world.issue(member, households)


async def test_contacts_are_served_by_a_member_of_their_own_community(world: World) -> None:
    member = await world.member()
    far = await world.household(unit="yuhang/nanyuan/linping/b9")
    with pytest.raises(InvalidCommand, match="served nearby"):
        await world.issue(member, [far])


async def test_deactivation_revokes_the_card_and_uncovers_every_contact_at_once(world: World) -> None:
    member = await world.member()
    households = [await world.household(), await world.household()]
    await world.issue(member, households)
    events = await world.run(
        lambda uow: handlers.deactivate_member(
            DeactivateMember(
                actor=SECRETARY, member_id=member, reason=DeactivationReason.MOVED_AWAY, note=""
            ),
            uow,
        )
    )
    assert events == ["MemberDeactivated", "ServiceCardRevoked", "ContactUnlinked", "ContactUnlinked"]
    assert [(await world.household_state(h)).card_id for h in households] == [None, None]
    with pytest.raises(StateConflict, match="deactivated"):
        await world.issue(member, [])


async def test_a_transfer_also_uncovers_the_members_contacts(world: World) -> None:
    member = await world.member()
    household = await world.household()
    await world.issue(member, [household])
    events = await world.run(
        lambda uow: handlers.transfer_member(
            TransferMember(
                actor=SECRETARY, member_id=member, to_unit="yuhang/nanyuan/linping/b9", reason="moved"
            ),
            uow,
        )
    )
    assert events == ["MemberTransferred", "ServiceCardRevoked", "ContactUnlinked"]


async def test_a_revision_links_added_contacts_unlinks_removed_ones_and_counts_up(world: World) -> None:
    member = await world.member()
    kept, dropped, added = await world.household(), await world.household(), await world.household()
    await world.issue(member, [kept, dropped])
    events = await world.run(
        lambda uow: handlers.revise_card(
            ReviseCard(
                actor=SECRETARY,
                member_id=member,
                households=[kept, added],
                enterprises=[],
                matters=["repairs"],
                note="",
                reason="building 1 reorganised",
            ),
            uow,
        )
    )
    assert events == ["ServiceCardRevised", "ContactUnlinked", "ContactLinked"]
    card = await world.card(member)
    assert (card.revision, card.households) == (2, [kept, added])
    assert (await world.household_state(dropped)).card_id is None


async def test_a_revision_from_a_stale_read_is_refused_and_changes_nothing(world: World) -> None:
    member = await world.member()
    first, second = await world.household(), await world.household()
    await world.issue(member, [first])

    def revision(households: list[str], expected: int) -> Callable[[UnitOfWork], Awaitable[object]]:
        command = ReviseCard(
            actor=SECRETARY,
            member_id=member,
            households=households,
            enterprises=[],
            matters=["repairs"],
            note="",
            reason="a contact added",
            expected_revision=expected,
        )
        return lambda uow: handlers.revise_card(command, uow)

    await world.run(revision([first, second], expected=1))
    with pytest.raises(StateConflict, match="revision 2, not 1"):
        await world.run(revision([first], expected=1))  # read before the first revision: would drop `second`
    card = await world.card(member)
    assert (card.revision, card.households) == (2, [first, second])


async def test_a_card_can_be_issued_again_after_revocation(world: World) -> None:
    member = await world.member()
    household = await world.household()
    await world.issue(member, [household])
    await world.run(
        lambda uow: handlers.revoke_card(
            RevokeCard(actor=SECRETARY, member_id=member, reason="scope redrawn"), uow
        )
    )
    assert await world.issue(member, [household]) == ["ServiceCardIssued", "ContactLinked"]
    assert (await world.card(member)).revision == 2


async def test_unknown_service_matters_are_refused(world: World) -> None:
    member = await world.member()
    with pytest.raises(InvalidCommand, match="unknown service matters"):
        await world.run(
            lambda uow: handlers.issue_card(
                IssueCard(
                    actor=SECRETARY,
                    member_id=member,
                    households=[],
                    enterprises=[],
                    matters=["fortune_telling"],
                    note="",
                ),
                uow,
            )
        )


async def test_actors_act_only_within_their_scope(world: World) -> None:
    member = await world.member()
    elsewhere = Actor(id="secretary-2", roles=("secretary",), scope="yuhang/nanyuan/linping")
    with pytest.raises(NotAllowed, match="outside your scope"):
        await world.run(
            lambda uow: handlers.revoke_card(
                RevokeCard(actor=elsewhere, member_id=member, reason="not mine"), uow
            ),
            actor=elsewhere,
        )


async def test_helpers_join_and_leave_the_1_plus_x_team(world: World) -> None:
    member = await world.member()
    helper = new_id()
    attach = await world.run(
        lambda uow: handlers.attach_helper(
            AttachHelper(
                actor=SECRETARY,
                member_id=member,
                helper_id=helper,
                role=HelperRole.BUILDING_CHIEF,
                name="李楼长",
                phone=None,
            ),
            uow,
        )
    )
    assert attach == ["HelperAttached"]
    with pytest.raises(StateConflict):
        await world.run(
            lambda uow: handlers.attach_helper(
                AttachHelper(
                    actor=SECRETARY,
                    member_id=member,
                    helper_id=helper,
                    role=HelperRole.PROPERTY_STAFF,
                    name="x",
                    phone=None,
                ),
                uow,
            )
        )
    detach = await world.run(
        lambda uow: handlers.detach_helper(
            DetachHelper(actor=SECRETARY, member_id=member, helper_id=helper, reason="moved"), uow
        )
    )
    assert detach == ["HelperDetached"]


TODAY = date(2026, 11, 30)  # the caller's day: decisions never read the machine's clock


async def test_a_visit_records_a_problem_and_cannot_be_in_the_future(world: World) -> None:
    member = await world.member()
    household = await world.household()

    def visit(on: date) -> Callable[[UnitOfWork], Awaitable[None]]:
        return lambda uow: handlers.record_visit(
            RecordVisit(
                actor=SECRETARY,
                visit_id=new_id(),
                member_id=member,
                contact_kind=ContactKind.HOUSEHOLD,
                contact_id=household,
                visited_on=on,
                notes="楼道灯坏了",
                problem=("repairs", "stairwell light broken", Urgency.GENERAL),
                today=TODAY,
            ),
            uow,
        )

    assert await world.run(visit(TODAY)) == ["VisitRecorded"]
    with pytest.raises(InvalidCommand, match="future"):
        await world.run(visit(TODAY + timedelta(days=1)))


async def test_erasing_a_resident_destroys_their_key_and_leaves_the_rest_of_history(world: World) -> None:
    household = await world.household()
    state = await world.household_state(household)
    (resident_id,) = state.residents
    events = await world.run(
        lambda uow: handlers.erase_resident(
            EraseResident(actor=SECRETARY, household_id=household, resident_id=resident_id), uow, world.cipher
        )
    )
    assert events == ["ResidentErased"]
    loaded = await world.store.load(Household.stream_of(household))
    added = loaded.events[1]
    assert added.erased_fields == ("name", "phone", "elderly_living_alone", "disability")
    registered = loaded.events[0].event
    assert isinstance(added.event, ResidentAdded)
    assert isinstance(registered, HouseholdRegistered)
    assert added.event.name is None
    assert registered.room == "101"
    with pytest.raises(StateConflict, match="already been erased"):
        await world.run(
            lambda uow: handlers.erase_resident(
                EraseResident(actor=SECRETARY, household_id=household, resident_id=resident_id),
                uow,
                world.cipher,
            )
        )


async def test_members_need_an_existing_unit_of_a_fitting_level(world: World) -> None:
    with pytest.raises(NotFound, match="does not exist"):
        await world.member(unit="yuhang/nanyuan/nowhere")
    with pytest.raises(InvalidCommand, match="street"):
        await world.member(unit="yuhang/nanyuan")


def test_credit_codes_are_checked_by_their_checksum() -> None:
    first17 = "91330110MA2AXXXX0"
    valid = first17 + credit_code_check_char(first17)
    assert check_credit_code(valid.lower()) == valid
    wrong = first17 + ("0" if valid[-1] != "0" else "1")
    with pytest.raises(InvalidCommand, match="checksum"):
        check_credit_code(wrong)
    with pytest.raises(InvalidCommand, match="18 characters"):
        check_credit_code("91330110MA2AXXXXI0")


async def test_an_org_unit_needs_its_parent_and_lies_within_the_creators_scope(world: World) -> None:
    orphan = CreateOrgUnit(actor=SECRETARY, path="yuhang/nowhere/b1", name="1幢", level=OrgLevel.BUILDING)
    with pytest.raises(NotFound, match="parent org unit yuhang/nowhere does not exist"):
        await world.run(lambda uow: handlers.create_org_unit(orphan, uow))
    community = Actor(id="secretary-2", roles=("secretary",), scope="yuhang/nanyuan/xinghe")
    elsewhere = CreateOrgUnit(
        actor=community, path="yuhang/nanyuan/linping/b8", name="8幢", level=OrgLevel.BUILDING
    )
    with pytest.raises(NotAllowed, match="outside your scope"):
        await world.run(lambda uow: handlers.create_org_unit(elsewhere, uow), community)


async def test_renaming_an_org_unit_keeps_its_path(world: World) -> None:
    unit_id = unit_id_for("yuhang/nanyuan/xinghe")
    rename = RenameOrgUnit(actor=SECRETARY, unit_id=unit_id, name="星河社区")
    await world.run(lambda uow: handlers.rename_org_unit(rename, uow))
    loaded = await world.store.load(OrgUnit.stream_of(unit_id))
    unit = OrgUnit.replay(unit_id, [r.event for r in loaded.events])
    assert (unit.name, unit.path) == ("星河社区", "yuhang/nanyuan/xinghe")
    missing = RenameOrgUnit(actor=SECRETARY, unit_id=unit_id_for("yuhang/none"), name="无")
    with pytest.raises(NotFound, match="does not exist"):
        await world.run(lambda uow: handlers.rename_org_unit(missing, uow))
