"""Who may call what on the feedback service's routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from fourlinks_kernel.access import Role
from fourlinks_kernel.envelope import Actor
from fourlinks_runtime.auth import require_roles

Submitter = Annotated[
    Actor, Depends(require_roles(Role.RESIDENT, Role.MEMBER, Role.SECRETARY, Role.ADMINISTRATOR))
]
Anyone = Annotated[
    Actor,
    Depends(require_roles(Role.RESIDENT, Role.MEMBER, Role.SECRETARY, Role.ADMINISTRATOR, Role.AUDITOR)),
]
Answerer = Annotated[Actor, Depends(require_roles(Role.RESIDENT, Role.SECRETARY, Role.ADMINISTRATOR))]
