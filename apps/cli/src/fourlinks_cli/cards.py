"""`fourlinks cards print`: a unit's (or one member's) service cards as a PDF, read from the members
service's read model on this machine and signed with its key, drawn as the console draws them."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fourlinks_console.cards_pdf import Layout, copies_of, render
from fourlinks_console.i18n import Language
from fourlinks_contracts.members import ContactKind
from fourlinks_members.application.queries import CardsWanted, cards_to_print
from fourlinks_members.domain.doorway import DoorwayLink, doorway_key, sealed
from fourlinks_runtime.engines import create_engine_with_schema
from fourlinks_runtime.settings import Settings


@dataclass(frozen=True)
class Printing:
    """What to print and where: the unit, one member or those revised since a day, the layout."""

    unit: str
    out: Path
    console_url: str
    layout: Layout = Layout.SHEET
    member: str | None = None
    revised_since: date | None = None
    locale: str = "zh_CN"


@dataclass(frozen=True)
class Printed:
    """What was printed: cards, copies, pages, seconds."""

    cards: int
    copies: int
    pages: int
    seconds: float


async def print_cards(settings: Settings, printing: Printing) -> Printed:
    """Read the cards, sign each copy's link, write the PDF."""
    started = time.perf_counter()
    cards = await _cards(settings, printing)
    key = doorway_key(settings.master_key_bytes())
    for card in cards:
        for contact in card["contacts"]:
            contact["link"] = sealed(_link_of(card, contact), key)
    words = Language.of(printing.locale, settings.timezone)
    copies = copies_of(cards, console_url=printing.console_url, words=words, zone=ZoneInfo(settings.timezone))
    pdf = render(copies, layout=printing.layout, words=words)
    printing.out.write_bytes(pdf)
    pages = len(copies) if printing.layout == Layout.STICKER else -(-len(copies) // 8)
    return Printed(len(cards), len(copies), max(pages, 1), time.perf_counter() - started)


async def _cards(settings: Settings, printing: Printing) -> list[dict[str, Any]]:
    engine = await create_engine_with_schema(*settings.read_model_database("members"))
    since = (
        datetime.combine(printing.revised_since, datetime.min.time(), tzinfo=UTC)
        if printing.revised_since
        else None
    )
    wanted = CardsWanted(unit=printing.unit.strip("/"), member_id=printing.member, revised_since=since)
    try:
        async with engine.connect() as conn:
            return await cards_to_print(conn, wanted)
    finally:
        await engine.dispose()


def _link_of(card: dict[str, Any], contact: dict[str, Any]) -> DoorwayLink:
    return DoorwayLink(
        card_id=card["card_id"],
        contact_kind=ContactKind(contact["kind"]),
        contact_id=contact["contact_id"],
        revision=card["revision"],
    )
