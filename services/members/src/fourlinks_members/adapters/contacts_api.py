"""HTTP API of households, enterprises, visits, erasure and coverage."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, status
from pydantic import Field

from fourlinks_contracts.members import ContactKind, Urgency
from fourlinks_contracts.refusals import OWN_VISITS_ONLY
from fourlinks_contracts.service_matters import MatterCode
from fourlinks_kernel.access import Role, covers, ensure_scope
from fourlinks_kernel.errors import NotAllowed
from fourlinks_members.adapters.common import (
    Anyone,
    CommandAccepted,
    Limit,
    MemberOrSecretary,
    MinPosition,
    Month,
    Name,
    Offset,
    Phone,
    Secretary,
    Staff,
    Unit,
    caught_up,
    runtime_of,
)
from fourlinks_members.application import access, answers, commands, handlers, queries
from fourlinks_members.domain.contacts import NewResident
from fourlinks_runtime.answers import list_of
from fourlinks_runtime.edge import (
    Body,
    Choice,
    Day,
    EntityId,
    IdInPath,
    Line,
    Storable,
    UnitPath,
)
from fourlinks_runtime.http import command_context, dispatch, scope_root

router = APIRouter(tags=["households and enterprises"])
CREDIT_CODE_PATTERN = r"^[0-9A-HJ-NP-RTUW-Y]{18}$"


class ResidentIn(Body):
    """A resident: personal data, encrypted with their own key."""

    name: Name
    phone: Phone | None = None
    elderly_living_alone: bool = False
    disability: bool = False


class RegisterHousehold(Body):
    """A household at its building or natural village."""

    org_unit: UnitPath = Field(description="building or natural-village path")
    unit_no: Annotated[str, Field(max_length=20, description="单元 (stairwell unit)"), Storable] = ""
    room: Annotated[str, Field(min_length=1, max_length=20), Storable]
    visit_cadence_days: int = Field(default=30, ge=1, le=366)
    residents: list[ResidentIn] = Field(default_factory=list, max_length=30)


class RegisterEnterprise(Body):
    """An enterprise in its community."""

    org_unit: UnitPath
    name: Name
    credit_code: str = Field(
        pattern=CREDIT_CODE_PATTERN, description="unified social credit code (18 characters, GB 32100)"
    )
    address: Line
    contact_name: Name
    contact_phone: Phone | None = None


class Problem(Body):
    """A problem found on a visit, which the assignments service can pick up as a task."""

    category: MatterCode
    description: Annotated[str, Field(min_length=1, max_length=2000), Storable]
    urgency: Choice[Urgency] = Urgency.GENERAL


class RecordVisit(Body):
    """A member's visit to a household or enterprise."""

    member_id: EntityId
    contact_kind: Choice[ContactKind]
    contact_id: EntityId
    visited_on: Day
    notes: Annotated[str, Field(max_length=4000), Storable] = ""
    problem: Problem | None = None


def _phone_index(request: Request) -> commands.PhoneIndex:
    cipher = runtime_of(request).cipher
    return lambda phone: cipher.blind_index(phone, purpose="phone")


@router.post("/households", status_code=status.HTTP_201_CREATED, summary="Register a household")
async def register_household(body: RegisterHousehold, request: Request, actor: Secretary) -> CommandAccepted:
    context = command_context(request, actor)
    household_id = context.id_for("household")
    people = [
        NewResident(context.id_for(f"resident-{i}"), r.name, r.phone, r.elderly_living_alone, r.disability)
        for i, r in enumerate(body.residents)
    ]

    return await dispatch(
        request,
        commands.RegisterHousehold(
            actor=actor,
            household_id=household_id,
            org_unit=body.org_unit.strip("/"),
            unit_no=body.unit_no,
            room=body.room,
            visit_cadence_days=body.visit_cadence_days,
            residents=people,
            phone_index=_phone_index(request),
        ),
        handlers.register_household,
        actor=actor,
        answer_id=household_id,
    )


@router.post(
    "/households/{household_id}/residents", status_code=status.HTTP_201_CREATED, summary="Add a resident"
)
async def add_resident(
    household_id: IdInPath, body: ResidentIn, request: Request, actor: Secretary
) -> CommandAccepted:
    resident = NewResident(
        command_context(request, actor).id_for("resident"),
        body.name,
        body.phone,
        body.elderly_living_alone,
        body.disability,
    )

    return await dispatch(
        request,
        commands.AddResident(
            actor=actor, household_id=household_id, resident=resident, phone_index=_phone_index(request)
        ),
        handlers.add_resident,
        actor=actor,
        answer_id=resident.resident_id,
    )


