"""A district's year, made through the real command handlers on an in-memory store.

The seed makes the district (members, households, enterprises, cards); then a discrete-event
simulation runs a year in time order: visits at each household's cadence (some find a problem that
becomes a task), residents' feedback routed into tasks worked through the whole loop (accept,
progress, resolution, spot check, closure, call-back, follow-up, and a correction that reopens the
task now and then), themed party days and quarterly ratings. Every event carries the simulated
moment it happened, so months, deadlines and KPIs look like a real year. The same seed gives the
same year; the volume of feedback is paced so the log reaches its target size at the year's end.
"""

from __future__ import annotations

import heapq
import json
import random
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import count

from fourlinks_assignments.application import handlers as tasks
from fourlinks_assignments.application.commands import (
    AcceptTask,
    CloseTask,
    HoldPartyDay,
    RaiseAndHandOut,
    ReopenTask,
    ReportProgress,
    ReportResolution,
    SpotCheck,
)
from fourlinks_assignments.application.handlers import MemberInfo
from fourlinks_assignments.domain.tasks import DeadlinePolicy, NewTask
from fourlinks_contracts.assignments import CloseReason, ResolutionResult, TaskSource
from fourlinks_contracts.feedback import Channel, FeedbackKind, Resolved, Satisfaction
from fourlinks_contracts.members import ContactKind, Urgency
from fourlinks_feedback.application import handlers as feedback
from fourlinks_feedback.application.commands import (
    NoteCallbackTime,
    RateMember,
    RecordCallback,
    ScheduleCallback,
    SubmitFeedback,
)
from fourlinks_feedback.domain.feedback import CallbackTimes, NewFeedback, task_id_for
from fourlinks_kernel.envelope import Actor, CommandContext
from fourlinks_kernel.memory import InMemoryEventStore
from fourlinks_kernel.unit_of_work import UnitOfWork, run_command
from fourlinks_members.application import handlers as members
from fourlinks_members.application.commands import RecordVisit
from fourlinks_members.seed import Seeder
from fourlinks_runtime.progress import Progress

EVENTS_PER_CASE = 17  # a feedback case through the whole loop, measured on the generated data
CATEGORIES = ("repairs", "environment", "dispute_mediation", "elderly_care", "safety", "policy_explanation")
"""Codes of the service matters (`fourlinks_contracts.service_matters`), as the APIs take them."""
POLICY = DeadlinePolicy(reminder_fraction=0.8)  # the default limits; reminders later than by default
TIMES = CallbackTimes()
_IDS = uuid.UUID("5e0c1d2a-8b7f-4a3e-9c6d-0f1e2d3c4b5a")


class SimulatedClock:
    """The moment events occur at: moved forward by the simulation, read by the codec."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Contact:
    """A household or enterprise with the member whose card covers it."""

    contact_id: str
    kind: ContactKind
    org_unit: str
    community: str
    member_id: str | None = None
    card_id: str | None = None
    cadence_days: int = 60


@dataclass
class District:
    """What the year needs to know of the seeded district, read back from its events."""

    members: dict[str, MemberInfo] = field(default_factory=dict)
    contacts: dict[str, Contact] = field(default_factory=dict)
    communities: set[str] = field(default_factory=set)

    async def member(self, member_id: str) -> MemberInfo | None:
        """The assignments service's directory port, answered from memory."""
        return self.members.get(member_id)

    async def member_of_contact(self, contact_id: str) -> str | None:
        """The member on the contact's card."""
        contact = self.contacts.get(contact_id)
        return contact.member_id if contact else None

    async def contact_kind(self, contact_id: str) -> str | None:
        """ "household" or "enterprise" for a contact of the district."""
        contact = self.contacts.get(contact_id)
        return contact.kind.value if contact else None

    def covered(self) -> list[Contact]:
        """Contacts with a member, in a stable order."""
        return sorted((c for c in self.contacts.values() if c.member_id), key=lambda c: c.contact_id)


def community_of(path: str) -> str:
    """The community a unit lies in (district/street/community[/building])."""
    return "/".join(path.split("/")[:3])


