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
READERS = (Role.RESIDENT, Role.MEMBER, Role.SECRETARY, Role.ADMINISTRATOR, Role.AUDITOR, Role.INSPECTOR)
Anyone = Annotated[Actor, Depends(require_roles(*READERS))]
"""Whoever may read some feedback: which items, and how much of them, is `access`'s to say."""
Answerer = Annotated[Actor, Depends(require_roles(Role.RESIDENT, Role.SECRETARY, Role.ADMINISTRATOR))]
