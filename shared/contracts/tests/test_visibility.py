"""The one rule for what a resident's feedback says and who sent it: who reads the guarded
fields, what everyone else is answered, and how events from before the rule read."""

from __future__ import annotations

from typing import Any

from fourlinks_contracts import full_registry, visibility
from fourlinks_contracts.assignments import TaskRaised
from fourlinks_contracts.feedback import FeedbackRouted
from fourlinks_kernel.envelope import Actor

BUILDING = "yuhang/nanyuan/xinghe/b1"
TASK = {"task_id": "t-1", "description": "邻居夜里吵闹", "household_id": "h-1", "enterprise_id": None}


def person(role: str, scope: str = "yuhang/nanyuan/xinghe", who: str = "p-1") -> Actor:
    return Actor(id=who, roles=(role,), scope=scope)


def test_only_the_unit_s_secretaries_and_the_sender_read_what_the_resident_withheld() -> None:
    both = visibility.Discretion(unit=BUILDING, confidential=True, anonymous=True)
    readers = [person("secretary"), person("administrator", scope="yuhang")]
    others = [
        person("secretary", scope="yuhang/nanyuan/other"),
        person("inspector"),
        person("auditor"),
        person("member"),
        person("helper"),
        person("service", scope=""),
    ]
    assert all(visibility.reads_guarded(p, both) for p in readers)
    assert not any(visibility.reads_guarded(p, both) for p in others)
    assert visibility.reads_guarded(person("resident", who="h-1"), both, own=True)


def test_each_wish_withholds_its_own_fields_and_nothing_else() -> None:
    inspector = person("inspector")
    confidential = visibility.Discretion(unit=BUILDING, confidential=True)
    anonymous = visibility.Discretion(unit=BUILDING, anonymous=True)
    shown = visibility.shown(inspector, TASK, confidential, visibility.TASK)
    assert (shown["description"], shown["household_id"], shown["withheld"]) == (None, "h-1", ["description"])
    shown = visibility.shown(inspector, TASK, anonymous, visibility.TASK)
    assert (shown["description"], shown["household_id"]) == ("邻居夜里吵闹", None)
    assert shown["withheld"] == ["enterprise_id", "household_id"]
    assert visibility.shown(inspector, TASK, visibility.Discretion(unit=BUILDING), visibility.TASK) == {
        **TASK,
        "withheld": [],
    }
    photos = visibility.shown(
        inspector, {"photos": [{"sha256": "x"}]}, confidential, visibility.FEEDBACK_ITEM
    )
    assert photos["photos"] == []


def test_routings_and_tasks_from_before_the_rule_read_as_neither_confidential_nor_anonymous() -> None:
    registry = full_registry()
    common: dict[str, Any] = {"category": "repairs", "urgency": "general", "org_unit": BUILDING}
    common |= {"household_id": "h-1"}
    common |= {"enterprise_id": None, "description": None, "data_subject": "h-1"}
    routed = registry.load("FeedbackRouted", 1, {"feedback_id": "f-1", "task_id": "t-1", **common})
    raised = registry.load(
        "TaskRaised",
        1,
        {"task_id": "t-1", "source": "feedback", "source_ref": "f-1", "party_day_id": None, **common},
    )
    assert isinstance(routed, FeedbackRouted)
    assert isinstance(raised, TaskRaised)
    assert (routed.confidential, routed.anonymous, raised.confidential, raised.anonymous) == (False,) * 4
    assert FeedbackRouted.schema_version == TaskRaised.schema_version == 2