def read_district(store: InMemoryEventStore) -> District:
    """Members, contacts and cards as the seed recorded them."""
    district = District()
    helpers: dict[str, set[str]] = {}
    for stored in store._log:
        data = json.loads(stored.payload)["data"]
        kind = stored.event_type
        if kind == "MemberRegistered":
            district.members[data["member_id"]] = MemberInfo(
                data["member_id"], data["org_unit"], True, frozenset()
            )
            district.communities.add(community_of(data["org_unit"]))
        elif kind == "HelperAttached":
            helpers.setdefault(data["member_id"], set()).add(data["helper_id"])
        elif kind == "HouseholdRegistered":
            district.contacts[data["household_id"]] = Contact(
                data["household_id"],
                ContactKind.HOUSEHOLD,
                data["org_unit"],
                community_of(data["org_unit"]),
                cadence_days=data["visit_cadence_days"],
            )
        elif kind == "EnterpriseRegistered":
            district.contacts[data["enterprise_id"]] = Contact(
                data["enterprise_id"],
                ContactKind.ENTERPRISE,
                data["org_unit"],
                community_of(data["org_unit"]),
            )
        elif kind == "ContactLinked":
            contact = district.contacts[data["contact_id"]]
            contact.member_id, contact.card_id = data["member_id"], data["card_id"]
    for member_id, ids in helpers.items():
        info = district.members[member_id]
        district.members[member_id] = MemberInfo(member_id, info.org_unit, info.active, frozenset(ids))
    return district


Step = Callable[[], Awaitable[None]]