@router.post(
    "/households/{household_id}/residents/{resident_id}/erase",
    summary="Erase a resident's personal data (PIPL Art. 47): the key is destroyed for good",
)
async def erase_resident(
    household_id: IdInPath, resident_id: IdInPath, request: Request, actor: Secretary
) -> CommandAccepted:
    command = commands.EraseResident(actor=actor, household_id=household_id, resident_id=resident_id)
    erase = handlers.with_keys(handlers.erase_resident, runtime_of(request).cipher)
    return await dispatch(request, command, erase, actor=actor, answer_id=resident_id)


@router.post(
    "/households/{household_id}/erase",
    summary="Erase a household (PIPL Art. 47): its residents' keys and its own are destroyed for good, "
    "and with them what it reported, its photos and its comments",
)
async def erase_household(household_id: IdInPath, request: Request, actor: Secretary) -> CommandAccepted:
    command = commands.EraseHousehold(actor=actor, household_id=household_id)
    erase = handlers.with_keys(handlers.erase_household, runtime_of(request).cipher)
    return await dispatch(request, command, erase, actor=actor, answer_id=household_id)


@router.post("/enterprises", status_code=status.HTTP_201_CREATED, summary="Register an enterprise")
async def register_enterprise(
    body: RegisterEnterprise, request: Request, actor: Secretary
) -> CommandAccepted:
    context = command_context(request, actor)
    enterprise_id = context.id_for("enterprise")
    contact_person_id = context.id_for("contact-person")

    return await dispatch(
        request,
        commands.RegisterEnterprise(
            actor=actor,
            enterprise_id=enterprise_id,
            org_unit=body.org_unit.strip("/"),
            name=body.name,
            credit_code=body.credit_code,
            address=body.address,
            contact_person_id=contact_person_id,
            contact_name=body.contact_name,
            contact_phone=body.contact_phone,
            phone_index=_phone_index(request),
        ),
        handlers.register_enterprise,
        actor=actor,
        answer_id=enterprise_id,
    )


@router.post(
    "/enterprises/{enterprise_id}/contact/erase", summary="Erase an enterprise contact's personal data"
)
async def erase_enterprise_contact(
    enterprise_id: IdInPath, request: Request, actor: Secretary
) -> CommandAccepted:
    command = commands.EraseEnterpriseContact(actor=actor, enterprise_id=enterprise_id)
    erase = handlers.with_keys(handlers.erase_enterprise_contact, runtime_of(request).cipher)
    return await dispatch(request, command, erase, actor=actor, answer_id=enterprise_id)


@router.post("/visits", status_code=status.HTTP_201_CREATED, summary="Record a visit (and any problem found)")
async def record_visit(body: RecordVisit, request: Request, actor: MemberOrSecretary) -> CommandAccepted:
    staff = {Role.SECRETARY, Role.ADMINISTRATOR} & set(actor.roles)
    if not staff and actor.id != body.member_id:
        raise NotAllowed("a member records their own visits", OWN_VISITS_ONLY)
    visit_id = command_context(request, actor).id_for("visit")
    runtime = runtime_of(request)
    problem = (
        (body.problem.category, body.problem.description, body.problem.urgency) if body.problem else None
    )

    return await dispatch(
        request,
        commands.RecordVisit(
            actor=actor,
            visit_id=visit_id,
            member_id=body.member_id,
            contact_kind=body.contact_kind,
            contact_id=body.contact_id,
            visited_on=body.visited_on,
            notes=body.notes,
            problem=problem,
            today=runtime.today(),
        ),
        handlers.record_visit,
        actor=actor,
        answer_id=visit_id,
    )


