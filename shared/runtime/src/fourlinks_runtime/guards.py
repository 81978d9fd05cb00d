"""Role guards for routes, written once: named role sets, and a guard type per set. A route declares
who may call it by the type of its actor parameter (401 without a valid token, 403 without one of
the roles); which records of those it may touch is the owning service's `access` module's to say.
tests/test_route_guards.py fails when a route of any service or the console declares no guard."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from fourlinks_kernel.access import Role
from fourlinks_kernel.envelope import Actor
from fourlinks_runtime.auth import require_roles

SECRETARIES = (Role.SECRETARY, Role.ADMINISTRATOR)
"""A unit's secretaries, and administrators above them."""
STAFF = (*SECRETARIES, Role.AUDITOR)
"""Those who read a unit's records."""
TASK_READERS = (*STAFF, Role.INSPECTOR)
"""Those who read a unit's tasks: staff, and inspectors who spot-check them."""
TASK_RAISERS = (*SECRETARIES, Role.INSPECTOR)
"""Those who raise a task by hand."""
TASK_WORKERS = (*SECRETARIES, Role.INSPECTOR, Role.MEMBER)
"""Those who add evidence to a task: its member, its inspector, its secretaries."""
ONE_TASK_READERS = (*TASK_READERS, Role.MEMBER)
"""Those who may read one task (a member only their own: `access`)."""
FEEDBACK_SUBMITTERS = (Role.RESIDENT, Role.MEMBER, *SECRETARIES)
"""Those who raise feedback: the household itself, its member on its behalf, its secretaries."""
FEEDBACK_READERS = (*FEEDBACK_SUBMITTERS, Role.AUDITOR, Role.INSPECTOR)
"""Those who may read some feedback (which items, and how much of each: `access`)."""
CALLBACK_ANSWERERS = (Role.RESIDENT, *SECRETARIES)
"""Those who record a call-back's answer: the household, or staff who took it down."""
DIRECTORY_READERS = (*STAFF, Role.MEMBER, Role.RESIDENT, Role.HELPER)
"""Those who may read some of the members' directory (what of it: `access`)."""
NAME_READERS = (*DIRECTORY_READERS, Role.INSPECTOR)
"""Those who may read some of the directory's names (which: `access`): its readers, and inspectors,
whose tasks name places and members."""

Administrator = Annotated[Actor, Depends(require_roles(Role.ADMINISTRATOR))]
Secretary = Annotated[Actor, Depends(require_roles(*SECRETARIES))]
Staff = Annotated[Actor, Depends(require_roles(*STAFF))]
StaffOrInspector = Annotated[Actor, Depends(require_roles(*TASK_READERS))]
Raiser = Annotated[Actor, Depends(require_roles(*TASK_RAISERS))]
TaskWorker = Annotated[Actor, Depends(require_roles(*TASK_WORKERS))]
TaskReader = Annotated[Actor, Depends(require_roles(*ONE_TASK_READERS))]
Inspector = Annotated[Actor, Depends(require_roles(Role.INSPECTOR))]
Member = Annotated[Actor, Depends(require_roles(Role.MEMBER))]
Resident = Annotated[Actor, Depends(require_roles(Role.RESIDENT))]
MemberOrSecretary = Annotated[Actor, Depends(require_roles(Role.MEMBER, *SECRETARIES))]
Submitter = Annotated[Actor, Depends(require_roles(*FEEDBACK_SUBMITTERS))]
FeedbackReader = Annotated[Actor, Depends(require_roles(*FEEDBACK_READERS))]
Answerer = Annotated[Actor, Depends(require_roles(*CALLBACK_ANSWERERS))]
DirectoryReader = Annotated[Actor, Depends(require_roles(*DIRECTORY_READERS))]
NameReader = Annotated[Actor, Depends(require_roles(*NAME_READERS))]
