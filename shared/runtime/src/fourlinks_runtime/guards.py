"""Role guards for routes, defined once: a route declares who may call it by the type of its
actor parameter (401 without a valid token, 403 without one of the roles)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from fourlinks_kernel.access import Role
from fourlinks_kernel.envelope import Actor
from fourlinks_runtime.auth import require_roles

Administrator = Annotated[Actor, Depends(require_roles(Role.ADMINISTRATOR))]
Secretary = Annotated[Actor, Depends(require_roles(Role.SECRETARY, Role.ADMINISTRATOR))]
"""A secretary of the unit, or an administrator above it."""
Staff = Annotated[Actor, Depends(require_roles(Role.SECRETARY, Role.ADMINISTRATOR, Role.AUDITOR))]
"""Those who read a unit's records: secretaries, administrators, auditors."""
StaffOrInspector = Annotated[
    Actor, Depends(require_roles(Role.SECRETARY, Role.ADMINISTRATOR, Role.AUDITOR, Role.INSPECTOR))
]
"""Those who read a unit's tasks: the staff above, and inspectors who spot-check them."""
Raiser = Annotated[Actor, Depends(require_roles(Role.SECRETARY, Role.ADMINISTRATOR, Role.INSPECTOR))]
"""Those who raise a task by hand: secretaries, administrators, inspectors."""
Inspector = Annotated[Actor, Depends(require_roles(Role.INSPECTOR))]
Member = Annotated[Actor, Depends(require_roles(Role.MEMBER))]
Resident = Annotated[Actor, Depends(require_roles(Role.RESIDENT))]
MemberOrSecretary = Annotated[Actor, Depends(require_roles(Role.MEMBER, Role.SECRETARY, Role.ADMINISTRATOR))]