# -- queries ---------------------------------------------------------------------------------
@router.get(
    "/households",
    summary="Households under a unit (filter: covered, overdue)",
    response_model=answers.HouseholdPage,
)
async def list_households(
    request: Request,
    actor: Staff,
    unit: Unit = None,
    covered: bool | None = None,
    overdue: bool = False,
    limit: Limit = 50,
    offset: Offset = 0,
    min_position: MinPosition = None,
) -> dict[str, Any]:
    root = scope_root(actor, unit)
    runtime = await caught_up(request, min_position)
    wanted = queries.ContactFilter(
        unit=root, covered=covered, due_before=runtime.today() if overdue else None
    )
    async with runtime.engine.connect() as conn:
        return await queries.households_page(conn, wanted, limit=limit, offset=offset)


@router.get(
    "/households/lookup",
    summary="Find households by a resident's phone number (blind index)",
    response_model=list_of(answers.HouseholdRow),
)
async def lookup_household(
    request: Request,
    actor: Staff,
    phone: Annotated[str, Query(min_length=5, max_length=40)],
    min_position: MinPosition = None,
) -> list[dict[str, Any]]:
    index = runtime_of(request).cipher.blind_index(phone, purpose="phone")
    runtime = await caught_up(request, min_position)
    async with runtime.engine.connect() as conn:
        found = await queries.households_by_phone_index(conn, index)
    return [household for household in found if covers(actor, household["org_unit"])]


@router.get("/enterprises", summary="Enterprises under a unit", response_model=answers.EnterprisePage)
async def list_enterprises(
    request: Request,
    actor: Staff,
    unit: Unit = None,
    covered: bool | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
    min_position: MinPosition = None,
) -> dict[str, Any]:
    root = scope_root(actor, unit)
    runtime = await caught_up(request, min_position)
    async with runtime.engine.connect() as conn:
        return await queries.enterprises_page(
            conn, queries.ContactFilter(unit=root, covered=covered), limit=limit, offset=offset
        )


@router.get(
    "/visits",
    summary="Visits to the contacts under a unit in a month (a ledger), oldest first",
    response_model=answers.VisitPage,
)
async def list_visits(
    request: Request,
    actor: Staff,
    unit: Unit = None,
    month: Month = None,
    limit: Limit = 50,
    offset: Offset = 0,
    min_position: MinPosition = None,
) -> dict[str, Any]:
    root = scope_root(actor, unit)
    runtime = await caught_up(request, min_position)
    first, last = days_of(month or runtime.today().strftime("%Y-%m"))
    async with runtime.engine.connect() as conn:
        return await queries.visits_page(
            conn, queries.VisitFilter(unit=root, first_day=first, last_day=last), limit=limit, offset=offset
        )


def days_of(month: str) -> tuple[date, date]:
    """The first and the last day of a month given as YYYY-MM."""
    year, number = (int(part) for part in month.split("-"))
    return date(year, number, 1), date(year, number, calendar.monthrange(year, number)[1])


async def _household_id(household_id: IdInPath) -> str:
    return household_id


async def _enterprise_id(enterprise_id: IdInPath) -> str:
    return enterprise_id


# One route body serves both kinds; the path names the id after its kind so that OpenAPI and
# generated clients say what the id is.
ID_IN_PATH = {ContactKind.HOUSEHOLD: _household_id, ContactKind.ENTERPRISE: _enterprise_id}


