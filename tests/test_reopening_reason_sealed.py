"""A reopening's reason may be the resident's own words (their correction after a dissatisfied
call-back, 反馈纠偏): it is sealed in the log with the key of the task's household, like the task's
description, read by `visibility` on the task's timeline, and gone from every read model and the
audit history once the household is erased. Reopenings recorded before (v1) read as written."""

from __future__ import annotations

import json
from typing import Any

from conftest import (
    District,
    community_with_a_covered_household,
    eventually,
    work_and_close,
)

from fourlinks_audit.history import ERASED, SEALED, aggregate_history
from fourlinks_contracts import full_registry
from fourlinks_contracts.assignments import TaskReopened
from fourlinks_kernel.envelope import StreamId
from fourlinks_kernel.store import EventStore

CORRECTION = "回访：厨房还在漏水，地板都泡坏了"


def in_clear(payload: bytes, words: str) -> bool:
    """Whether stored bytes hold the words as UTF-8 or JSON-escaped."""
    return words.encode() in payload or json.dumps(words)[1:-1].encode() in payload


async def test_a_correction_s_words_are_sealed_on_the_reopening_and_gone_once_the_household_is(
    district: District,
) -> None:
    d = district
    member, household = await community_with_a_covered_household(d)
    resident = d.token("resident", household)
    body = {"category": "repairs", "household_id": household, "description": "厨房漏水", "confidential": True}
    sent = await d.post(d.feedback, "/feedback", body, resident)
    task_id = str((await eventually(lambda: _task_of(d, sent["id"], resident)))["task_id"])
    await eventually(lambda: _assigned(d, task_id, member))
    await work_and_close(d, task_id, member, accept=True)
    await eventually(lambda: _state(d, sent["id"], "callback_due"))
    answer = {"resolved": "no", "satisfaction": "dissatisfied", "comment": CORRECTION}
    await d.post(d.feedback, f"/feedback/{sent['id']}/callback", answer, resident)
    reopened = await eventually(lambda: _reopening(d, task_id, d.secretary))
    assert reopened["details"]["reason"] == CORRECTION  # the community's secretary reads it
    theirs = await _reopening(d, task_id, d.token("member", member))
    assert theirs is not None
    assert (theirs["details"]["reason"], theirs["withheld"]) == (None, ["reason"])  # confidential

    store = d.runtime(d.assignments).store
    [stored] = [s async for s in store.read() if s.event_type == TaskReopened.event_type]
    assert not in_clear(stored.payload, CORRECTION)  # sealed in the log
    task = StreamId("assignments", "task", task_id)
    assert (await _reopening_in_history(store, task))["data"]["reason"] == SEALED

    await d.post(d.members, f"/households/{household}/erase", {}, d.secretary)

    async def forgotten() -> bool:
        line = await _reopening(d, task_id, d.secretary)
        return line is not None and line["details"]["reason"] is None

    assert await eventually(forgotten)
    assert (await _reopening_in_history(store, task))["data"]["reason"] == ERASED

    # A secretary's reason is theirs (in clear, like a closing note): the erased household's task
    # is still reopened by its secretary, though nothing new is sealed for the household.
    await work_and_close(d, task_id, member, accept=False)
    await d.post(d.assignments, f"/tasks/{task_id}/reopen", {"reason": "复查发现仍有问题"}, d.secretary)
    again = await eventually(lambda: _reopening(d, task_id, d.secretary, last_of=2))
    assert (again["details"]["reason"], again["details"]["correction_ref"]) == ("复查发现仍有问题", None)


def test_a_reopening_from_before_reasons_were_sealed_reads_as_it_was_written() -> None:
    old = {"task_id": "t-1", "reason": "居民反映问题未解决", "correction_ref": "f-1:1", "assignee": "m-1"}
    reopened = full_registry().load("TaskReopened", 1, old)
    assert isinstance(reopened, TaskReopened)
    assert (reopened.reason, reopened.data_subject) == ("居民反映问题未解决", None)
    assert (TaskReopened.schema_version, TaskReopened.personal_fields) == (2, ("reason",))


async def _reopening_in_history(store: EventStore, task: StreamId) -> dict[str, Any]:
    """The task's one reopening, as `fourlinks audit history` prints it (nothing revealed)."""
    [line] = [
        e for e in await aggregate_history(store, task, reveal_personal=False) if e["type"] == "TaskReopened"
    ]
    return line


async def _task_of(d: District, feedback_id: str, resident: dict[str, str]) -> dict[str, Any] | None:
    item = dict(await d.get(d.feedback, f"/feedback/{feedback_id}", resident))
    return item if item.get("task_id") else None


async def _assigned(d: District, task_id: str, member: str) -> bool:
    reply = await d.assignments.get(f"/tasks/{task_id}", headers=d.secretary)
    return reply.status_code == 200 and reply.json()["assignee"] == member


async def _state(d: District, feedback_id: str, state: str) -> bool:
    reply = await d.feedback.get(f"/feedback/{feedback_id}", headers=d.secretary)
    return reply.status_code == 200 and reply.json()["state"] == state


async def _reopening(
    d: District, task_id: str, reader: dict[str, str], *, last_of: int = 1
) -> dict[str, Any] | None:
    """The task's latest reopening on its timeline, once it has `last_of` of them."""
    reply = await d.assignments.get(f"/tasks/{task_id}/timeline", headers=reader)
    assert reply.status_code == 200, reply.text
    lines = [line for line in reply.json() if line["event_type"] == "TaskReopened"]
    return lines[-1] if len(lines) >= last_of else None
