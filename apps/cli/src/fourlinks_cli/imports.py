"""`fourlinks import FILE`: a roster from Excel (or CSV) into the running members service, as the
console's import page does it — the same reading, dry run, answer sheet and commands (HTTP, with
a token this machine signs for an administrator of the scope), so a file imports the same way
from either, and either continues what the other started.

Over HTTP rather than the handlers in process (as `fourlinks seed` does): the service then checks
scope, keeps each person's key and answers a repeated Idempotency-Key as for any request, with no
second path to keep right; and it is fast enough — a district's rosters in minutes
(docs/benchmarks.md)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fourlinks_console.i18n import Language
from fourlinks_console.rosters.checking import Plan, State, check
from fourlinks_console.rosters.directory import read_directory
from fourlinks_console.rosters.kinds import KINDS, Kind
from fourlinks_console.rosters.reading import read_roster
from fourlinks_console.rosters.running import Progress, send_plan
from fourlinks_console.rosters.sheets import Answered, answer
from fourlinks_console.services import Services
from fourlinks_console.settings import ConsoleSettings
from fourlinks_runtime.auth import issue_token
from fourlinks_runtime.progress import Progress as ProgressLine
from fourlinks_runtime.settings import Settings
from fourlinks_runtime.upstate import read_state

IMPORTER = "fourlinks-import"
"""Whom the command's token names: its Idempotency-Keys are this actor's, the same every run, so a
run after a crash meets the requests of the one before."""
TOKEN_HOURS = 12.0


@dataclass(frozen=True)
class Importing:
    """What to import, where, and as whom."""

    file: Path
    scope: str
    role: str = "administrator"
    dry_run: bool = False
    answer: Path | None = None
    in_flight: int = 32
    locale: str = "zh_CN"

    @property
    def answer_path(self) -> Path:
        """Where the answer sheet goes: beside the file unless named."""
        return self.answer or self.file.with_name(f"{self.file.stem}-答复表.xlsx")


@dataclass(frozen=True)
class Imported:
    """What became of a file: its plan, whether it was sent, the seconds each step took, and the
    answer sheet written (when a row was refused)."""

    plan: Plan
    sent: bool
    seconds: dict[str, float]
    answer: Path | None

    @property
    def refused_rows(self) -> int:
        """Rows refused (by the dry run or by the service)."""
        return self.plan.rows(State.REFUSED)


def members_url() -> str:
    """The members service: FOURLINKS_CONSOLE_MEMBERS_URL, else the one `fourlinks up` runs here."""
    settings = ConsoleSettings()
    if "members_url" in settings.model_fields_set:
        return settings.members_url
    state = read_state(Settings().var_dir)
    if state is not None and state.running and "members" in state.services:
        return f"http://127.0.0.1:{state.services['members']}"
    return settings.members_url


def importer_token(settings: Settings, importing: Importing) -> str:
    """A token for the importer, signed on this machine as `fourlinks token` signs one."""
    lifetime = timedelta(hours=TOKEN_HOURS)
    return issue_token(
        settings, subject=IMPORTER, roles=[importing.role], scope=importing.scope, lifetime=lifetime
    )


async def import_roster(importing: Importing, services: Services, token: str) -> Imported:
    """Read, check and (unless a dry run) send a file; the answer sheet written when a row is refused."""
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    roster = read_roster(importing.file.name, importing.file.read_bytes())
    seconds["read"] = _since(started)

    async def read(path: str, params: dict[str, Any]) -> Any:
        return await services.get(token, "members", path, params)

    async def send(path: str, body: dict[str, Any], key: str) -> dict[str, Any]:
        return await services.send(token, "members", path, body, idempotency_key=key)

    directory = await read_directory(read, importing.scope)
    seconds["directory"] = _since(started) - seconds["read"]
    plan = check(roster, directory)
    seconds["check"] = _since(started) - seconds["read"] - seconds["directory"]
    if not importing.dry_run and plan.rows(State.NEW):
        line = ProgressLine("rows", plan.rows(State.NEW))
        progress = Progress(total=plan.rows(State.NEW), tick=line.advance)
        sent_at = time.perf_counter()
        await send_plan(plan, directory, send, progress, in_flight=importing.in_flight)
        line.finish()
        seconds["import"] = _since(sent_at)
    written = None
    if plan.rows(State.REFUSED) or plan.sheet_problems:
        language = Language.of(importing.locale, Settings().timezone)
        at = datetime.now(ZoneInfo(language.timezone))
        scope = directory.scope_name
        importing.answer_path.write_bytes(answer(roster, plan, Answered(scope, at), language))
        written = importing.answer_path
    return Imported(plan, not importing.dry_run, seconds, written)


def _since(started: float) -> float:
    return time.perf_counter() - started


def report(imported: Imported) -> list[str]:
    """What the command prints: each kind's records by where they stand, the time each step took."""
    language = Language.of("zh_CN", "Asia/Shanghai")
    counts = imported.plan.counts()
    lines = [f"{'':<6}{'new':>9}{'created':>9}{'existed':>9}{'refused':>9}"]
    for kind in Kind:
        if imported.plan.items[kind]:
            c = counts[kind]
            label = language.gettext(KINDS[kind].label)
            lines.append(
                f"{label:<6}{c[State.NEW]:>9,}{c[State.CREATED]:>9,}{c[State.EXISTS]:>9,}{c[State.REFUSED]:>9,}"
            )
    rows = imported.plan.rows()
    lines.append(f"{rows:,} rows; " + ", ".join(f"{step} {s:.1f} s" for step, s in imported.seconds.items()))
    if "import" in imported.seconds and imported.seconds["import"] > 0:
        sent = imported.plan.rows(State.CREATED, State.REFUSED)
        lines.append(f"imported {sent / imported.seconds['import']:,.0f} rows/s")
    for sheet, problem in imported.plan.sheet_problems:
        lines.append(f"sheet {sheet}: {problem.said(language)}")
    if imported.answer is not None:
        lines.append(f"{imported.refused_rows:,} rows refused: each with its reason in {imported.answer}")
    return lines