def _contact_routes(kind: ContactKind) -> None:
    """The per-contact queries, once for households and once for enterprises."""
    id_name = f"{kind}_id"
    base = f"/{kind}s/{{{id_name}}}"
    # A default, not an annotation: annotations are strings here, resolved in module scope.
    id_in_path = Depends(ID_IN_PATH[kind])

    one = answers.Household if kind == ContactKind.HOUSEHOLD else answers.Enterprise

    @router.get(base, summary=f"One {kind}", name=f"get_{kind}", response_model=one)
    async def get_contact(
        request: Request, actor: Staff, min_position: MinPosition = None, contact_id: str = id_in_path
    ) -> dict[str, Any]:
        runtime = await caught_up(request, min_position)
        async with runtime.engine.connect() as conn:
            contact = await queries.contact_row(conn, kind, contact_id)
            ensure_scope(actor, contact["org_unit"])
            if kind == ContactKind.HOUSEHOLD:
                contact["residents"] = (await queries.household_residents(conn, [contact_id]))[contact_id]
        return contact

    @router.get(
        f"{base}/card",
        summary=f"The {kind}'s card: who is my member, their phone, their service matters",
        name=f"{kind}_card",
        response_model=answers.ContactCard,
    )
    async def contact_card(
        request: Request, actor: Anyone, min_position: MinPosition = None, contact_id: str = id_in_path
    ) -> dict[str, Any]:
        runtime = await caught_up(request, min_position)
        async with runtime.engine.connect() as conn:
            contact = await queries.contact_row(conn, kind, contact_id)
            access.ensure_contact_reader(actor, contact_id, contact)
            return await queries.card_of_contact(conn, kind, contact_id)

    @router.get(
        f"{base}/member-on",
        summary=f"Who was this {kind}'s member on a date",
        name=f"{kind}_member_on",
        response_model=answers.MemberOn,
    )
    async def member_on(
        request: Request,
        actor: Staff,
        on: Annotated[date, Query(description="the date asked about (end of that day, UTC)")],
        contact_id: str = id_in_path,
    ) -> dict[str, Any]:
        runtime = await caught_up(request, None)
        moment = datetime.combine(on, time.max, tzinfo=UTC)
        async with runtime.engine.connect() as conn:
            contact = await queries.contact_row(conn, kind, contact_id)
            ensure_scope(actor, contact["org_unit"])
            link = await queries.member_on(conn, contact_id, moment)
        return {
            "contact_id": contact_id,
            "on": on,
            "member_id": link["member_id"] if link else None,
            "link": link,
        }

    @router.get(
        f"{base}/visits",
        summary=f"The {kind}'s visits, the latest first",
        name=f"{kind}_visits",
        response_model=list[answers.ContactVisit],
    )
    async def contact_visits(
        request: Request,
        actor: Staff,
        limit: Limit = 50,
        min_position: MinPosition = None,
        contact_id: str = id_in_path,
    ) -> list[dict[str, Any]]:
        runtime = await caught_up(request, min_position)
        async with runtime.engine.connect() as conn:
            contact = await queries.contact_row(conn, kind, contact_id)
            ensure_scope(actor, contact["org_unit"])
            return await queries.contact_visits(conn, contact_id, limit=limit)

    @router.get(
        f"{base}/suggested-members",
        summary="Nearby members with spare capacity",
        name=f"{kind}_suggested_members",
        response_model=list[answers.Suggestion],
    )
    async def suggested_members(
        request: Request, actor: Staff, min_position: MinPosition = None, contact_id: str = id_in_path
    ) -> list[dict[str, Any]]:
        runtime = await caught_up(request, min_position)
        async with runtime.engine.connect() as conn:
            contact = await queries.contact_row(conn, kind, contact_id)
            ensure_scope(actor, contact["org_unit"])
            return await queries.suggestions(conn, contact["org_unit"])


for _kind in ContactKind:
    _contact_routes(_kind)


@router.get(
    "/coverage",
    summary="Coverage of a unit: households and enterprises in an active card's scope",
    response_model=answers.Coverage,
)
async def coverage(
    request: Request, actor: Staff, unit: Unit = None, min_position: MinPosition = None
) -> dict[str, Any]:
    root = scope_root(actor, unit)
    runtime = await caught_up(request, min_position)
    async with runtime.engine.connect() as conn:
        return await queries.coverage(conn, root)


@router.get(
    "/coverage/below",
    summary="Coverage of each unit directly below a unit (street → community → building)",
    response_model=list[answers.UnitCoverage],
)
async def coverage_below(
    request: Request, actor: Staff, unit: Unit = None, min_position: MinPosition = None
) -> list[dict[str, Any]]:
    root = scope_root(actor, unit)
    runtime = await caught_up(request, min_position)
    async with runtime.engine.connect() as conn:
        return await queries.coverage_below(conn, root)


@router.get(
    "/coverage/uncovered",
    summary="Uncovered contacts of a unit (households, then enterprises), each with suggested members",
    response_model=answers.UncoveredPage,
)
async def uncovered(
    request: Request,
    actor: Staff,
    kind: Annotated[ContactKind | None, Query(description="households or enterprises; none: both")] = None,
    unit: Unit = None,
    limit: Limit = 50,
    offset: Offset = 0,
    min_position: MinPosition = None,
) -> dict[str, Any]:
    root = scope_root(actor, unit)
    runtime = await caught_up(request, min_position)
    async with runtime.engine.connect() as conn:
        return await queries.uncovered_page(conn, kind, root, limit=limit, offset=offset)
