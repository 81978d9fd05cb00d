"""Themed party days (主题党日): the monthly session where tasks are handed out."""

from __future__ import annotations

import uuid
from datetime import date
from typing import ClassVar

from fourlinks_contracts.assignments import CONTEXT, ThemedPartyDayHeld
from fourlinks_contracts.refusals import AGENDA_NEEDED, PARTY_DAY_RECORDED
from fourlinks_kernel.aggregate import Aggregate
from fourlinks_kernel.errors import InvalidCommand, StateConflict
from fourlinks_kernel.events import DomainEvent

_SESSIONS = uuid.UUID("6c2e9f14-58b3-4a7d-b0e1-9f3a2c4d5e60")


def session_id_for(community: str, held_on: date) -> str:
    """One session per community and date."""
    return str(uuid.uuid5(_SESSIONS, f"{community}:{held_on.isoformat()}"))


class PartyDay(Aggregate):
    """A community's themed party day session and its agenda."""

    context: ClassVar[str] = CONTEXT
    aggregate_type: ClassVar[str] = "party_day"

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.community = ""

    def hold(self, *, community: str, held_on: date, agenda: list[str]) -> None:
        """Record the session; its tasks reference it."""
        if self.exists:
            raise StateConflict(
                f"the themed party day of {community} on {held_on} is already recorded",
                PARTY_DAY_RECORDED,
                held_on=held_on.isoformat(),
            )
        if not agenda:
            raise InvalidCommand("a themed party day needs an agenda", AGENDA_NEEDED)
        self._record(
            ThemedPartyDayHeld(session_id=self.id, community=community, held_on=held_on, agenda=agenda)
        )

    def apply(self, event: DomainEvent) -> None:
        if isinstance(event, ThemedPartyDayHeld):
            self.community = event.community
