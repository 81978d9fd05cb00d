"""Tasks and feedback are found by reference or by words, and listed by household, only as far as
the reader may read them (`fourlinks_contracts.visibility`): a confidential item is found by its
words by its community's secretaries alone, an anonymous one by its household by them alone."""

from __future__ import annotations

from typing import Any

from conftest import COMMUNITY, District, community_with_a_covered_household, eventually

WORDS = "隔壁夜里常有争吵和孩子哭喊，请替我保密"
"""The confidential item's words: its community's secretaries' and its household's alone."""
PLAIN = "三单元楼道灯坏了两周"
"""The anonymous item's words: not confidential, so whoever reads its task reads them."""


async def _second_household(d: District, member: str, first: str) -> str:
    """Another household of the same building, on the member's card too."""
    body = {"org_unit": f"{COMMUNITY}/b1", "room": "202", "residents": [{"name": "李秀英"}]}
    second = str((await d.post(d.members, "/households", body, d.secretary))["id"])
    card = {"households": [first, second], "service_matters": ["repairs"], "reason": "新住户入住"}
    revised = await d.members.put(
        f"/members/{member}/card", json=card, headers={**d.secretary, "X-Min-Position": str(d.position)}
    )
    assert revised.status_code == 200, revised.text
    d.position = max(d.position, revised.json()["position"])
    return second


async def _submitted(
    d: District, resident: dict[str, str], household: str, words: str, **wishes: bool
) -> dict[str, Any]:
    """A household's problem, as its household reads it once its task is known."""
    body = {"category": "repairs", "household_id": household, "description": words, **wishes}
    sent = await d.post(d.feedback, "/feedback", body, resident)

    async def with_task() -> dict[str, Any] | None:
        item = dict(await d.get(d.feedback, f"/feedback/{sent['id']}", resident))
        return item if item.get("task_id") else None

    return {**await eventually(with_task), "feedback_id": sent["id"]}


def _ids(answer: dict[str, Any], key: str, group: str) -> set[str]:
    return {hit[key] for hit in answer[group]}


async def _both(d: District) -> dict[str, Any]:
    """A confidential item of household A and an anonymous one of household B, raised as tasks."""
    member, household_a = await community_with_a_covered_household(d)
    household_b = await _second_household(d, member, household_a)
    resident_a, resident_b = d.token("resident", household_a), d.token("resident", household_b)
    secret = await _submitted(d, resident_a, household_a, WORDS, confidential=True)
    anonymous = await _submitted(d, resident_b, household_b, PLAIN, anonymous=True)
    for item in (secret, anonymous):
        await eventually(lambda item=item: _raised(d, item["task_id"]))
    return {"a": household_a, "b": household_b, "secret": secret, "anonymous": anonymous}


async def _raised(d: District, task_id: str) -> bool:
    return (await d.assignments.get(f"/tasks/{task_id}", headers=d.secretary)).status_code == 200


async def test_feedback_is_found_by_reference_and_by_words_its_reader_may_read(district: District) -> None:
    d = district
    made = await _both(d)
    secret, anonymous = made["secret"]["feedback_id"], made["anonymous"]["feedback_id"]
    found = await d.get(d.feedback, "/search", d.secretary, q=made["secret"]["reference"])
    assert _ids(found, "feedback_id", "items") == {secret}
    assert _ids(await d.get(d.feedback, "/search", d.secretary, q="fl-2"), "feedback_id", "items") == {
        secret,
        anonymous,
    }
    assert _ids(await d.get(d.feedback, "/search", d.secretary, q="替我保密"), "feedback_id", "items") == {
        secret
    }
    for reader in (
        d.token("auditor", "auditor-1"),
        d.token("inspector", "inspector-1"),
        d.token("administrator", "admin-9", scope="yuhang/nanyuan/other"),
    ):
        assert (await d.get(d.feedback, "/search", reader, q="替我保密"))["items"] == []
    inspector = d.token("inspector", "inspector-1")
    assert _ids(await d.get(d.feedback, "/search", inspector, q="楼道灯"), "feedback_id", "items") == {
        anonymous
    }


async def test_tasks_are_found_by_number_words_and_category_as_far_as_readable(district: District) -> None:
    d = district
    made = await _both(d)
    task_a, task_b = made["secret"]["task_id"], made["anonymous"]["task_id"]
    inspector = d.token("inspector", "inspector-1")
    for reader in (d.secretary, inspector):
        assert _ids(await d.get(d.assignments, "/search", reader, q=task_a[:8]), "task_id", "tasks") == {
            task_a
        }
        assert _ids(await d.get(d.assignments, "/search", reader, q="维修"), "task_id", "tasks") == {
            task_a,
            task_b,
        }
    assert _ids(await d.get(d.assignments, "/search", d.secretary, q="替我保密"), "task_id", "tasks") == {
        task_a
    }
    assert (await d.get(d.assignments, "/search", inspector, q="替我保密"))["tasks"] == []
    elsewhere = d.token("secretary", "secretary-9", scope="yuhang/nanyuan/other")
    assert (await d.get(d.assignments, "/search", elsewhere, q=task_a[:8]))["tasks"] == []


async def test_a_household_s_tasks_and_feedback_leave_out_anonymous_items_for_others(
    district: District,
) -> None:
    d = district
    made = await _both(d)
    auditor = d.token("auditor", "auditor-1")
    task_b, anonymous = made["anonymous"]["task_id"], made["anonymous"]["feedback_id"]
    listed = await d.get(d.assignments, "/tasks", d.secretary, household=made["b"])
    assert _ids(listed, "task_id", "items") == {task_b}
    assert (await d.get(d.assignments, "/tasks", auditor, household=made["b"]))["items"] == []
    assert _ids(await d.get(d.assignments, "/tasks", auditor, household=made["a"]), "task_id", "items") == {
        made["secret"]["task_id"]
    }
    assert _ids(
        await d.get(d.feedback, "/feedback", d.secretary, household=made["b"]), "feedback_id", "items"
    ) == {anonymous}
    assert (await d.get(d.feedback, "/feedback", auditor, household=made["b"]))["items"] == []
