"""What one morning of outside use found, each defect a test: no request can hurt a service, and
every figure and state is right (issue: hardening)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any
from urllib.parse import quote

from conftest import (
    COMMUNITY,
    District,
    bearer,
    community_with_a_covered_household,
    eventually,
    running,
    service_runtime,
    task_of,
    wait_ready,
    work_and_close,
)

from fourlinks_members.bootstrap import create_app as members_app
from fourlinks_members.domain.rules import credit_code_check_char
from fourlinks_runtime.settings import Settings

CREDIT_CODE = "91330110MA2H3L7X4" + credit_code_check_char("91330110MA2H3L7X4")
ODD_IDS = ["a b", "*", ">", "a.b", "<x>", "o'neil", "tab\tid", "余杭", "abc", "A" * 36]


async def feedback_task(d: District, household: str) -> tuple[str, str]:
    """A resident's feedback, and the task it became (assigned to the household's member)."""
    resident = d.token("resident", household)
    submitted = await d.post(
        d.feedback,
        "/feedback",
        {"category": "repairs", "household_id": household, "description": "灯坏了"},
        resident,
    )
    item = await d.get(d.feedback, f"/feedback/{submitted['id']}", resident)

    async def assigned() -> Any:
        reply = await d.assignments.get(f"/tasks/{item['task_id']}", headers=d.secretary)
        return reply.status_code == 200 and reply.json()["state"] == "assigned"

    await eventually(assigned)
    return submitted["id"], item["task_id"]


async def test_a_huge_or_odd_id_is_refused_at_the_edge_and_the_service_stays_ready(
    district: District,
) -> None:
    d = district
    await community_with_a_covered_household(d)
    body = {"category": "repairs", "org_unit": COMMUNITY, "description": "楼道灯不亮"}
    huge = await d.assignments.post("/tasks", json={**body, "household_id": "h" * 5000}, headers=d.secretary)
    assert huge.status_code == 422
    assert len(huge.text) < 2000  # never echoes the input back in full
    for odd in ODD_IDS:
        reply = await d.assignments.post("/tasks", json={**body, "household_id": odd}, headers=d.secretary)
        assert reply.status_code == 422, (odd, reply.text)
        assert reply.json()["detail"][0]["loc"] == ["body", "household_id"]
        in_path = await d.assignments.post(f"/tasks/{quote(odd, safe='')}/triage", headers=d.secretary)
        assert in_path.status_code == 422, (odd, in_path.text)
    long_path = await d.assignments.get(f"/tasks/{'x' * 60_000}", headers=d.secretary)
    assert long_path.status_code == 422
    assert len(long_path.text) < 2000
    assert (await wait_ready(d.assignments)).status_code == 200
    assert (await d.assignments.get("/health/live")).status_code == 200


async def test_a_task_for_an_unknown_household_or_enterprise_is_refused_naming_the_field(
    district: District,
) -> None:
    d = district
    _, household = await community_with_a_covered_household(d)
    body = {"category": "repairs", "org_unit": COMMUNITY, "description": "楼道灯不亮"}
    unknown = str(uuid.uuid4())
    for field in ("household_id", "enterprise_id"):
        reply = await d.assignments.post("/tasks", json={**body, field: unknown}, headers=d.secretary)
        assert reply.status_code == 422
        assert reply.json()["detail"].startswith(f"{field}:")
    as_enterprise = await d.assignments.post(
        "/tasks", json={**body, "enterprise_id": household}, headers=d.secretary
    )
    assert as_enterprise.status_code == 422  # a household is not an enterprise
    known = await d.assignments.post(
        "/tasks",
        json={**body, "household_id": household},
        headers={**d.secretary, "X-Min-Position": str(d.position)},
    )
    assert known.status_code == 201, known.text
    feedback = await d.feedback.post(
        "/feedback",
        json={"category": "repairs", "household_id": unknown, "description": "灯坏了"},
        headers=d.token("resident", unknown),
    )
    assert feedback.status_code == 422
    assert feedback.json()["detail"].startswith("household_id:")


async def test_requests_are_strictly_typed_bounded_and_refuse_unknown_fields(district: District) -> None:
    d = district
    member, _ = await community_with_a_covered_household(d)
    checks: list[tuple[Any, str, dict[str, Any]]] = [
        (
            d.members,
            f"/members/{member}",
            {"name": "张", "public_phone": "0571-1", "party_branch": "b", "capacity": True},
        ),
        (
            d.members,
            f"/members/{member}",
            {"name": "张", "public_phone": "0571-1", "party_branch": "b", "capacity": "5"},
        ),
        (d.members, "/org-units", {"code": "x1", "name": 5, "level": "building", "parent_path": COMMUNITY}),
        (
            d.members,
            "/org-units",
            {"code": "x2", "name": "楼", "level": "building", "parent_path": COMMUNITY, "extra": 1},
        ),
        (d.assignments, "/tasks", {"category": "repairs", "org_unit": COMMUNITY, "description": ["x"]}),
    ]
    for client, path, body in checks:
        send = client.put if path.startswith("/members/") else client.post
        admin = d.token("administrator", scope="yuhang")
        reply = await send(path, json=body, headers=admin)
        assert reply.status_code == 422, (path, body, reply.text)
        assert reply.json()["detail"][0]["loc"][0] == "body"
    too_big = await d.members.post(
        "/org-units",
        content=b"{" + b" " * 400_000 + b"}",
        headers={**d.secretary, "Content-Type": "application/json"},
    )
    assert too_big.status_code == 413


HOSTILE_CATEGORIES = ["路灯坏了\n请尽快", "详见 https://evil.example/x", "lamps", "Repairs", "其他", ""]


async def test_a_category_outside_the_service_matters_is_refused_with_the_codes_to_choose_from(
    district: District,
) -> None:
    """A category is read by a members' group and on the public follow-up page: a code of
    GET /service-matters, never text (a line break, a link, a word nobody listed)."""
    d = district
    member, household = await community_with_a_covered_household(d)
    resident = d.token("resident", household)
    feedback = {"household_id": household, "description": "楼道灯坏了"}
    task = {"org_unit": COMMUNITY, "description": "楼道灯不亮"}
    visit = {
        "member_id": member,
        "contact_kind": "household",
        "contact_id": household,
        "visited_on": "2026-11-15",
    }
    for category in HOSTILE_CATEGORIES:
        replies = [
            await d.feedback.post("/feedback", json={**feedback, "category": category}, headers=resident),
            await d.assignments.post("/tasks", json={**task, "category": category}, headers=d.secretary),
            await d.members.post(
                "/visits",
                json={**visit, "problem": {"category": category, "description": "灯坏了"}},
                headers=d.secretary,
            ),
        ]
        for reply in replies:
            assert reply.status_code == 422, (category, reply.text)
            [error] = reply.json()["detail"]
            assert error["loc"][-1] == "category"
            assert "GET /service-matters" in error["msg"]
            assert "repairs, elderly_care" in error["msg"]
    taken = await d.feedback.post(
        "/feedback", json={**feedback, "category": "elderly_care"}, headers=resident
    )
    assert taken.status_code == 201, taken.text
    catalogue = await d.get(d.members, "/service-matters", resident)
    assert {"code": "repairs", "label": "维修协调", "label_en": "repairs"} in catalogue


async def test_a_spot_check_takes_only_a_real_boolean(district: District) -> None:
    d = district
    member, household = await community_with_a_covered_household(d)
    _, task_id = await feedback_task(d, household)
    me = d.token("member", member)
    await d.post(d.assignments, f"/tasks/{task_id}/accept", {}, me)
    await d.post(
        d.assignments, f"/tasks/{task_id}/resolution", {"summary": "换了灯", "result": "resolved"}, me
    )
    inspector = d.token("inspector", "inspector-1")
    for passed in ("yes", 1, "true", None):
        reply = await d.assignments.post(
            f"/tasks/{task_id}/spot-check", json={"passed": passed}, headers=inspector
        )
        assert reply.status_code == 422, passed
    assert (await task_of(d, task_id))["state"] == "awaiting_check"


async def test_a_deadline_with_an_offset_is_kept_as_that_instant_and_one_without_is_refused(
    district: District,
) -> None:
    d = district
    member, household = await community_with_a_covered_household(d)
    _, task_id = await feedback_task(d, household)
    due_at = (await task_of(d, task_id))["due_at"]
    later = f"{int(due_at[:4]) + 1}-12-20T10:00:00+08:00"
    me = d.token("member", member)
    for naive in (f"{due_at[:4]}-12-20T10:00:00", 1_900_000_000, "9999-12-31T00:00:00+00:00"):
        reply = await d.assignments.post(
            f"/tasks/{task_id}/extension", json={"new_due_at": naive, "reason": "缺货"}, headers=me
        )
        assert reply.status_code == 422, naive
    await d.post(d.assignments, f"/tasks/{task_id}/extension", {"new_due_at": later, "reason": "缺货"}, me)
    await d.post(
        d.assignments,
        f"/tasks/{task_id}/extension/decision",
        {"approve": True, "reason": "同意"},
        d.secretary,
    )
    stored = (await task_of(d, task_id))["due_at"]
    assert stored.replace("+00:00", "").replace("Z", "").startswith(f"{int(due_at[:4]) + 1}-12-20T02:00:00")


async def test_a_name_is_kept_byte_for_byte_or_refused_never_trimmed(district: District) -> None:
    d = district
    admin = d.token("administrator", scope="yuhang")
    await community_with_a_covered_household(d)
    for name in (" 星河 ", "星河\x0b", "\x0c星河", "星\n河"):
        body = {"code": "c9", "name": name, "level": "building", "parent_path": COMMUNITY}
        assert (await d.members.post("/org-units", json=body, headers=admin)).status_code == 422, repr(name)
    kept = "星河 第一 (东区) <b>&amp;"
    created = await d.post(
        d.members,
        "/org-units",
        {"code": "c9", "name": kept, "level": "building", "parent_path": COMMUNITY},
        admin,
    )
    unit = await d.get(d.members, f"/org-units/{created['id']}", admin)
    assert unit["name"] == kept


async def test_one_enterprise_per_credit_code_even_when_registered_at_once(district: District) -> None:
    d = district
    await community_with_a_covered_household(d)
    body = {
        "org_unit": COMMUNITY,
        "name": "余杭星河五金店",
        "credit_code": CREDIT_CODE,
        "address": "星河路1号",
        "contact_name": "李四",
    }
    replies = await asyncio.gather(
        *(
            d.members.post("/enterprises", json={**body, "name": f"店{n}"}, headers=d.secretary)
            for n in range(4)
        )
    )
    assert sorted(r.status_code for r in replies) == [201, 409, 409, 409], [r.text for r in replies]
    again = await d.members.post("/enterprises", json=body, headers=d.secretary)
    assert again.status_code == 409
    assert "already registered" in again.json()["detail"]


async def test_an_enterprise_answer_never_shows_its_blind_index(district: District) -> None:
    d = district
    await community_with_a_covered_household(d)
    created = await d.post(
        d.members,
        "/enterprises",
        {
            "org_unit": COMMUNITY,
            "name": "星河超市",
            "credit_code": CREDIT_CODE,
            "address": "星河路2号",
            "contact_name": "李四",
            "contact_phone": "13800001111",
        },
        d.secretary,
    )
    one = await d.get(d.members, f"/enterprises/{created['id']}", d.secretary)
    listed = await d.get(d.members, "/enterprises", d.secretary, unit=COMMUNITY)
    assert "phone_index" not in one
    assert all("phone_index" not in e for e in listed["items"])


async def test_party_days_answer_their_agenda_in_the_shape_it_was_sent(district: District) -> None:
    d = district
    await community_with_a_covered_household(d)
    agenda = ["学习", "认领微心愿"]
    await d.post(
        d.assignments,
        "/party-days",
        {"community": COMMUNITY, "held_on": "2026-11-15", "agenda": agenda},
        d.secretary,
    )
    sessions = await d.get(d.assignments, "/party-days", d.secretary)
    assert sessions[0]["agenda"] == agenda


async def test_a_feedback_task_is_raised_no_later_than_triaged_and_an_on_time_closure_counts(
    district: District,
) -> None:
    d = district
    member, household = await community_with_a_covered_household(d)
    feedback_id, task_id = await feedback_task(d, household)
    task = await task_of(d, task_id)
    assert task["raised_at"] <= task["triaged_at"]
    await work_and_close(d, task_id, member, accept=True)
    closed = await task_of(d, task_id)
    assert (closed["state"], closed["on_time"]) == ("closed", True)
    figures = (await d.get(d.assignments, "/kpis", d.secretary, by="community"))[0]
    assert (figures["due"], figures["closed_on_time"], figures["on_time_closure_rate"]) == (1, 1, 1.0)

    resident = d.token("resident", household)
    # Answered at once after the closure: accepted (the closure's position makes it certain),
    # though /callbacks/due lists it only when its time has come.
    answered = await d.feedback.post(
        f"/feedback/{feedback_id}/callback",
        json={"resolved": "yes", "satisfaction": "satisfied"},
        headers={**resident, "X-Min-Position": str(d.position)},
    )
    assert answered.status_code == 200, answered.text
    d.position = max(d.position, answered.json()["position"])
    assert await d.get(d.feedback, "/callbacks/due", d.secretary) == []
    item = await d.get(d.feedback, f"/feedback/{feedback_id}", resident)
    assert (item["outcome"], item["closed_at"] is not None) == ("resolved", True)


async def test_the_feedback_service_follows_a_task_through_return_park_and_unpark(district: District) -> None:
    d = district
    member, household = await community_with_a_covered_household(d)
    feedback_id, task_id = await feedback_task(d, household)
    me = d.token("member", member)
    resident = d.token("resident", household)
    await d.post(d.assignments, f"/tasks/{task_id}/accept", {}, me)
    await d.post(d.assignments, f"/tasks/{task_id}/park", {"reason": "等物业回复"}, d.secretary)
    await d.post(d.assignments, f"/tasks/{task_id}/unpark", {"reason": "物业回复了"}, d.secretary)
    assert (await d.get(d.feedback, f"/feedback/{feedback_id}", resident))["task_state"] == "in_progress"
    await d.post(d.assignments, f"/tasks/{task_id}/return", {"reason": "不归我管"}, me)
    assert (await d.get(d.feedback, f"/feedback/{feedback_id}", resident))["task_state"] == "accepted"


async def test_an_idempotency_key_names_one_request_of_one_person(district: District) -> None:
    d = district
    await community_with_a_covered_household(d)
    body = {"category": "repairs", "org_unit": COMMUNITY, "description": "楼道灯不亮"}
    key = {"Idempotency-Key": "raise-0001-abcdef"}
    first = await d.assignments.post("/tasks", json=body, headers={**d.secretary, **key})
    retry = await d.assignments.post("/tasks", json=body, headers={**d.secretary, **key})
    assert (first.status_code, retry.status_code) == (201, 201)
    assert retry.json() == {**first.json(), "duplicate": True}
    other_body = await d.assignments.post(
        "/tasks", json={**body, "description": "另一件事"}, headers={**d.secretary, **key}
    )
    assert other_body.status_code == 422
    assert "Idempotency-Key" in other_body.json()["detail"]
    task_id = first.json()["id"]
    triage = await d.assignments.post(f"/tasks/{task_id}/triage", headers={**d.secretary, **key})
    assert triage.status_code == 422  # another path: never run under a used key
    someone_else = await d.assignments.post(
        "/tasks", json=body, headers={**d.token("secretary", "secretary-2"), **key}
    )
    assert someone_else.status_code == 201
    assert someone_else.json()["id"] != task_id
    for malformed in ("short", "has space in it", "x" * 101, "ключ-ключ-ключ"):
        headers = [(k.encode(), v.encode()) for k, v in d.secretary.items()]
        headers.append((b"Idempotency-Key", malformed.encode()))
        reply = await d.assignments.post("/tasks", json=body, headers=headers)
        assert reply.status_code == 400, malformed
    d.position = max(d.position, first.json()["position"])  # read the task once it is applied
    assert (await task_of(d, task_id))["state"] == "raised"


async def test_every_command_declares_the_idempotency_key_and_every_id_its_format(district: District) -> None:
    for client in (district.members, district.assignments, district.feedback):
        spec = (await client.get("/openapi.json")).json()
        for path, operations in spec["paths"].items():
            for method, operation in operations.items():
                names = {p["name"]: p for p in operation.get("parameters", [])}
                if method in ("post", "put", "patch", "delete"):
                    assert "Idempotency-Key" in names, (method, path)
                for name, parameter in names.items():
                    if parameter["in"] == "path" and name.endswith("_id"):
                        assert "pattern" in parameter["schema"], (path, name)


async def test_a_protocol_error_from_the_server_is_a_reconnect_not_a_dead_service(
    service_settings: Settings,
) -> None:
    admin = bearer(service_settings, "administrator", scope="yuhang")
    async with running(members_app(service_settings)) as client:
        assert (await wait_ready(client)).status_code == 200
        runtime = service_runtime(client)
        reconnects_before = runtime.nc.stats["reconnects"]
        # A control line over the server's limit: nats-server answers -ERR and drops the connection.
        await runtime.nc.publish("fourlinks.probe." + "x" * 8000, b"")
        await eventually(lambda: _reconnected(runtime, reconnects_before), timeout=20)
        assert (await wait_ready(client, timeout=20)).status_code == 200
        assert (await client.get("/health/live")).status_code == 200
        body = {"code": "yuhang", "name": "余杭区", "level": "district"}
        assert (await client.post("/org-units", json=body, headers=admin)).status_code == 201
        await runtime.nc.close()  # closed for good: only a restart helps, and liveness says so
        dead = await client.get("/health/live")
        assert dead.status_code == 503
        assert dead.json()["closed_connections"] == ["events"]


async def _reconnected(runtime: Any, before: int) -> bool:
    return bool(runtime.nc.is_connected and runtime.nc.stats["reconnects"] > before)


async def test_every_moment_in_an_answer_carries_its_offset(district: District) -> None:
    """SQLite hands back naive times; an answer always says which instant it means (RFC 3339),
    as its OpenAPI document declares (schemathesis found the naive ones)."""
    d = district
    member, household = await community_with_a_covered_household(d)
    _, task_id = await feedback_task(d, household)
    answers = [
        (await d.get(d.members, f"/members/{member}", d.secretary))["registered_at"],
        (await d.get(d.members, f"/households/{household}", d.secretary))["registered_at"],
        (await task_of(d, task_id))["raised_at"],
        (await d.get(d.feedback, "/feedback", d.secretary))["items"][0]["submitted_at"],
    ]
    for moment in answers:
        assert moment.endswith("Z") or moment[-6] in "+-", moment


async def test_a_duplicate_must_name_a_task_that_exists(district: District) -> None:
    d = district
    await community_with_a_covered_household(d)
    body = {"category": "repairs", "org_unit": COMMUNITY, "description": "楼道灯不亮"}
    task = await d.post(d.assignments, "/tasks", body, d.secretary)
    unknown = str(uuid.uuid4())
    rejected = await d.assignments.post(
        f"/tasks/{task['id']}/reject",
        json={"reason": "duplicate", "duplicate_of": unknown},
        headers=d.secretary,
    )
    assert rejected.status_code == 422
    assert rejected.json()["detail"].startswith("duplicate_of:")
    original = await d.post(d.assignments, "/tasks", body, d.secretary)
    await d.post(
        d.assignments,
        f"/tasks/{task['id']}/reject",
        {"reason": "duplicate", "duplicate_of": original["id"]},
        d.secretary,
    )
