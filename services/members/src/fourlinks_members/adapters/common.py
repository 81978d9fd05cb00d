"""What every members route shares: the runtime, role guards, pagination, command answers."""

from __future__ import annotations

from typing import Annotated, TypeVar

from pydantic import Field

from fourlinks_runtime.edge import PersonName as Name
from fourlinks_runtime.edge import Storable
from fourlinks_runtime.guards import Administrator, MemberOrSecretary, Secretary, Staff
from fourlinks_runtime.guards import DirectoryReader as Anyone
from fourlinks_runtime.http import (
    CommandAccepted,
    Limit,
    MinPosition,
    Month,
    Offset,
    Unit,
    caught_up,
    runtime_of,
)

T = TypeVar("T")
Phone = Annotated[str, Field(min_length=5, max_length=40, pattern=r"^[0-9+\- ()]+$")]
Reason = Annotated[str, Field(min_length=2, max_length=500), Storable]


__all__ = [
    "Administrator",
    "Anyone",
    "CommandAccepted",
    "Limit",
    "MemberOrSecretary",
    "MinPosition",
    "Month",
    "Name",
    "Offset",
    "Phone",
    "Reason",
    "Secretary",
    "Staff",
    "Unit",
    "caught_up",
    "runtime_of",
]
