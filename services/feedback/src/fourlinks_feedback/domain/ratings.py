"""A household rates its contact member's service card, once per period."""

from __future__ import annotations

import uuid
from typing import ClassVar

from fourlinks_contracts.feedback import CONTEXT, MemberRated
from fourlinks_contracts.refusals import ALREADY_RATED, SCORE_OUT_OF_RANGE
from fourlinks_kernel.aggregate import Aggregate
from fourlinks_kernel.errors import InvalidCommand, StateConflict
from fourlinks_kernel.events import DomainEvent

_RATINGS = uuid.UUID("4f3e2d1c-0b9a-4876-9543-210fedcba987")


def rating_id_for(household_id: str, period: str) -> str:
    """One rating per household and period: a second one meets the same aggregate."""
    return str(uuid.uuid5(_RATINGS, f"{household_id}:{period}"))


class MemberRating(Aggregate):
    """A household's rating of its member in one period."""

    context: ClassVar[str] = CONTEXT
    aggregate_type: ClassVar[str] = "rating"

    def rate(
        self, *, household_id: str, member_id: str, card_id: str | None, period: str, score: int, comment: str
    ) -> None:
        """Rate once per period, 1 to 5."""
        if self.exists:
            raise StateConflict(
                f"this household has already rated its member for {period}", ALREADY_RATED, period=period
            )
        if not 1 <= score <= 5:
            raise InvalidCommand("a score is 1 to 5", SCORE_OUT_OF_RANGE)
        self._record(
            MemberRated(
                rating_id=self.id,
                household_id=household_id,
                member_id=member_id,
                card_id=card_id,
                period=period,
                score=score,
                comment=comment or None,
            )
        )

    def apply(self, event: DomainEvent) -> None:
        """Nothing to remember beyond existing."""
