"""Party members and their 1 + X teams."""

from __future__ import annotations

from typing import ClassVar

from fourlinks_contracts.members import (
    CONTEXT,
    DeactivationReason,
    HelperAttached,
    HelperDetached,
    HelperRole,
    MemberDeactivated,
    MemberErased,
    MemberProfileUpdated,
    MemberRegistered,
    MemberTransferred,
)
from fourlinks_contracts.refusals import (
    ALREADY_ERASED,
    ALREADY_IN_UNIT,
    CAPACITY_OUT_OF_RANGE,
    HELPER_IN_TEAM,
    HELPER_NOT_IN_TEAM,
    MEMBER_DEACTIVATED,
    MEMBER_STILL_SERVES,
)
from fourlinks_kernel.aggregate import Aggregate
from fourlinks_kernel.errors import InvalidCommand, NotFound, StateConflict
from fourlinks_kernel.events import DomainEvent

MAX_CAPACITY = 500


class Member(Aggregate):
    """A party member: where they live, how many contacts they can serve, their card and team."""

    context: ClassVar[str] = CONTEXT
    aggregate_type: ClassVar[str] = "member"

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.name: str | None = ""
        self.public_phone: str | None = ""
        self.party_branch = ""
        self.org_unit = ""
        self.capacity = 0
        self.active = False
        self.erased = False
        self.helpers: dict[str, HelperRole] = {}

    def register(
        self, *, name: str, public_phone: str, party_branch: str, org_unit: str, capacity: int
    ) -> None:
        """Register a new member in their home unit."""
        if self.exists:
            raise StateConflict(f"member {self.id} is already registered")
        _check_capacity(capacity)
        self._record(
            MemberRegistered(
                member_id=self.id,
                name=name,
                public_phone=public_phone,
                party_branch=party_branch,
                org_unit=org_unit,
                capacity=capacity,
            )
        )

    def update_profile(self, *, name: str, public_phone: str, party_branch: str, capacity: int) -> None:
        """Change card-facing details or capacity; lowering capacity below the scope is allowed
        and shows the member as over capacity."""
        self.require_active()
        _check_capacity(capacity)
        current = (self.name, self.public_phone, self.party_branch, self.capacity)
        if current != (name, public_phone, party_branch, capacity):
            self._record(
                MemberProfileUpdated(
                    member_id=self.id,
                    name=name,
                    public_phone=public_phone,
                    party_branch=party_branch,
                    capacity=capacity,
                )
            )

    def transfer(self, *, to_unit: str, reason: str) -> None:
        """Move to another unit; the caller revokes the card in the same command."""
        self.require_active()
        if to_unit == self.org_unit:
            raise InvalidCommand(f"member is already in {to_unit}", ALREADY_IN_UNIT, unit=to_unit)
        self._record(
            MemberTransferred(member_id=self.id, from_unit=self.org_unit, to_unit=to_unit, reason=reason)
        )

    def deactivate(
        self, *, reason: DeactivationReason, note: str, suggested_replacement_id: str | None
    ) -> None:
        """Stop serving; the caller revokes the card in the same command."""
        self.require_active()
        self._record(
            MemberDeactivated(
                member_id=self.id,
                org_unit=self.org_unit,
                reason=reason,
                note=note,
                suggested_replacement_id=suggested_replacement_id,
            )
        )

    def erase(self) -> None:
        """Record that a member who left had their personal data erased (the caller destroys the
        key): only a deactivated member, and once."""
        if not self.exists:
            raise NotFound(f"member {self.id} does not exist")
        if self.active:
            raise StateConflict(
                f"member {self.id} still serves: deactivate them first; only a member who left is erased",
                MEMBER_STILL_SERVES,
            )
        if self.erased:
            raise StateConflict(f"member {self.id} has already been erased", ALREADY_ERASED, kind="member")
        self._record(MemberErased(member_id=self.id, org_unit=self.org_unit))

    def attach_helper(self, *, helper_id: str, role: HelperRole, name: str, phone: str | None) -> None:
        """Add a helper to the 1 + X team."""
        self.require_active()
        if helper_id in self.helpers:
            raise StateConflict(f"helper {helper_id} is already in this team", HELPER_IN_TEAM)
        self._record(
            HelperAttached(member_id=self.id, helper_id=helper_id, role=role, name=name, phone=phone)
        )

    def detach_helper(self, *, helper_id: str, reason: str) -> None:
        """Remove a helper from the team."""
        if helper_id not in self.helpers:
            raise NotFound(f"helper {helper_id} is not in member {self.id}'s team", HELPER_NOT_IN_TEAM)
        self._record(HelperDetached(member_id=self.id, helper_id=helper_id, reason=reason))

    def require_active(self) -> None:
        """Refuse commands on unknown or deactivated members."""
        if not self.exists:
            raise NotFound(f"member {self.id} does not exist")
        if not self.active:
            raise StateConflict(f"member {self.id} is deactivated", MEMBER_DEACTIVATED, member=self.id)

    def apply(self, event: DomainEvent) -> None:
        match event:
            case MemberRegistered():
                self.name, self.public_phone, self.party_branch = (
                    event.name,
                    event.public_phone,
                    event.party_branch,
                )
                self.org_unit, self.capacity, self.active = event.org_unit, event.capacity, True
            case MemberProfileUpdated():
                self.name, self.public_phone, self.party_branch = (
                    event.name,
                    event.public_phone,
                    event.party_branch,
                )
                self.capacity = event.capacity
            case MemberTransferred():
                self.org_unit = event.to_unit
            case MemberDeactivated():
                self.active = False
            case MemberErased():
                self.name, self.public_phone, self.erased = None, None, True
            case HelperAttached():
                self.helpers[event.helper_id] = event.role
            case HelperDetached():
                self.helpers.pop(event.helper_id, None)


def _check_capacity(capacity: int) -> None:
    if not 1 <= capacity <= MAX_CAPACITY:
        raise InvalidCommand(
            f"capacity must be between 1 and {MAX_CAPACITY} contacts, got {capacity}",
            CAPACITY_OUT_OF_RANGE,
            maximum=MAX_CAPACITY,
        )
