"""A secretary's request to send a household its sign-in link."""

from __future__ import annotations

from typing import ClassVar

from fourlinks_contracts.notifications import CONTEXT, SignInLinkRequested
from fourlinks_contracts.refusals import SIGN_IN_LINK_REQUESTED
from fourlinks_kernel.aggregate import Aggregate
from fourlinks_kernel.errors import StateConflict
from fourlinks_kernel.events import DomainEvent


class SignInLink(Aggregate):
    """A request to send a household its sign-in link (one per request id)."""

    context: ClassVar[str] = CONTEXT
    aggregate_type: ClassVar[str] = "sign_in_link"

    def request(self, household_id: str, org_unit: str) -> None:
        """Asked once per request id: a repeated request is the same request."""
        if self.exists:
            raise StateConflict("this sign-in link was already requested", SIGN_IN_LINK_REQUESTED)
        self._record(SignInLinkRequested(request_id=self.id, household_id=household_id, org_unit=org_unit))

    def apply(self, event: DomainEvent) -> None:
        """Nothing to remember beyond existing."""
