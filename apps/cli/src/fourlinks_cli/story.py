"""Six weeks of one community's work, told through the real command handlers right after `fourlinks
seed` made the district (people and cards six weeks ago), so that every page of the console has
something true to show on the first visit: members' visits, residents' problems, opinions,
questions and praise, tasks in every state of the loop (raised, rejected, accepted, assigned, in
progress and overdue, awaiting a check, ready to close, parked, closed), call-backs answered, not
reached and due now, a correction that reopened a task, two themed party days and ratings.

Every command carries the moment it happened (`CommandContext.occurred_at`) and decides on it
(deadlines, call-backs and follow-ups fall as they would have). What the services' policies do in
reaction — a routed problem or a visit's problem becomes a task, a closure schedules its call-back,
a correction reopens the task — the story does too, with the policy's own command id: when the
service's policy meets the same event it finds its command done and records nothing, so nothing
happens twice and everything keeps its date. What time does by itself (a deadline missed, a
call-back nobody answered) the services' schedulers record when they start: those are today's."""

from __future__ import annotations

import random
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from nats.aio.client import Client

from fourlinks_assignments.application import handlers as tasks
from fourlinks_assignments.application.commands import (
    AcceptTask,
    CloseTask,
    HoldPartyDay,
    ParkTask,
    RaiseAndHandOut,
    RaiseTask,
    RejectTask,
    ReportProgress,
    ReportResolution,
    SpotCheck,
    TriageTask,
)
from fourlinks_assignments.application.handlers import MemberInfo
from fourlinks_assignments.application.reactions import (
    deadline_policy_of,
    reopening,
    task_of_routed,
    task_of_visit,
)
from fourlinks_assignments.domain.party_days import session_id_for
from fourlinks_assignments.domain.tasks import NewTask, Task
from fourlinks_contracts import full_registry
from fourlinks_contracts.assignments import CloseReason, RejectionReason, ResolutionResult, TaskSource
from fourlinks_contracts.feedback import (
    Channel,
    CorrectionRequested,
    FeedbackKind,
    FeedbackRouted,
    Resolved,
    Satisfaction,
)
from fourlinks_contracts.members import ContactKind, Urgency, VisitRecorded
from fourlinks_feedback.application import handlers as feedback
from fourlinks_feedback.application.commands import (
    AnswerFeedback,
    MarkDuplicate,
    MarkNotReached,
    RateMember,
    RecordCallback,
    RouteFeedback,
    ScheduleCallback,
    SubmitFeedback,
)
from fourlinks_feedback.application.reactions import callback_times_of
from fourlinks_feedback.domain.feedback import Feedback, NewFeedback
from fourlinks_kernel.access import Role
from fourlinks_kernel.aggregate import Aggregate
from fourlinks_kernel.envelope import Actor, CommandContext, RecordedEvent, reaction_context
from fourlinks_kernel.store import EventStore
from fourlinks_kernel.unit_of_work import Outcome, UnitOfWork, run_command
from fourlinks_members.application import handlers as members
from fourlinks_members.application.commands import RecordVisit
from fourlinks_members.domain.contacts import Household
from fourlinks_members.seed import Community, Seeder
from fourlinks_runtime.eventstore import open_event_store
from fourlinks_runtime.settings import Settings

STORY_DAYS = 42
"""How far back the story starts: the district's people and cards were made the day before."""
_IDS = uuid.UUID("0b6f2c8e-4d1a-4f7b-9e3c-2a5d8c1b7e60")
T = TypeVar("T")
Work = Callable[[UnitOfWork], Awaitable[Any]]
WORKED = (
    ("已联系物业，材料已到", "已更换灯具，居民确认可用"),
    ("已上门查看，约好维修时间", "已疏通下水管道，试水正常"),
    ("已协调双方当面沟通", "双方达成一致，签订调解协议"),
)
"""What members report as progress and as what was done."""


def story_started(now: datetime) -> datetime:
    """When the story begins: `STORY_DAYS` before now (the seed's people are made the day before)."""
    return now - timedelta(days=STORY_DAYS)