class Year:
    """Runs the year's commands in time order against the store."""

    def __init__(
        self, store: InMemoryEventStore, clock: SimulatedClock, district: District, *, target: int, seed: int
    ) -> None:
        self.store, self.clock, self.district, self.target = store, clock, district, target
        self.random = random.Random(seed)  # noqa: S311 - made-up data, reproducible by design
        self.start = clock.now
        self.end = self.start + timedelta(days=365)
        self._agenda: list[tuple[datetime, int, Step]] = []
        self._order = count()
        self._ids = count()
        self.commands = 0

    def at(self, moment: datetime, step: Step) -> None:
        """Schedule a step; steps past the year's end are dropped (the year is over)."""
        if moment < self.end:
            heapq.heappush(self._agenda, (moment, next(self._order), step))

    def id(self, kind: str) -> str:
        """A stable id for something the year creates."""
        return str(uuid.uuid5(_IDS, f"{kind}:{next(self._ids)}"))

    async def run(self) -> None:
        """Plan visits, party days and ratings, pace feedback daily, then play everything in order."""
        contacts = self.district.covered()
        for contact in contacts:
            first = self.start + timedelta(days=self.random.uniform(0, contact.cadence_days))
            self.at(first, self._visit(contact))
        for community in sorted(self.district.communities):
            for month in range(12):
                self.at(self.start + timedelta(days=30 * month + 5, hours=9), self._party_day(community))
        for quarter in range(1, 5):
            self.at(self.start + timedelta(days=91 * quarter - 1, hours=20), self._ratings(contacts, quarter))
        for day in range(365):
            self.at(self.start + timedelta(days=day, hours=7), self._feedback_day(contacts, day))
        progress = Progress("year", self.target)
        while self._agenda:
            moment, _, step = heapq.heappop(self._agenda)
            self.clock.now = moment
            before = await self.store.last_position()
            await step()
            progress.advance(await self.store.last_position() - before)
        progress.finish()

    async def command(self, actor: Actor, work: Callable[[UnitOfWork], Awaitable[object]]) -> None:
        """One command through the real handlers, as `actor`."""
        self.commands += 1
        await run_command(self.store, CommandContext.new(actor), work)

    # -- actors --------------------------------------------------------------------------------
    @staticmethod
    def secretary(community: str) -> Actor:
        """The community's secretary: triage, spot checks, closures, call-backs."""
        return Actor(id=f"secretary:{community}", roles=("secretary",), scope=community)

    @staticmethod
    def member(member_id: str, community: str) -> Actor:
        """A party member at work on their own tasks and visits."""
        return Actor(id=member_id, roles=("member",), scope=community)

    @staticmethod
    def resident(contact: Contact) -> Actor:
        """A household speaking for itself."""
        return Actor(id=contact.contact_id, roles=("resident",), scope=contact.org_unit)

    # -- visits --------------------------------------------------------------------------------
    def _visit(self, contact: Contact) -> Step:
        async def step() -> None:
            assert contact.member_id is not None
            visit_id = self.id("visit")
            found = self.random.random() < 0.04
            problem = (
                (self.random.choice(CATEGORIES), "楼道灯不亮，需要维修", Urgency.GENERAL) if found else None
            )

            async def work(uow: UnitOfWork) -> None:
                await members.record_visit(
                    RecordVisit(
                        actor=self.member(contact.member_id or "", contact.community),
                        visit_id=visit_id,
                        member_id=contact.member_id or "",
                        contact_kind=contact.kind,
                        contact_id=contact.contact_id,
                        visited_on=self.clock.now.date(),
                        notes="上门走访，了解近况",
                        problem=problem,
                        today=self.clock.now.date(),
                    ),
                    uow,
                )

            await self.command(self.member(contact.member_id, contact.community), work)
            if problem is not None:
                task_id = str(uuid.uuid5(_IDS, f"visit-task:{visit_id}"))
                new = self._new_task(
                    task_id, TaskSource.VISIT, visit_id, contact, category=problem[0], text=problem[1]
                )
                self.at(self.clock.now + timedelta(minutes=2), self._hand_out(new, contact))
            self.at(self.clock.now + timedelta(days=contact.cadence_days), self._visit(contact))

        return step

    # -- feedback and the task loop ------------------------------------------------------------------
    def _feedback_day(self, contacts: list[Contact], day: int) -> Step:
        async def step() -> None:
            days_left = 365 - day
            planned_other = self._planned_other_events(contacts, days_left)
            missing = self.target - await self.store.last_position() - planned_other
            cases = max(0, round(missing / (EVENTS_PER_CASE * days_left)))
            for _ in range(cases):
                contact = self.random.choice(contacts)
                moment = self.clock.now + timedelta(minutes=self.random.uniform(0, 14 * 60))
                self.at(moment, self._submit(contact))

        return step

    def _planned_other_events(self, contacts: list[Contact], days_left: int) -> int:
        visits = sum(days_left / c.cadence_days for c in contacts)
        ratings = len(contacts) * 0.4 * (days_left / 91)
        return round(visits * 1.1 + ratings)

    def _submit(self, contact: Contact) -> Step:
        async def step() -> None:
            feedback_id = self.id("feedback")
            category = self.random.choice(CATEGORIES)
            new = NewFeedback(
                feedback_id=feedback_id,
                channel=self.random.choice([Channel.CARD_QR, Channel.PHONE, Channel.WEB, Channel.VISIT]),
                kind=FeedbackKind.PROBLEM,
                category=category,
                urgency=Urgency.URGENT if self.random.random() < 0.1 else Urgency.GENERAL,
                org_unit=contact.org_unit,
                household_id=contact.contact_id if contact.kind == ContactKind.HOUSEHOLD else None,
                enterprise_id=contact.contact_id if contact.kind == ContactKind.ENTERPRISE else None,
                description="小区门口路灯坏了，晚上出行不便",
            )
            actor = self.secretary(contact.community)

            async def work(uow: UnitOfWork) -> None:
                await feedback.submit(SubmitFeedback(actor, new, contact.member_id, self.clock.now), uow)

            await self.command(actor, work)
            task = self._new_task(
                task_id_for(feedback_id),
                TaskSource.FEEDBACK,
                feedback_id,
                contact,
                category=category,
                text=new.description,
            )
            self.at(
                self.clock.now + timedelta(seconds=self.random.uniform(1, 30)), self._hand_out(task, contact)
            )

        return step

    @staticmethod
    def _new_task(
        task_id: str, source: TaskSource, ref: str, contact: Contact, *, category: str, text: str
    ) -> NewTask:
        household = contact.contact_id if contact.kind == ContactKind.HOUSEHOLD else None
        return NewTask(
            task_id=task_id,
            source=source,
            source_ref=ref,
            category=category,
            urgency=Urgency.GENERAL,
            org_unit=contact.org_unit,
            household_id=household,
            enterprise_id=None if household else contact.contact_id,
            description=text,
        )

    def _hand_out(self, new: NewTask, contact: Contact) -> Step:
        async def step() -> None:
            policy = Actor(id=f"policy:raise-from-{new.source.value}", roles=("service",))

            async def work(uow: UnitOfWork) -> None:
                await tasks.raise_and_hand_out(
                    RaiseAndHandOut(policy, new, self.clock.now, POLICY), uow, self.district
                )

            await self.command(policy, work)
            self._later(hours=(1, 4), step=self._accept(new, contact))

        return step

    def _later(self, *, hours: tuple[float, float], step: Step) -> None:
        self.at(self.clock.now + timedelta(hours=self.random.uniform(*hours)), step)

    def _accept(self, new: NewTask, contact: Contact) -> Step:
        async def step() -> None:
            worker = self.member(contact.member_id or "", contact.community)

            async def work(uow: UnitOfWork) -> None:
                await tasks.accept(AcceptTask(worker, new.task_id), uow)

            await self.command(worker, work)
            if self.random.random() < 0.3:
                self._later(hours=(4, 24), step=self._progress(new, contact))
            else:
                self._later(hours=(6, 96), step=self._resolve(new, contact))

        return step

    def _progress(self, new: NewTask, contact: Contact) -> Step:
        async def step() -> None:
            worker = self.member(contact.member_id or "", contact.community)

            async def work(uow: UnitOfWork) -> None:
                await tasks.report_progress(ReportProgress(worker, new.task_id, "已联系物业，材料已到"), uow)

            await self.command(worker, work)
            self._later(hours=(6, 72), step=self._resolve(new, contact))

        return step

    def _resolve(self, new: NewTask, contact: Contact) -> Step:
        async def step() -> None:
            worker = self.member(contact.member_id or "", contact.community)

            async def work(uow: UnitOfWork) -> None:
                await tasks.report_resolution(
                    ReportResolution(
                        worker, new.task_id, "已更换灯具，居民确认可用", ResolutionResult.RESOLVED
                    ),
                    uow,
                )

            await self.command(worker, work)
            self._later(hours=(2, 30), step=self._check(new, contact))

        return step

    def _check(self, new: NewTask, contact: Contact) -> Step:
        async def step() -> None:
            secretary = self.secretary(contact.community)
            passed = self.random.random() < 0.95

            async def work(uow: UnitOfWork) -> None:
                await tasks.spot_check(SpotCheck(secretary, new.task_id, passed, "现场抽查"), uow)

            await self.command(secretary, work)
            if passed:
                self._later(hours=(0.5, 8), step=self._close(new, contact))
            else:
                self._later(hours=(6, 48), step=self._resolve(new, contact))

        return step

    def _close(self, new: NewTask, contact: Contact) -> Step:
        async def step() -> None:
            secretary = self.secretary(contact.community)

            async def work(uow: UnitOfWork) -> None:
                await tasks.close(
                    CloseTask(secretary, new.task_id, CloseReason.RESOLVED, "", self.clock.now), uow
                )

            await self.command(secretary, work)
            if new.source == TaskSource.FEEDBACK and new.source_ref:
                self.at(self.clock.now + timedelta(seconds=5), self._callback_due(new, contact))

        return step

    def _callback_due(self, new: NewTask, contact: Contact) -> Step:
        async def step() -> None:
            policy = Actor(id="policy:callback-on-closure", roles=("service",))
            closed_at = self.clock.now

            async def work(uow: UnitOfWork) -> None:
                await feedback.schedule_callback(
                    ScheduleCallback(new.source_ref or "", closed_at, TIMES), uow
                )

            await self.command(policy, work)
            self.at(
                closed_at + TIMES.delay + timedelta(hours=self.random.uniform(0, 30)),
                self._answer(new, contact),
            )

        return step

    def _answer(self, new: NewTask, contact: Contact, *, follow_up: bool = False) -> Step:
        async def step() -> None:
            secretary = self.secretary(contact.community)
            roll = self.random.random()
            if roll < 0.04:  # not reached: the scheduler records it when the answer window closes
                self.at(self.clock.now + TIMES.answer_window, self._not_reached(new))
                return
            satisfaction = (
                Satisfaction.DISSATISFIED
                if roll < 0.09
                else Satisfaction.BASICALLY_SATISFIED
                if roll < 0.2
                else Satisfaction.SATISFIED
            )
            resolved = Resolved.NO if satisfaction == Satisfaction.DISSATISFIED else Resolved.YES

            async def work(uow: UnitOfWork) -> None:
                await feedback.record_callback(
                    RecordCallback(
                        actor=secretary,
                        feedback_id=new.source_ref or "",
                        org_unit=contact.org_unit,
                        resolved=resolved,
                        satisfaction=satisfaction,
                        comment="" if resolved == Resolved.YES else "还是不亮",
                        now=self.clock.now,
                        times=TIMES,
                    ),
                    uow,
                )

            await self.command(secretary, work)
            if resolved == Resolved.NO:
                self.at(self.clock.now + timedelta(seconds=5), self._reopen(new, contact))
            elif not follow_up:
                self.at(self.clock.now + TIMES.follow_up, self._answer(new, contact, follow_up=True))

        return step

    def _not_reached(self, new: NewTask) -> Step:
        async def step() -> None:
            scheduler = Actor(id="scheduler:callbacks", roles=("service",))

            async def work(uow: UnitOfWork) -> None:
                await feedback.note_callback_time(NoteCallbackTime(new.source_ref or "", self.clock.now), uow)

            await self.command(scheduler, work)

        return step

    def _reopen(self, new: NewTask, contact: Contact) -> Step:
        async def step() -> None:
            policy = Actor(id="policy:reopen-on-correction", roles=("service",))

            async def work(uow: UnitOfWork) -> None:
                await tasks.reopen(ReopenTask(policy, new.task_id, "居民反映问题未解决", new.source_ref), uow)

            await self.command(policy, work)
            self._later(hours=(6, 72), step=self._resolve(new, contact))

        return step

    # -- party days and ratings -------------------------------------------------------------------------
    def _party_day(self, community: str) -> Step:
        async def step() -> None:
            secretary = self.secretary(community)
            held_on = self.clock.now.date()

            async def work(uow: UnitOfWork) -> None:
                await tasks.hold_party_day(
                    HoldPartyDay(secretary, community, held_on, ["政策宣讲", "走访分片"]), uow
                )

            await self.command(secretary, work)

        return step

    def _ratings(self, contacts: list[Contact], quarter: int) -> Step:
        async def step() -> None:
            period = f"{self.clock.now.year}-Q{quarter}"
            for contact in contacts:
                if contact.kind != ContactKind.HOUSEHOLD or self.random.random() > 0.4:
                    continue
                resident = self.resident(contact)
                score = self.random.choice((5, 5, 5, 4, 4, 3))

                async def work(
                    uow: UnitOfWork,
                    contact: Contact = contact,
                    score: int = score,
                    resident: Actor = resident,
                ) -> None:
                    await feedback.rate_member(
                        RateMember(
                            actor=resident,
                            household_id=contact.contact_id,
                            member_id=contact.member_id,
                            card_id=contact.card_id,
                            period=period,
                            score=score,
                            comment="",
                        ),
                        uow,
                    )

                await self.command(resident, work)

        return step


async def simulate(
    store: InMemoryEventStore,
    clock: SimulatedClock,
    *,
    scale: float,
    target: int,
    seed: int,
    phone_index: Callable[[str], str],
) -> dict[str, int]:
    """Seed a district at `scale` and run its year until the log holds about `target` events."""
    seeder = Seeder(store, district="yuhang", scale=scale, seed=seed, phone_index=phone_index)
    made = await seeder.run()
    district = read_district(store)
    year = Year(store, clock, district, target=target, seed=seed)
    await year.run()
    return {**made, "events": await store.last_position(), "year_commands": year.commands}


def year_start(today: date) -> datetime:
    """The simulated year ends yesterday, so every visit date lies in the past."""
    return datetime.combine(today - timedelta(days=366), datetime.min.time(), tzinfo=UTC)
