"""Printed service cards: what a unit's cards print (each contact's copy with its signed link), and
what a card's link opens at the door without signing in (rate limited per client and per card)."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request

from fourlinks_contracts.members import ContactKind
from fourlinks_kernel.errors import Gone
from fourlinks_members.adapters.common import MinPosition, Secretary
from fourlinks_members.application import answers, queries
from fourlinks_members.application.access import household_erased
from fourlinks_members.domain.doorway import LINK_CHARACTERS, DoorwayLink, doorway_key, opened, sealed
from fourlinks_runtime.auth import HOUSEHOLD_ERASED
from fourlinks_runtime.edge import Day, IdInQuery
from fourlinks_runtime.http import Unit, caught_up, scope_root
from fourlinks_runtime.rate_limits import TOO_MANY, RateLimit
from fourlinks_runtime.runtime import ServiceRuntime

DOORWAY_LIMIT = RateLimit("opening a card's link", per_client=60, overall=3000)
"""Card links opened per client a minute (the console's address, for those it passes on)."""
CARD_LIMIT = RateLimit("opening one card's link", per_client=20, overall=3000)
"""One printed link (a card and the household or enterprise it was printed for) opened a minute: a
household opens its own a few times; a script replaying one link is slowed (forged links are
refused before they count). Per link, not per card: a member's card is printed for every household
it covers, and they scan independently."""
router = APIRouter(tags=["cards"])


def link_key(request: Request, runtime: ServiceRuntime) -> bytes:
    """The key this deployment's card links are signed with (derived from the master key once)."""
    state = request.app.state
    if not hasattr(state, "doorway_key"):
        state.doorway_key = doorway_key(runtime.settings.master_key_bytes())
    key: bytes = state.doorway_key
    return key


@router.get(
    "/doorway/{token}",
    summary="What a printed card's link opens: the household's member now (no sign-in)",
    response_model=answers.Doorway,
    dependencies=[Depends(DOORWAY_LIMIT)],
    responses={**TOO_MANY, 404: {"description": "not a card's link: forged, cut short or mistyped"}},
)
async def doorway(
    token: Annotated[str, Path(min_length=1, max_length=LINK_CHARACTERS + 8)],
    request: Request,
    min_position: MinPosition = None,
) -> dict[str, Any]:
    """Whoever holds a card's link (it is printed on the household's door) sees its member now; a
    card revised since it was printed says it was replaced (and still names the member now)."""
    runtime = await caught_up(request, min_position)
    link = opened(token, link_key(request, runtime))
    CARD_LIMIT.count(request, f"{link.card_id}/{link.contact_id}")
    if link.contact_kind == ContactKind.HOUSEHOLD and await household_erased(runtime, link.contact_id):
        raise Gone(HOUSEHOLD_ERASED)
    async with runtime.engine.connect() as conn:
        return await queries.doorway(conn, link)


@router.get(
    "/cards/print",
    summary="The cards in force under a unit (or one member's) as they print, with their links",
    response_model=list[answers.PrintedCard],
)
async def cards_to_print(
    request: Request,
    actor: Secretary,
    unit: Unit = None,
    member: IdInQuery = None,
    revised_since: Annotated[
        Day | None, Query(description="only cards revised on or after this day: those to reprint")
    ] = None,
    min_position: MinPosition = None,
) -> list[dict[str, Any]]:
    root = scope_root(actor, unit)
    since = datetime.combine(revised_since, time.min, tzinfo=UTC) if revised_since else None
    runtime = await caught_up(request, min_position)
    async with runtime.engine.connect() as conn:
        found = await queries.cards_to_print(
            conn, queries.CardsWanted(unit=root, member_id=member, revised_since=since)
        )
    key = link_key(request, runtime)
    for card in found:
        for contact in card["contacts"]:
            contact["link"] = sealed(_link_of(card, contact), key)
    return found


def _link_of(card: dict[str, Any], contact: dict[str, Any]) -> DoorwayLink:
    return DoorwayLink(
        card_id=card["card_id"],
        contact_kind=ContactKind(contact["kind"]),
        contact_id=contact["contact_id"],
        revision=card["revision"],
    )