@dataclass(frozen=True)
class Stores:
    """The event store as each service writes it (each signs its own events)."""

    members: EventStore
    assignments: EventStore
    feedback: EventStore


def open_stores(nc: Client, settings: Settings) -> Stores:
    """The three services' stores on one connection."""
    registry = full_registry()
    opened = (
        open_event_store(nc, settings, registry, service=s)[0] for s in ("members", "assignments", "feedback")
    )
    return Stores(*opened)


class Directory:
    """The assignments service's directory port, answered from what the seed made."""

    def __init__(self, community: Community) -> None:
        self._members = {m: MemberInfo(m, building, True, frozenset()) for m, building in community.members}
        self._on_card = {contact: m for m, contacts in community.cards.items() for contact in contacts}
        self._enterprises = set(community.enterprises)

    async def member(self, member_id: str) -> MemberInfo | None:
        return self._members.get(member_id)

    async def member_of_contact(self, contact_id: str) -> str | None:
        return self._on_card.get(contact_id)

    async def contact_kind(self, contact_id: str) -> str | None:
        return "enterprise" if contact_id in self._enterprises else "household"


@dataclass(frozen=True)
class Home:
    """A covered household of the community, with its building and its card's member."""

    household: str
    building: str
    member: str


@dataclass(frozen=True)
class Case:
    """A problem a household raises, when, and how far its loop has come by now."""

    home: Home
    at: datetime
    category: str
    words: str
    fate: str  # where the story leaves it (see `Story.problem`)
    channel: Channel = Channel.WEB


