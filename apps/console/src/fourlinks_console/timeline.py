"""A task's timeline as people tell it: one sentence per event ("吴宇霞 报告办结：已更换灯具",
"书记 王芳 指派给 吴宇霞，期限 12月22日 16:23"), people and places by name, never the event's
payload. A field the service withheld says why (保密, 匿名); a field it marks `erased` says so;
a field that is simply empty is left out."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fourlinks_console.labels import Labels, Wanted
from fourlinks_console.names import N_, WITHHELD, WITHHELD_MARKS
from fourlinks_contracts import visibility

CONFIDENTIAL = N_("Confidential: only the community's secretaries may read it")
"""What stands where the resident's words are withheld from the reader."""
SAID = N_("%(said)s: %(text)s")
WITH_HELPERS = N_("%(said)s; helpers: %(helpers)s")
SECRETARY, INSPECTOR, MEMBER = N_("secretary"), N_("inspector"), N_("member")
MEMBER_FIELDS = (
    "member_id",
    "from_member",
    "to_member",
    "suggested_member_id",
    "assignee",
    "inspector_id",
    "requested_by",
    "approved_by",
    "refused_by",
    "closed_by",
)
UNIT_FIELDS = ("org_unit", "from_unit", "to_unit")


@dataclass(frozen=True)
class Step:
    """One event of a task, told: when, the sentence, the photos it carries."""

    at: str
    event_type: str
    sentence: str
    photos: Sequence[Mapping[str, Any]] = ()


