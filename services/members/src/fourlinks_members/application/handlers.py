"""Command handlers of the members service: load, decide, and let the unit of work append.

Every handler takes a command (with its acting `Actor`) and checks scope itself, so HTTP and the
seed generator go through exactly the same rules.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from fourlinks_contracts.members import CONTACT_LEVELS, ContactKind, OrgLevel
from fourlinks_contracts.refusals import CARD_CHANGED, CONTACT_OUTSIDE_COMMUNITY, UNIT_LEVEL_WRONG
from fourlinks_kernel.access import ensure_scope
from fourlinks_kernel.envelope import Actor
from fourlinks_kernel.errors import InvalidCommand, NotFound, StateConflict
from fourlinks_kernel.unit_of_work import UnitOfWork
from fourlinks_members.application.commands import (
    AddResident,
    AttachHelper,
    CreateOrgUnit,
    DeactivateMember,
    DetachHelper,
    EraseEnterpriseContact,
    EraseHousehold,
    EraseMember,
    EraseResident,
    IssueCard,
    RecordVisit,
    RegisterEnterprise,
    RegisterHousehold,
    RegisterMember,
    RenameOrgUnit,
    ReviseCard,
    RevokeCard,
    TransferMember,
    UpdateMember,
)
from fourlinks_members.domain.cards import Scope, ServiceCard, card_id_for
from fourlinks_members.domain.contacts import (
    Contact,
    CreditCodeClaim,
    Enterprise,
    Household,
    credit_code_claim_id,
)
from fourlinks_members.domain.members import Member
from fourlinks_members.domain.org_units import OrgUnit, unit_id_for
from fourlinks_members.domain.rules import check_credit_code, community_of

C = TypeVar("C", bound=Contact)
Command = TypeVar("Command")


async def create_org_unit(cmd: CreateOrgUnit, uow: UnitOfWork) -> None:
    ensure_scope(cmd.actor, cmd.path)
    parent_path, _, code = cmd.path.rpartition("/")
    parent = await uow.get(OrgUnit, unit_id_for(parent_path)) if parent_path else None
    if parent is not None and not parent.exists:
        raise NotFound(f"parent org unit {parent_path} does not exist")
    unit = await uow.get(OrgUnit, unit_id_for(cmd.path))
    unit.create(path=cmd.path, code=code, name=cmd.name, level=cmd.level, parent=parent)


async def rename_org_unit(cmd: RenameOrgUnit, uow: UnitOfWork) -> None:
    unit = await uow.get(OrgUnit, cmd.unit_id)
    if not unit.exists:
        raise NotFound(f"org unit {cmd.unit_id} does not exist")
    ensure_scope(cmd.actor, unit.path)
    unit.rename(cmd.name)


async def require_unit(
    uow: UnitOfWork, path: str, *, levels: tuple[OrgLevel, ...] = CONTACT_LEVELS
) -> OrgUnit:
    """The org unit at a path, which must exist and be of one of the levels."""
    unit = await uow.get(OrgUnit, unit_id_for(path.strip("/")))
    if not unit.exists:
        raise NotFound(f"org unit {path} does not exist")
    if unit.level not in levels:
        raise InvalidCommand(
            f"{path} is a {unit.level}; this needs a {' or '.join(levels)}",
            UNIT_LEVEL_WRONG,
            unit=path,
            level=str(unit.level),
            needed=[str(level) for level in levels],
        )
    return unit


async def require_member(uow: UnitOfWork, actor: Actor, member_id: str) -> Member:
    """An existing member within the actor's scope."""
    member = await uow.get(Member, member_id)
    if not member.exists:
        raise NotFound(f"member {member_id} does not exist")
    ensure_scope(actor, member.org_unit)
    return member


