"""Printing service cards (打印服务卡): a PDF of a unit's or a member's cards in force, as an A4 sheet
to cut or as door stickers, each household's copy with the QR code of its doorway link; and the
cards to reprint (替换服务卡): those revised since a day, after members left or moved and their
households went to others, printed on their own."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from fourlinks_console.access import opening
from fourlinks_console.cards_pdf import Layout, copies_of, render
from fourlinks_console.figures import today_in
from fourlinks_console.labels import Wanted, labels_for
from fourlinks_console.people import CurrentPerson
from fourlinks_console.services import Services
from fourlinks_console.settings import ConsoleSettings
from fourlinks_console.web import pages_of
from fourlinks_runtime.settings import Settings

router = APIRouter()
REPRINT_DAYS = 30
"""The cards to reprint are, unless the page is asked otherwise, those revised in the last month."""
DAY = r"^20\d{2}-\d{2}-\d{2}$"


@router.get("/cards/print.pdf", name="print_cards", dependencies=[opening("cards")])
async def print_cards(
    request: Request,
    person: CurrentPerson,
    *,
    unit: str | None = None,
    member: str | None = None,
    layout: Layout = Layout.SHEET,
    revised_since: Annotated[str | None, Query(pattern=DAY)] = None,
) -> Response:
    """The PDF of the cards wanted; its name says the unit and the layout."""
    cards = await _cards(request, person.token, unit or person.scope, member, revised_since)
    words = pages_of(request).language(request)
    runtime: Settings = request.app.state.runtime
    copies = copies_of(cards, console_url=_console_url(request), words=words, zone=ZoneInfo(runtime.timezone))
    pdf = await asyncio.to_thread(render, copies, layout=layout, words=words)  # seconds for a community
    name = f"service-cards-{(unit or person.scope).replace('/', '-')}-{layout.value}.pdf"
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )


@router.get("/cards/reprint", name="reprint_cards", dependencies=[opening("cards")])
async def reprint(
    request: Request,
    person: CurrentPerson,
    unit: str | None = None,
    since: Annotated[str | None, Query(pattern=DAY)] = None,
) -> Response:
    """The cards revised since a day (a month ago unless said), each with why, and a button that
    prints just those."""
    runtime: Settings = request.app.state.runtime
    day = since or (today_in(runtime.timezone) - timedelta(days=REPRINT_DAYS)).isoformat()
    root = (unit or person.scope).strip("/")
    cards = await _cards(request, person.token, root, None, day)
    copies = sum(1 + len(card["contacts"]) for card in cards)
    return pages_of(request).render(
        request,
        "reprint.html",
        {
            "cards": cards,
            "unit": root,
            "since": day,
            "copies": copies,
            "labels": await labels_for(request, person, Wanted().unit(root)),
        },
    )


async def _cards(
    request: Request, token: str, unit: str, member: str | None, revised_since: str | None
) -> list[dict[str, Any]]:
    services: Services = request.app.state.services
    wanted = {"unit": unit.strip("/"), "member": member, "revised_since": revised_since}
    cards: list[dict[str, Any]] = await services.get(token, "members", "/cards/print", wanted)
    return cards


def _console_url(request: Request) -> str:
    """Where the printed QR codes send residents: the console's public address."""
    settings: ConsoleSettings = request.app.state.console
    return settings.public_url or str(request.base_url)