class Story:
    """One community's six weeks, in time order, through the services' handlers."""

    def __init__(
        self, stores: Stores, community: Community, *, settings: Settings, now: datetime, seed: int
    ) -> None:
        self.stores, self.community, self.now = stores, community, now
        self.zone = ZoneInfo(settings.timezone)
        self.start = story_started(now)
        self.deadlines, self.times = deadline_policy_of(settings), callback_times_of(settings)
        self.directory = Directory(community)
        self.random = random.Random(seed)  # noqa: S311 - made-up data, reproducible by design
        self.seed = seed
        district = community.path.split("/")[0]
        self.secretary = Actor(
            f"secretary-{community.path.replace('/', '-')}", (Role.SECRETARY,), community.path
        )
        self.inspector = Actor(f"inspector-{district}", (Role.INSPECTOR,), district)
        self.homes = self._homes()
        self.told: Counter[str] = Counter()
        self._count = self._ids = 0
        self._said: dict[int, str] = {}  # the voices' feedback ids by their number

    # -- the story --------------------------------------------------------------------------------
    async def tell(self) -> dict[str, int]:
        """Every step in time order; what was told, counted."""
        steps = [*self._visits(), *self._party_days(), *self._problems(), *self._voices(), *self._by_hand()]
        steps += self._ratings()
        for _, _, step in sorted(steps, key=lambda s: (s[0], s[1])):
            await step()
        return {"story_commands": self._count, **{f"story_{k}": n for k, n in sorted(self.told.items())}}

    def _homes(self) -> list[Home]:
        """One covered household of each member, in the seed's order."""
        building_of = dict(self.community.members)
        homes = []
        for member, contacts in self.community.cards.items():
            households = [c for c in contacts if c not in self.community.enterprises]
            if households:
                homes.append(Home(households[0], building_of[member], member))
        return homes

    def day(self, n: int, hour: float = 10.0) -> datetime:
        """Day `n` of the story at a local hour, never later than a minute ago."""
        first = self.start.astimezone(self.zone).date()
        local = datetime.combine(first + timedelta(days=n), time(), tzinfo=self.zone) + timedelta(hours=hour)
        return min(local.astimezone(UTC), self.now - timedelta(minutes=1))

    def ago(self, **before: float) -> datetime:
        """A moment before now."""
        return self.now - timedelta(**before)

    def id(self, kind: str) -> str:
        """A stable id: the same seed tells the same story."""
        self._ids += 1
        return str(uuid.uuid5(_IDS, f"{self.seed}:{kind}:{self._ids}"))

    def local_day(self, at: datetime) -> date:
        """The calendar day of a moment in the district."""
        return at.astimezone(self.zone).date()

    def home(self, n: int) -> Home:
        return self.homes[n % len(self.homes)]

    # -- commands ---------------------------------------------------------------------------------
    async def command(
        self,
        store: EventStore,
        actor: Actor,
        at: datetime,
        work: Work,
        *,
        context: CommandContext | None = None,
    ) -> Outcome[Any]:
        """One command through the real handlers, as `actor`, happening at `at`."""
        self._count += 1
        return await run_command(store, replace(context or CommandContext.new(actor), occurred_at=at), work)

    @staticmethod
    async def recorded(
        store: EventStore, kind: type[Aggregate], aggregate_id: str, event_type: str
    ) -> RecordedEvent:
        """The latest event of a type in an aggregate's history (what a policy reacts to)."""
        history = await store.load(kind.stream_of(aggregate_id))
        return [r for r in history.events if r.envelope.event_type == event_type][-1]

    @staticmethod
    def member(member_id: str, community: str) -> Actor:
        return Actor(member_id, (Role.MEMBER,), community)

    # -- what the policies do ---------------------------------------------------------------------
    async def hand_out(
        self, routed_or_visit: RecordedEvent, new: NewTask, at: datetime, *, policy: str
    ) -> str:
        """The task a routed problem or a visit's problem becomes, as the assignments policy makes it."""
        context = reaction_context(routed_or_visit, policy=policy)
        fallback = (
            routed_or_visit.event.member_id if isinstance(routed_or_visit.event, VisitRecorded) else None
        )
        command = RaiseAndHandOut(context.actor, new, at, self.deadlines, fallback)
        work = partial(tasks.raise_and_hand_out, command, directory=self.directory)
        await self.command(self.stores.assignments, context.actor, at, work, context=context)
        return new.task_id

    async def task_of_feedback(self, feedback_id: str, at: datetime) -> str:
        routed = await self.recorded(self.stores.feedback, Feedback, feedback_id, "FeedbackRouted")
        assert isinstance(routed.event, FeedbackRouted)
        return await self.hand_out(routed, task_of_routed(routed.event), at, policy="raise-from-feedback")

    async def callback_scheduled(self, task_id: str, feedback_id: str) -> None:
        """The task closed: its feedback's call-back, as the feedback policy schedules it."""
        closed = await self.recorded(self.stores.assignments, Task, task_id, "TaskClosed")
        context = reaction_context(closed, policy="callback-on-closure")
        command = ScheduleCallback(feedback_id, closed.envelope.occurred_at, self.times)
        at = closed.envelope.occurred_at + timedelta(seconds=2)
        await self.command(
            self.stores.feedback,
            context.actor,
            at,
            partial(feedback.schedule_callback, command),
            context=context,
        )

    async def reopened(self, feedback_id: str, at: datetime) -> None:
        """A correction: the task back to its assignee, as the assignments policy reopens it."""
        correction = await self.recorded(self.stores.feedback, Feedback, feedback_id, "CorrectionRequested")
        assert isinstance(correction.event, CorrectionRequested)
        context = reaction_context(correction, policy="reopen-on-correction")
        command = reopening(correction.event, context.actor)
        await self.command(
            self.stores.assignments, context.actor, at, partial(tasks.reopen, command), context=context
        )

    # -- a problem's loop -------------------------------------------------------------------------
    async def problem(self, case: Case) -> None:
        """A household's problem from its submission to where `case.fate` leaves it: assigned,
        in_progress, parked, awaiting_check, ready_to_close, or closed and then: callback_due (no
        answer yet), satisfied (and its follow-up), not_reached, corrected (reopened, worked again)."""
        home, at = case.home, case.at
        feedback_id = self.id("feedback")
        resident = Actor(
            home.household,
            (Role.RESIDENT,),
            home.building,
            via="card_qr" if case.channel == Channel.CARD_QR else "",
        )
        await self.submit(
            resident,
            home,
            feedback_id,
            at,
            kind=FeedbackKind.PROBLEM,
            category=case.category,
            words=case.words,
            channel=case.channel,
        )
        task_id = await self.task_of_feedback(feedback_id, at + timedelta(minutes=1))
        self.told[case.fate] += 1
        if case.fate == "assigned":
            return
        worker = self.member(home.member, self.community.path)
        await self.task(worker, at + timedelta(hours=2), partial(tasks.accept, AcceptTask(worker, task_id)))
        progress, done = self.random.choice(WORKED)
        await self.task(
            worker,
            at + timedelta(hours=20),
            partial(tasks.report_progress, ReportProgress(worker, task_id, progress)),
        )
        if case.fate == "in_progress":
            return
        if case.fate == "parked":
            park = ParkTask(self.secretary, task_id, "等待物业维修基金审批")
            await self.task(self.secretary, at + timedelta(days=1), partial(tasks.park, park))
            return
        await self.worked(worker, task_id, done, at + timedelta(days=2))
        if case.fate == "awaiting_check":
            return
        await self.checked(task_id, at + timedelta(days=2, hours=3))
        if case.fate == "ready_to_close":
            return
        closed_at = at + timedelta(days=2, hours=5)
        await self.closed(task_id, feedback_id, closed_at)
        await self.called_back(case, task_id, feedback_id, closed_at + self.times.delay + timedelta(hours=2))

    async def called_back(self, case: Case, task_id: str, feedback_id: str, at: datetime) -> None:
        """The call-back as the fate has it (none yet: callback_due)."""
        if case.fate == "callback_due":
            return
        if case.fate == "not_reached":
            command = MarkNotReached(self.secretary, feedback_id, case.home.building)
            await self.feedback(at, partial(feedback.mark_not_reached, command))
            return
        if case.fate == "corrected":
            unhappy, words = Satisfaction.DISSATISFIED, "问题还在，晚上还是看不见"
            await self.answer(
                feedback_id, case.home, at, resolved=Resolved.NO, satisfaction=unhappy, comment=words
            )
            await self.reopened(feedback_id, at + timedelta(seconds=5))
            worker = self.member(case.home.member, self.community.path)
            await self.worked(worker, task_id, "重新更换了线路和灯具，夜里试过", at + timedelta(days=1))
            await self.checked(task_id, at + timedelta(days=1, hours=2))
            closed_at = at + timedelta(days=1, hours=3)
            await self.closed(task_id, feedback_id, closed_at)
            at = closed_at + self.times.delay + timedelta(hours=1)
        satisfaction = (
            Satisfaction.BASICALLY_SATISFIED if self.random.random() < 0.3 else Satisfaction.SATISFIED
        )
        await self.answer(feedback_id, case.home, at, resolved=Resolved.YES, satisfaction=satisfaction)
        follow_up = at + self.times.follow_up + timedelta(hours=3)
        if follow_up < self.now:  # did it stay fixed?
            stayed = Satisfaction.SATISFIED
            await self.answer(feedback_id, case.home, follow_up, resolved=Resolved.YES, satisfaction=stayed)

    async def worked(self, worker: Actor, task_id: str, done: str, at: datetime) -> None:
        resolution = ReportResolution(worker, task_id, done, ResolutionResult.RESOLVED)
        await self.task(worker, at, partial(tasks.report_resolution, resolution))

    async def checked(self, task_id: str, at: datetime) -> None:
        check = SpotCheck(self.inspector, task_id, True, "现场抽查，与居民确认")
        await self.task(self.inspector, at, partial(tasks.spot_check, check))

    async def closed(self, task_id: str, feedback_id: str | None, at: datetime) -> None:
        close = CloseTask(self.secretary, task_id, CloseReason.RESOLVED, "", at)
        await self.task(self.secretary, at, partial(tasks.close, close))
        if feedback_id is not None:
            await self.callback_scheduled(task_id, feedback_id)

    async def answer(
        self,
        feedback_id: str,
        home: Home,
        at: datetime,
        *,
        resolved: Resolved,
        satisfaction: Satisfaction,
        comment: str = "",
    ) -> None:
        """The resident's answer to a call-back, taken down by the secretary."""
        command = RecordCallback(
            self.secretary, feedback_id, home.building, resolved, satisfaction, comment, at, self.times
        )
        await self.feedback(at, partial(feedback.record_callback, command))

    async def task(self, actor: Actor, at: datetime, work: Work) -> None:
        await self.command(self.stores.assignments, actor, at, work)

    async def feedback(self, at: datetime, work: Work, actor: Actor | None = None) -> None:
        await self.command(self.stores.feedback, actor or self.secretary, at, work)

    async def submit(
        self,
        actor: Actor,
        home: Home,
        feedback_id: str,
        at: datetime,
        *,
        kind: FeedbackKind,
        category: str,
        words: str,
        channel: Channel = Channel.WEB,
        call_back: bool = False,
    ) -> None:
        """A household's feedback, as it sent it (or as staff took it down)."""
        new = NewFeedback(
            feedback_id=feedback_id,
            channel=channel,
            kind=kind,
            category=category,
            urgency=Urgency.GENERAL,
            org_unit=home.building,
            household_id=home.household,
            enterprise_id=None,
            description=words,
            unconfirmed=channel == Channel.CARD_QR,
            call_back=call_back,
        )
        command = SubmitFeedback(actor, new, home.member, at)
        await self.feedback(at, partial(feedback.submit, command), actor)

    # -- the weeks ----------------------------------------------------------------------------------
    def _problems(self) -> list[Planned]:
        """Problems of every fate, spread over the weeks; three of one building's kind this week (a
        recurring problem); two closed a day and a half ago, their call-backs due now."""
        closing = timedelta(days=2, hours=5)  # from submission to closure in `problem`
        planned = [
            Case(self.home(0), self.day(2, 9), "repairs", "楼道灯坏了，晚上看不见台阶", "satisfied"),
            Case(self.home(1), self.day(4, 15), "environment", "小区垃圾桶满了没人清", "corrected"),
            Case(
                self.home(2), self.day(7, 10), "safety", "消防通道被电动车堵住", "satisfied", Channel.CARD_QR
            ),
            Case(
                self.home(3), self.day(11, 19), "dispute_mediation", "楼上漏水到我家，协商不成", "not_reached"
            ),
            Case(
                self.home(4),
                self.day(16, 9),
                "elderly_care",
                "独居老人需要助餐服务",
                "satisfied",
                Channel.PHONE,
            ),
            Case(self.home(5), self.day(19, 14), "repairs", "单元门禁坏了", "in_progress"),
            Case(self.home(6), self.day(24, 11), "environment", "绿化带杂草太多", "parked"),
            Case(self.home(7), self.ago(days=5, hours=2), "repairs", "电梯经常停运", "awaiting_check"),
            Case(self.home(8), self.ago(days=4), "safety", "路口缺少减速带", "ready_to_close"),
            Case(self.home(9), self.ago(hours=30) - closing, "repairs", "水管漏水", "callback_due"),
            Case(self.home(10), self.ago(hours=28) - closing, "elderly_care", "希望上门理发", "callback_due"),
            Case(self.home(11), self.ago(hours=20), "repairs", "楼道扶手松动", "assigned"),
            Case(self.home(0), self.ago(days=3, hours=4), "environment", "楼下垃圾堆放有异味", "satisfied"),
            Case(self.home(0), self.ago(days=2, hours=20), "environment", "垃圾又堆起来了", "in_progress"),
            Case(self.home(0), self.ago(days=1, hours=6), "environment", "垃圾清运不及时", "assigned"),
        ]
        return [(case.at, n, partial(self.problem, case)) for n, case in enumerate(planned)]

    def _voices(self) -> list[Planned]:
        """Praise, opinions and questions: answered, routed to a task, a duplicate, and three still
        waiting for a response (one past the limit, one from a card's QR code asking for a call back)."""
        said = [
            (self.day(9, 20), 1, FeedbackKind.PRAISE, "张书记帮我们修好了门禁，谢谢", "answer"),
            (self.day(13, 10), 2, FeedbackKind.OPINION, "希望小区多装几盏路灯", "route"),
            (self.day(21, 16), 3, FeedbackKind.QUESTION, "老年卡在哪里办？", "answer"),
            (self.day(21, 18), 4, FeedbackKind.QUESTION, "老年卡去哪办理", "duplicate"),
            (self.ago(hours=30), 5, FeedbackKind.OPINION, "建议周末开放活动室", ""),
            (self.ago(hours=5), 6, FeedbackKind.QUESTION, "医保报销需要什么材料？", "call back"),
            (self.ago(hours=2), 7, FeedbackKind.PRAISE, "社区志愿者服务很周到", ""),
        ]
        return [
            (at, 100 + n, partial(self.voice, at, n, kind, words, then)) for at, n, kind, words, then in said
        ]

    async def voice(self, at: datetime, n: int, kind: FeedbackKind, words: str, then: str) -> None:
        """A household's praise, opinion or question, and what the secretary did with it (`then`:
        answer, route, duplicate of the last answered question; else it waits)."""
        home, by_card = self.home(n), then == "call back"
        channel = Channel.CARD_QR if by_card else Channel.WEB
        resident = Actor(
            home.household, (Role.RESIDENT,), home.building, via=channel.value if by_card else ""
        )
        feedback_id = self._said[n] = self.id("voice")
        category = "policy_explanation" if kind == FeedbackKind.QUESTION else "other"
        await self.submit(
            resident,
            home,
            feedback_id,
            at,
            kind=kind,
            category=category,
            words=words,
            channel=channel,
            call_back=by_card,
        )
        self.told[f"{kind.value}_{then or 'waiting'}".replace(" ", "_")] += 1
        later, unit = at + timedelta(hours=3), home.building
        if then == "answer":
            command = AnswerFeedback(self.secretary, feedback_id, unit, "谢谢您的反馈，已按您说的办理")
            await self.feedback(later, partial(feedback.answer, command))
        elif then == "route":
            await self.feedback(
                later, partial(feedback.route, RouteFeedback(self.secretary, feedback_id, unit))
            )
            await self.task_of_feedback(feedback_id, later + timedelta(minutes=1))
        elif then == "duplicate":
            duplicate = MarkDuplicate(self.secretary, feedback_id, unit, self._said[n - 1])
            await self.feedback(later, partial(feedback.mark_duplicate, duplicate))

    def _visits(self) -> list[Planned]:
        """Each member visits their household every week or two; one visit finds a problem."""
        planned: list[Planned] = []
        for n, home in enumerate(self.homes[:12]):
            for week in range(n % 2, STORY_DAYS // 7, 2):
                at = self.day(week * 7 + n % 7, 9 + n % 8)
                planned.append((at, 200 + n * 10 + week, partial(self.visit, home, at, None)))
        problem = ("repairs", "楼道窗户玻璃破损，有安全隐患", Urgency.GENERAL)
        at = self.day(26, 16)
        planned.append((at, 399, partial(self.visit, self.home(12), at, problem)))
        return planned

    async def visit(self, home: Home, at: datetime, problem: tuple[str, str, Urgency] | None) -> None:
        """A member's visit; a problem found becomes a task, worked and closed within days."""
        worker = self.member(home.member, self.community.path)
        visit_id, on = self.id("visit"), self.local_day(at)
        command = RecordVisit(
            worker,
            visit_id,
            home.member,
            ContactKind.HOUSEHOLD,
            home.household,
            on,
            "上门走访，了解近况",
            problem,
            on,
        )
        await self.command(self.stores.members, worker, at, partial(members.record_visit, command))
        self.told["visits"] += 1
        if problem is None:
            return
        recorded = await self.recorded(self.stores.members, Household, home.household, "VisitRecorded")
        assert isinstance(recorded.event, VisitRecorded)
        new = task_of_visit(recorded.event)
        assert new is not None
        task_id = await self.hand_out(recorded, new, at + timedelta(minutes=5), policy="raise-from-visit")
        await self.task(worker, at + timedelta(hours=1), partial(tasks.accept, AcceptTask(worker, task_id)))
        await self.worked(worker, task_id, "已更换玻璃", at + timedelta(days=1))
        await self.checked(task_id, at + timedelta(days=1, hours=4))
        await self.closed(task_id, None, at + timedelta(days=1, hours=6))

    def _party_days(self) -> list[Planned]:
        """The monthly themed party days: the second hands out a task nobody has taken up yet."""
        first, second = self.day(5, 14), self.day(33, 14)
        return [
            (first, 500, partial(self.party_day, first, ["政策宣讲：老年人助餐服务", "走访分片包干"], None)),
            (
                second,
                501,
                partial(self.party_day, second, ["消防安全检查", "垃圾分类宣传"], "楼道堆放杂物，需清理"),
            ),
        ]

    async def party_day(self, at: datetime, agenda: list[str], handed_out: str | None) -> None:
        """A themed party day (主题党日), and the task it hands out, left raised."""
        community, held_on = self.community.path, self.local_day(at)
        command = HoldPartyDay(self.secretary, community, held_on, agenda)
        await self.task(self.secretary, at, partial(tasks.hold_party_day, command))
        self.told["party_days"] += 1
        if handed_out is None:
            return
        session = session_id_for(community, held_on)
        new = NewTask(
            self.id("task"),
            TaskSource.PARTY_DAY,
            session,
            "environment",
            Urgency.GENERAL,
            self.home(13).building,
            description=handed_out,
            party_day_id=session,
        )
        await self.task(
            self.secretary, at + timedelta(hours=1), partial(tasks.raise_task, RaiseTask(self.secretary, new))
        )

    def _by_hand(self) -> list[Planned]:
        """Tasks raised by hand: an inspection's, refused as not the community's to fix; an
        administrator's, accepted and waiting for a member."""
        found, raised = self.day(27, 10), self.day(35, 9)
        return [
            (found, 600, partial(self.refused_task, found)),
            (raised, 601, partial(self.accepted_task, raised)),
        ]

    async def refused_task(self, at: datetime) -> None:
        task_id, unit = self.id("task"), self.home(14).building
        new = NewTask(
            task_id, TaskSource.INSPECTION, None, "safety", Urgency.GENERAL, unit, description="路灯杆倾斜"
        )
        await self.task(self.inspector, at, partial(tasks.raise_task, RaiseTask(self.inspector, new)))
        reason = RejectionReason.NOT_OUR_RESPONSIBILITY
        reject = RejectTask(self.secretary, task_id, reason, None, "区路灯管理所", "市政路灯，已转告路灯所")
        await self.task(self.secretary, at + timedelta(hours=2), partial(tasks.reject, reject))

    async def accepted_task(self, at: datetime) -> None:
        task_id, unit = self.id("task"), self.community.path
        new = NewTask(
            task_id,
            TaskSource.ADMINISTRATOR,
            None,
            "policy_explanation",
            Urgency.GENERAL,
            unit,
            description="宣传新版医保政策",
        )
        await self.task(self.secretary, at, partial(tasks.raise_task, RaiseTask(self.secretary, new)))
        triage = TriageTask(self.secretary, task_id, at + timedelta(minutes=30), self.deadlines)
        await self.task(self.secretary, at + timedelta(minutes=30), partial(tasks.triage, triage))

    def _ratings(self) -> list[Planned]:
        """A few households rate their member for the month."""
        at = self.day(30, 20)
        return [
            (
                at + timedelta(minutes=n),
                700 + n,
                partial(self.rating, self.home(n), at + timedelta(minutes=n)),
            )
            for n in range(6)
        ]

    async def rating(self, home: Home, at: datetime) -> None:
        resident = Actor(home.household, (Role.RESIDENT,), home.building)
        period = self.local_day(at).strftime("%Y-%m")
        command = RateMember(
            resident, home.household, home.member, None, period, self.random.choice((5, 5, 4)), ""
        )
        await self.feedback(at, partial(feedback.rate_member, command), resident)
        self.told["ratings"] += 1


Planned = tuple[datetime, int, Callable[[], Awaitable[None]]]
"""A step of the story: when, its place among steps of the same moment, and what it does."""


async def tell(nc: Client, seeder: Seeder, *, settings: Settings, now: datetime, seed: int) -> dict[str, int]:
    """The story of the seeded district's first community, on the seed's connection."""
    story = Story(open_stores(nc, settings), seeder.communities[0], settings=settings, now=now, seed=seed)
    return await story.tell()