# -- members ---------------------------------------------------------------------------------
async def register_member(cmd: RegisterMember, uow: UnitOfWork) -> None:
    """Register a party member in their home unit."""
    ensure_scope(cmd.actor, cmd.org_unit)
    await require_unit(uow, cmd.org_unit)
    member = await uow.get(Member, cmd.member_id)
    member.register(
        name=cmd.name,
        public_phone=cmd.public_phone,
        party_branch=cmd.party_branch,
        org_unit=cmd.org_unit,
        capacity=cmd.capacity,
    )


async def update_member(cmd: UpdateMember, uow: UnitOfWork) -> None:
    """Change a member's card-facing details or capacity."""
    member = await require_member(uow, cmd.actor, cmd.member_id)
    member.update_profile(
        name=cmd.name, public_phone=cmd.public_phone, party_branch=cmd.party_branch, capacity=cmd.capacity
    )


async def transfer_member(cmd: TransferMember, uow: UnitOfWork) -> None:
    """Move a member; their card is revoked and their contacts become uncovered at once."""
    member = await require_member(uow, cmd.actor, cmd.member_id)
    ensure_scope(cmd.actor, cmd.to_unit)
    await require_unit(uow, cmd.to_unit)
    member.transfer(to_unit=cmd.to_unit, reason=cmd.reason)
    await _revoke_if_active(uow, cmd.member_id, reason=f"member transferred: {cmd.reason}")


async def deactivate_member(cmd: DeactivateMember, uow: UnitOfWork) -> None:
    """A member stops serving; their card is revoked and their contacts become uncovered at once."""
    member = await require_member(uow, cmd.actor, cmd.member_id)
    member.deactivate(reason=cmd.reason, note=cmd.note, suggested_replacement_id=cmd.suggested_replacement_id)
    await _revoke_if_active(uow, cmd.member_id, reason=f"member deactivated: {cmd.reason}")


async def attach_helper(cmd: AttachHelper, uow: UnitOfWork) -> None:
    """Add a helper (building chief, property staff ...) to a member's 1 + X team."""
    member = await require_member(uow, cmd.actor, cmd.member_id)
    member.attach_helper(helper_id=cmd.helper_id, role=cmd.role, name=cmd.name, phone=cmd.phone)


async def detach_helper(cmd: DetachHelper, uow: UnitOfWork) -> None:
    """Remove a helper from a member's team."""
    member = await require_member(uow, cmd.actor, cmd.member_id)
    member.detach_helper(helper_id=cmd.helper_id, reason=cmd.reason)


# -- contacts --------------------------------------------------------------------------------
async def register_household(cmd: RegisterHousehold, uow: UnitOfWork) -> None:
    """Register a household at its building or natural village, with its residents."""
    ensure_scope(cmd.actor, cmd.org_unit)
    await require_unit(uow, cmd.org_unit)
    household = await uow.get(Household, cmd.household_id)
    household.register(
        org_unit=cmd.org_unit, unit_no=cmd.unit_no, room=cmd.room, visit_cadence_days=cmd.visit_cadence_days
    )
    for resident in cmd.residents:
        household.add_resident(
            resident, phone_index=cmd.phone_index(resident.phone) if resident.phone else None
        )


async def add_resident(cmd: AddResident, uow: UnitOfWork) -> None:
    """Add a resident to a registered household."""
    household = await _contact(uow, cmd.actor, Household, cmd.household_id)
    household.add_resident(
        cmd.resident, phone_index=cmd.phone_index(cmd.resident.phone) if cmd.resident.phone else None
    )


async def register_enterprise(cmd: RegisterEnterprise, uow: UnitOfWork) -> None:
    """Register an enterprise in its community, with a contact person."""
    (
        actor,
        enterprise_id,
        org_unit,
        name,
        credit_code,
        address,
        contact_person_id,
        contact_name,
        contact_phone,
        phone_index,
    ) = (
        cmd.actor,
        cmd.enterprise_id,
        cmd.org_unit,
        cmd.name,
        cmd.credit_code,
        cmd.address,
        cmd.contact_person_id,
        cmd.contact_name,
        cmd.contact_phone,
        cmd.phone_index,
    )
    ensure_scope(actor, org_unit)
    await require_unit(uow, org_unit)
    code = check_credit_code(credit_code)
    claim = await uow.get(CreditCodeClaim, credit_code_claim_id(code))
    claim.claim(credit_code=code, enterprise_id=enterprise_id)
    enterprise = await uow.get(Enterprise, enterprise_id)
    enterprise.register(
        org_unit=org_unit,
        name=name,
        credit_code=code,
        address=address,
        contact_person_id=contact_person_id,
        contact_name=contact_name,
        contact_phone=contact_phone,
        phone_index=phone_index(contact_phone) if contact_phone else None,
    )


