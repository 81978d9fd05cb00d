"""Rosters from Excel: a template of each kind to download; a file uploaded is checked row by row
(the dry run) and answered with its refused rows and their reasons; then imported through the
members service's commands with the secretary's own token, its progress on the page.

An import is a job of this console process, seen only by whoever started it. If the console
restarts mid-way the job is gone, not the records: the same file uploaded again is checked anew,
what was registered reads as registered, and the rest is imported (`rosters/running.py`)."""

from __future__ import annotations

import asyncio
import secrets
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from fourlinks_console.access import opening
from fourlinks_console.exports import XLSX, attachment
from fourlinks_console.labels import Labels, Wanted, labels_for
from fourlinks_console.names import N_
from fourlinks_console.people import CheckedForm, CurrentPerson, Person
from fourlinks_console.rosters.checking import Plan, State, check
from fourlinks_console.rosters.directory import Directory, Reader, read_directory
from fourlinks_console.rosters.kinds import KINDS, Kind
from fourlinks_console.rosters.problems import Problem, RosterRefused
from fourlinks_console.rosters.reading import Roster, read_roster
from fourlinks_console.rosters.running import Progress, RunStopped, Send, send_plan
from fourlinks_console.rosters.sheets import Answered, answer, template, template_csv
from fourlinks_console.services import ServiceRefused, Services, ServiceUnavailable
from fourlinks_console.web import pages_of, see_other

log = structlog.get_logger(__name__)
router = APIRouter()
ROSTER_FORM_BYTES = 64 * 1024 * 1024
"""An uploaded roster: a district's households with their residents are a few megabytes."""
JOBS_KEPT = 50
"""Imports this console remembers (the oldest finished are forgotten first)."""
IN_FLIGHT = 8
"""Requests an import keeps in flight: the console shares the members service with everyone."""
REFUSED_SHOWN = 200
"""Refused rows the page lists (the answer sheet holds them all)."""
ANSWER = N_("answer sheet")
NO_FILE = Problem("file_missing")


class Phase(StrEnum):
    """Where an import stands."""

    CHECKING = "checking"
    CHECKED = "checked"
    IMPORTING = "importing"
    DONE = "done"
    STOPPED = "stopped"
    REFUSED = "refused"


PHASE_WORDS = {
    Phase.CHECKING: N_("Checking"),
    Phase.CHECKED: N_("Checked"),
    Phase.IMPORTING: N_("Importing"),
    Phase.DONE: N_("Imported"),
    Phase.STOPPED: N_("Stopped"),
    Phase.REFUSED: N_("File refused"),
}


@dataclass
class Job:
    """One file's dry run and import: whose, which scope, where it stands and what it found."""

    id: str
    owner: str
    scope: str
    file: str
    started: datetime
    phase: Phase = Phase.CHECKING
    roster: Roster | None = None
    directory: Directory | None = None
    plan: Plan | None = None
    progress: Progress | None = None
    problem: Problem | None = None
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def working(self) -> bool:
        """Whether the page should look again shortly."""
        return self.phase in (Phase.CHECKING, Phase.IMPORTING)


class Jobs:
    """The imports this console process runs and remembers."""

    def __init__(self) -> None:
        self._jobs: OrderedDict[str, Job] = OrderedDict()

    def add(self, job: Job) -> Job:
        """Remember a new job (forgetting the oldest finished beyond JOBS_KEPT)."""
        self._jobs[job.id] = job
        finished = [j.id for j in self._jobs.values() if not j.working]
        for old in finished[: max(len(self._jobs) - JOBS_KEPT, 0)]:
            del self._jobs[old]
        return job

    def mine(self, person: Person, job_id: str) -> Job:
        """The person's own job, else 404 (another's is not theirs to see)."""
        job = self._jobs.get(job_id)
        if job is None or job.owner != person.id:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such import")
        return job

    def of(self, person: Person) -> list[Job]:
        """The person's jobs, the latest first."""
        return [j for j in reversed(self._jobs.values()) if j.owner == person.id]


def jobs_of(request: Request) -> Jobs:
    """The app's imports (made on first use)."""
    state = request.app.state
    if not hasattr(state, "imports"):
        state.imports = Jobs()
    jobs: Jobs = state.imports
    return jobs


def _reader(services: Services, token: str) -> Reader:
    async def read(path: str, params: dict[str, Any]) -> Any:
        return await services.get(token, "members", path, params)

    return read


def _sender(services: Services, token: str) -> Send:
    async def send(path: str, body: dict[str, Any], key: str) -> dict[str, Any]:
        return await services.send(token, "members", path, body, idempotency_key=key)

    return send


@router.get("/import", name="imports", dependencies=[opening("imports")])
async def imports_page(request: Request, person: CurrentPerson) -> Response:
    return await _imports(request, person)


async def _imports(request: Request, person: Person, problem: Problem | None = None) -> Response:
    labels = await labels_for(request, person, Wanted().trail(person.scope))
    context = {
        "labels": labels,
        "kinds": list(KINDS.values()),
        "jobs": jobs_of(request).of(person),
        "problem": problem,
        "phase_words": PHASE_WORDS,
    }
    return pages_of(request).render(request, "imports.html", context, status=422 if problem else 200)