@dataclass
class Telling:
    """One line being told: its details, what the service withheld or erased, and the names."""

    line: Mapping[str, Any]
    labels: Labels
    due: str | None = None  # the deadline in force when the line happened
    details: Mapping[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        self.details = self.line.get("details") or {}

    def say(self, message: str, **values: Any) -> str:
        """A sentence in the reader's language."""
        return self.labels.say(message, **values)

    def who(self, role: str | None = None) -> str:
        """Who did it (the role that may, where the reader cannot know the person)."""
        return self.labels.actor(self.line.get("actor_id"), role)

    def member(self, name: str) -> str:
        """A member the line names."""
        return self.labels.member(self.details.get(name))

    def words(self, name: str) -> str:
        """Text someone wrote, or why it is not shown: withheld, erased (empty if there is none)."""
        if name in (self.line.get("withheld") or []):
            return self.say(withheld_words(name))
        if name in (self.line.get("erased") or []):
            return self.say(N_("(erased)"))
        return str(self.details.get(name) or "").strip()

    def term(self, name: str) -> str:
        """A code the line holds (a reason, a result), in words."""
        value = self.details.get(name)
        return self.say(str(value)) if value else ""

    def when(self, name: str) -> str:
        """A moment the line holds, short and local."""
        return self.labels.language.short(self.details.get(name))

    def with_words(self, said: str, name: str) -> str:
        """The sentence, followed by what someone wrote, when they wrote anything."""
        text = self.words(name)
        return self.say(SAID, said=said, text=text) if text else said


Teller = Callable[[Telling], str]


def withheld_words(name: str) -> str:
    """What stands for a field the service withheld: the resident's words are confidential (only
    the community's secretaries read them); who sent it is anonymous."""
    mark = WITHHELD_MARKS.get(name)
    if mark is None or mark == WITHHELD[visibility.Guard.CONFIDENTIAL]:
        return CONFIDENTIAL
    return mark


def _raised(t: Telling) -> str:
    place = t.labels.household(t.details.get("household_id"))
    if "household_id" in (t.line.get("withheld") or []):
        place = f"{t.labels.unit(t.details.get('org_unit'))} {t.say(WITHHELD_MARKS['household_id'])}"
    return t.say(
        N_("%(who)s raised the task (%(source)s): %(category)s, %(place)s"),
        who=t.who(),
        source=t.term("source"),
        category=t.labels.category(t.details.get("category")),
        place=place or t.labels.unit(t.details.get("org_unit")),
    )


def _assigned(t: Telling) -> str:
    values = {"who": t.who(SECRETARY), "member": t.member("member_id")}
    if t.due:
        said = t.say(N_("%(who)s assigned it to %(member)s, deadline %(due)s"), **values, due=t.due)
    else:
        said = t.say(N_("%(who)s assigned it to %(member)s"), **values)
    helpers = [t.labels.member(h) for h in t.details.get("helpers") or []]
    return t.say(WITH_HELPERS, said=said, helpers="、".join(helpers)) if helpers else said


def _resolved(t: Telling) -> str:
    result = t.details.get("result")
    if result in (None, "resolved"):
        said = t.say(N_("%(who)s reported it done"), who=t.who(MEMBER))
    else:
        said = t.say(N_("%(who)s reported it done (%(result)s)"), who=t.who(MEMBER), result=t.term("result"))
    return t.with_words(said, "summary")


def _reassigned(t: Telling) -> str:
    values = {"who": t.who(SECRETARY), "to": t.member("to_member")}
    if t.details.get("from_member"):
        said = t.say(
            N_("%(who)s reassigned it from %(from)s to %(to)s"), **values, **{"from": t.member("from_member")}
        )
    else:
        said = t.say(N_("%(who)s reassigned it to %(to)s"), **values)
    return t.with_words(said, "reason")


def _closed(t: Telling) -> str:
    said = t.say(N_("%(who)s closed the task (%(reason)s)"), who=t.who(SECRETARY), reason=t.term("reason"))
    return t.with_words(said, "note")


def _reopened(t: Telling) -> str:
    if t.details.get("correction_ref"):
        said = t.say(N_("%(who)s reopened the task at the resident's request"), who=t.who(SECRETARY))
    else:
        said = t.say(N_("%(who)s reopened the task"), who=t.who(SECRETARY))
    return t.with_words(said, "reason")


def _flagged(t: Telling) -> str:
    member = t.member("member_id")
    if t.details.get("suggested_member_id"):
        return t.say(
            N_("%(member)s can no longer do the task; suggested instead: %(suggested)s"),
            member=member,
            suggested=t.member("suggested_member_id"),
        )
    return t.say(N_("%(member)s can no longer do the task: it needs another member"), member=member)


def _plain(message: str, role: str | None, words: str | None = None, **moments: str) -> Teller:
    """A sentence of who did it (and a moment it names), followed by what they wrote."""

    def tell(t: Telling) -> str:
        said = t.say(message, who=t.who(role), **{k: t.when(v) for k, v in moments.items()})
        return t.with_words(said, words) if words else said

    return tell


def _rejected(t: Telling) -> str:
    said = t.say(N_("%(who)s rejected the task (%(reason)s)"), who=t.who(SECRETARY), reason=t.term("reason"))
    return t.with_words(said, "note")


def _moved(message: str, words: str) -> Teller:
    def tell(t: Telling) -> str:
        said = t.say(message, who=t.who(SECRETARY), unit=t.labels.unit(t.details.get("to_unit")))
        return t.with_words(said, words)

    return tell


def _spot_failed(t: Telling) -> str:
    said = t.say(
        N_("%(who)s failed the spot check: rework round %(round)s"),
        who=t.who(INSPECTOR),
        round=t.details.get("rework_count") or 1,
    )
    return t.with_words(said, "reason")


TELLERS: dict[str, Teller] = {
    "TaskRaised": _raised,
    "TaskTriaged": _plain(N_("%(who)s accepted the task, deadline %(due)s"), SECRETARY, due="due_at"),
    "TaskRejected": _rejected,
    "TaskAssigned": _assigned,
    "TaskAccepted": _plain(N_("%(who)s took the task on"), MEMBER),
    "TaskReturned": _plain(N_("%(who)s handed the task back"), MEMBER, "reason"),
    "ProgressReported": _plain(N_("%(who)s reported progress"), MEMBER, "note"),
    "ResolutionReported": _resolved,
    "SpotCheckPassed": _plain(N_("%(who)s passed the spot check"), INSPECTOR, "note"),
    "SpotCheckFailed": _spot_failed,
    "TaskReassigned": _reassigned,
    "DeadlineExtensionRequested": _plain(
        N_("%(who)s asked to extend the deadline to %(due)s"), None, "reason", due="new_due_at"
    ),
    "DeadlineExtended": _plain(
        N_("%(who)s extended the deadline to %(due)s"), SECRETARY, "reason", due="new_due_at"
    ),
    "DeadlineExtensionRefused": _plain(N_("%(who)s refused to extend the deadline"), SECRETARY, "reason"),
    "TaskEscalated": _moved(N_("%(who)s escalated the task to %(unit)s"), "reason"),
    "TaskPushedDown": _moved(N_("%(who)s passed the task down to %(unit)s"), "guidance"),
    "TaskParked": _plain(N_("%(who)s parked the task"), SECRETARY, "reason"),
    "TaskUnparked": _plain(N_("%(who)s took the task up again"), SECRETARY, "note"),
    "TaskClosed": _closed,
    "TaskReopened": _reopened,
    "DeadlineApproaching": _plain(N_("The deadline %(due)s is near"), None, due="due_at"),
    "DeadlineMissed": _plain(N_("The deadline %(due)s has passed"), None, due="due_at"),
    "TaskFlaggedForReassignment": _flagged,
}
DEADLINE_SETTERS = {"TaskTriaged": "due_at", "DeadlineExtended": "new_due_at"}


def wanted_by(lines: Iterable[Mapping[str, Any]], wanted: Wanted | None = None) -> Wanted:
    """The names a timeline needs: who acted, the members and units it names, its household."""
    wanted = wanted or Wanted()
    for line in lines:
        details = line.get("details") or {}
        wanted.member(line.get("actor_id"), *(details.get(f) for f in MEMBER_FIELDS))
        wanted.member(*(details.get("helpers") or []))
        wanted.unit(*(details.get(f) for f in UNIT_FIELDS))
        wanted.household(details.get("household_id"))
    return wanted


def told(lines: Iterable[Mapping[str, Any]], labels: Labels) -> list[Step]:
    """The timeline, one sentence per event, oldest first."""
    steps, due = [], None
    for line in lines:
        details = line.get("details") or {}
        if line.get("event_type") in DEADLINE_SETTERS:
            due = labels.language.short(details.get(DEADLINE_SETTERS[line["event_type"]]))
        teller = TELLERS.get(str(line.get("event_type")))
        telling = Telling(line, labels, due)
        sentence = teller(telling) if teller else _unknown(telling)
        steps.append(
            Step(
                str(line.get("at") or ""), str(line.get("event_type")), sentence, details.get("photos") or ()
            )
        )
    return steps


def _unknown(t: Telling) -> str:
    """An event this console has no sentence for yet: who, and what by its name."""
    return t.say(SAID, said=t.who(), text=t.say(str(t.line.get("event_type"))))