async def _contact(uow: UnitOfWork, actor: Actor, kind: type[C], contact_id: str) -> C:
    contact = await uow.get(kind, contact_id)
    contact.require_registered()
    ensure_scope(actor, contact.org_unit)
    return contact


async def record_visit(cmd: RecordVisit, uow: UnitOfWork) -> None:
    """A member records a visit; a problem found can be picked up as a task."""
    member = await uow.get(Member, cmd.member_id)
    member.require_active()
    kind: type[Contact] = Household if cmd.contact_kind == ContactKind.HOUSEHOLD else Enterprise
    contact = await _contact(uow, cmd.actor, kind, cmd.contact_id)
    contact.record_visit(
        visit_id=cmd.visit_id,
        member_id=cmd.member_id,
        visited_on=cmd.visited_on,
        notes=cmd.notes,
        problem=cmd.problem,
        today=cmd.today,
    )


# -- service cards ---------------------------------------------------------------------------
async def issue_card(cmd: IssueCard, uow: UnitOfWork) -> str:
    """Issue a member's card and link every contact in its scope, atomically."""
    member = await require_member(uow, cmd.actor, cmd.member_id)
    member.require_active()
    scope = Scope(cmd.households, cmd.enterprises)
    scope.check_capacity(member.capacity)
    card = await uow.get(ServiceCard, card_id_for(cmd.member_id))
    card.issue(
        member_id=cmd.member_id,
        org_unit=member.org_unit,
        public_phone=cmd.public_phone or member.public_phone,
        scope=scope,
        matters=cmd.matters,
        note=cmd.note,
    )
    await _link_all(uow, cmd.actor, member, card.id, scope)
    return card.id


async def revise_card(cmd: ReviseCard, uow: UnitOfWork) -> str:
    """A new revision of a member's card; contacts added are linked, contacts removed unlinked."""
    member = await require_member(uow, cmd.actor, cmd.member_id)
    card = await uow.get(ServiceCard, card_id_for(cmd.member_id))
    card.require_active()
    if cmd.expected_revision is not None and card.revision != cmd.expected_revision:
        raise StateConflict(
            f"the card is at revision {card.revision}, not {cmd.expected_revision}: it changed since you "
            "read it; read it again and send the full new scope",
            CARD_CHANGED,
            revision=card.revision,
            expected=cmd.expected_revision,
        )
    scope = Scope(cmd.households, cmd.enterprises)
    scope.check_capacity(member.capacity)
    removed = {
        ContactKind.HOUSEHOLD: set(card.households) - set(cmd.households),
        ContactKind.ENTERPRISE: set(card.enterprises) - set(cmd.enterprises),
    }
    card.revise(
        public_phone=cmd.public_phone or card.public_phone,
        scope=scope,
        matters=cmd.matters,
        note=cmd.note,
        reason=cmd.reason,
    )
    for kind, ids in removed.items():
        for contact_id in sorted(ids):
            contact = await uow.get(_contact_type(kind), contact_id)
            contact.unlink(card_id=card.id, reason=f"card revised: {cmd.reason}")
    await _link_all(uow, cmd.actor, member, card.id, scope)
    return card.id


async def revoke_card(cmd: RevokeCard, uow: UnitOfWork) -> None:
    """Revoke a member's card; its contacts become uncovered."""
    await require_member(uow, cmd.actor, cmd.member_id)
    card = await uow.get(ServiceCard, card_id_for(cmd.member_id))
    card.require_active()
    await _revoke(uow, card, reason=cmd.reason)