@router.get("/import/template/{kind}.{fmt}", dependencies=[opening("imports")])
async def template_file(request: Request, person: CurrentPerson, kind: str, fmt: str) -> Response:
    """A kind's template: the reader's units listed to choose from (in the Excel one)."""
    if kind not in {k.value for k in Kind} or fmt not in ("xlsx", "csv"):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "templates: members, households, enterprises, cards")
    roster = KINDS[Kind(kind)]
    language = pages_of(request).language(request)
    name, fallback = f"{roster.sheet}-导入模板.{fmt}", f"fourlinks-{kind}-template.{fmt}"
    if fmt == "csv":
        return attachment(
            template_csv(roster), name=name, fallback=fallback, media_type="text/csv; charset=utf-8"
        )
    services: Services = request.app.state.services
    directory = await read_directory(_reader(services, person.token), person.scope, records=False)
    content = await asyncio.to_thread(template, roster, directory, language)
    return attachment(content, name=name, fallback=fallback, media_type=XLSX)


@router.post("/import", dependencies=[opening("imports")])
async def upload(request: Request, person: CurrentPerson, _: CheckedForm) -> Response:
    """A file to check: its dry run starts, and its page follows it."""
    sent = (await request.form()).get("roster")
    if not isinstance(sent, UploadFile) or not sent.filename:
        return await _imports(request, person, NO_FILE)
    content = await sent.read()
    zone = ZoneInfo(request.app.state.runtime.timezone)
    job = Job(
        secrets.token_urlsafe(12), person.id, person.scope.strip("/"), sent.filename, datetime.now(zone)
    )
    jobs_of(request).add(job)
    job.task = asyncio.create_task(_dry_run(job, content, request.app.state.services, person.token))
    return see_other(f"/import/{job.id}")


async def _dry_run(job: Job, content: bytes, services: Services, token: str) -> None:
    """Read the file, read the scope, check every row."""
    try:
        job.roster = await asyncio.to_thread(read_roster, job.file, content)
        job.directory = await read_directory(_reader(services, token), job.scope)
        job.plan = await asyncio.to_thread(check, job.roster, job.directory)
        job.phase = Phase.CHECKED
    except RosterRefused as refused:
        job.problem, job.phase = refused.problem, Phase.REFUSED
    except ServiceRefused as refused:
        job.problem, job.phase = Problem.of(refused), Phase.REFUSED
    except ServiceUnavailable:
        job.problem, job.phase = Problem("unavailable", status=503), Phase.REFUSED
    except Exception:
        log.exception("roster_check_failed", job=job.id)
        job.problem, job.phase = Problem("system_error", status=500), Phase.REFUSED


@router.get("/import/{job_id}", name="import_job", dependencies=[opening("imports")])
async def job_page(request: Request, person: CurrentPerson, job_id: str) -> Response:
    job = jobs_of(request).mine(person, job_id)
    labels = await labels_for(request, person, Wanted().trail(job.scope))
    return pages_of(request).render(request, "import_job.html", _shown(job, labels))


def _shown(job: Job, labels: Labels) -> dict[str, Any]:
    """What the job's page shows: its counts by kind, its refused rows (the first of them)."""
    plan = job.plan
    refused = plan.refused() if plan else []
    return {
        "job": job,
        "labels": labels,
        "kinds": [(KINDS[k], plan.counts()[k]) for k in Kind if plan.items[k]] if plan else [],
        "refused": refused[:REFUSED_SHOWN],
        "refused_total": len(refused),
        "new_rows": plan.rows(State.NEW) if plan else 0,
        "states": State,
        "phase_words": PHASE_WORDS,
    }


@router.post("/import/{job_id}/run", dependencies=[opening("imports")])
async def run(request: Request, person: CurrentPerson, _: CheckedForm, job_id: str) -> Response:
    """Import what the dry run found new (or go on with what a stopped run did not send)."""
    job = jobs_of(request).mine(person, job_id)
    if job.phase in (Phase.CHECKED, Phase.STOPPED) and job.plan and job.directory:
        job.phase, job.problem = Phase.IMPORTING, None
        job.progress = Progress(total=job.plan.rows(State.NEW))
        job.task = asyncio.create_task(_import(job, request.app.state.services, person.token))
    return see_other(f"/import/{job.id}")


async def _import(job: Job, services: Services, token: str) -> None:
    assert job.plan is not None  # checked before it is run
    assert job.directory is not None
    assert job.progress is not None
    try:
        await send_plan(job.plan, job.directory, _sender(services, token), job.progress, in_flight=IN_FLIGHT)
        job.phase = Phase.DONE
    except RunStopped as stopped:
        job.problem, job.phase = stopped.problem, Phase.STOPPED
    except Exception:
        log.exception("roster_import_failed", job=job.id)
        job.problem, job.phase = Problem("system_error", status=500), Phase.STOPPED


@router.get("/import/{job_id}/answer.xlsx", dependencies=[opening("imports")])
async def answer_sheet(request: Request, person: CurrentPerson, job_id: str) -> Response:
    """The file's refused rows with their reasons (and those not sent, when the run stopped)."""
    job = jobs_of(request).mine(person, job_id)
    if job.plan is None or job.roster is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not checked yet")
    labels = await labels_for(request, person, Wanted().trail(job.scope))
    zone = ZoneInfo(request.app.state.runtime.timezone)
    answered = Answered(labels.unit(job.scope), datetime.now(zone), stopped=job.phase == Phase.STOPPED)
    content = await asyncio.to_thread(answer, job.roster, job.plan, answered, labels.language)
    stem = job.file.rsplit(".", 1)[0]
    return attachment(
        content,
        name=f"{stem}-{labels.say(ANSWER)}.xlsx",
        fallback=f"fourlinks-import-{job.id}.xlsx",
        media_type=XLSX,
    )