async def _revoke_if_active(uow: UnitOfWork, member_id: str, *, reason: str) -> None:
    card = await uow.get(ServiceCard, card_id_for(member_id))
    if card.active:
        await _revoke(uow, card, reason=reason)


async def _revoke(uow: UnitOfWork, card: ServiceCard, *, reason: str) -> None:
    contacts = [(ContactKind.HOUSEHOLD, h) for h in card.households]
    contacts += [(ContactKind.ENTERPRISE, e) for e in card.enterprises]
    card.revoke(reason=reason)
    for kind, contact_id in contacts:
        contact = await uow.get(_contact_type(kind), contact_id)
        contact.unlink(card_id=card.id, reason=reason)


async def _link_all(uow: UnitOfWork, actor: Actor, member: Member, card_id: str, scope: Scope) -> None:
    community = community_of(member.org_unit)
    for kind, ids in ((ContactKind.HOUSEHOLD, scope.households), (ContactKind.ENTERPRISE, scope.enterprises)):
        for contact_id in ids:
            contact = await _contact(uow, actor, _contact_type(kind), contact_id)
            if community_of(contact.org_unit) != community:
                raise InvalidCommand(
                    f"{kind} {contact_id} is in {community_of(contact.org_unit)}, not in the member's "
                    f"community {community}: contacts are served nearby",
                    CONTACT_OUTSIDE_COMMUNITY,
                    kind=kind.value,
                    contact=contact_id,
                    community=community,
                )
            contact.link(card_id=card_id, member_id=member.id)


def _contact_type(kind: ContactKind) -> type[Contact]:
    return Household if kind == ContactKind.HOUSEHOLD else Enterprise


# -- erasure ---------------------------------------------------------------------------------
class PersonalKeys(Protocol):
    """Where each person's key lives (crypto-shredding: no key, no personal data)."""

    async def erase(self, subject: str) -> None:
        """Destroy a person's key for good."""
        ...


async def erase_resident(cmd: EraseResident, uow: UnitOfWork, keys: PersonalKeys) -> None:
    """Destroy a resident's key and record the erasure. The key goes first: a retry after a failed
    append destroys nothing more and records the erasure then; the other order could record an
    erasure whose key still exists."""
    household = await _contact(uow, cmd.actor, Household, cmd.household_id)
    household.erase_resident(cmd.resident_id)
    await keys.erase(cmd.resident_id)


async def erase_household(cmd: EraseHousehold, uow: UnitOfWork, keys: PersonalKeys) -> None:
    """Destroy the keys of a household's residents and its own (what it reported, its photos), and
    record the erasure (order: as above)."""
    household = await _contact(uow, cmd.actor, Household, cmd.household_id)
    for resident_id in household.erase():
        await keys.erase(resident_id)
    await keys.erase(household.id)


async def erase_enterprise_contact(cmd: EraseEnterpriseContact, uow: UnitOfWork, keys: PersonalKeys) -> None:
    """Destroy an enterprise contact person's key and record the erasure (order: as above)."""
    enterprise = await _contact(uow, cmd.actor, Enterprise, cmd.enterprise_id)
    enterprise.erase_contact()
    await keys.erase(enterprise.contact_person_id)


async def erase_member(cmd: EraseMember, uow: UnitOfWork, keys: PersonalKeys) -> None:
    """Destroy the key of a member who left and record the erasure (order: as above); what they
    did stays in history, done by a member whose name and phone no one can read."""
    member = await require_member(uow, cmd.actor, cmd.member_id)
    member.erase()
    await keys.erase(member.id)


def with_keys(
    handler: Callable[[Command, UnitOfWork, PersonalKeys], Awaitable[None]], keys: PersonalKeys
) -> Callable[[Command, UnitOfWork], Awaitable[None]]:
    """An erasure handler bound to the key store (for dispatching)."""
    return lambda command, uow: handler(command, uow, keys)
