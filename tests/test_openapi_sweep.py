"""What a stranger does with the four OpenAPI documents, on a seeded district: every POST, PUT
and PATCH of every service with no body, `{}`, malformed JSON, each field of the wrong type, 100 KB
strings, control characters, SQL and HTML fragments, unknown fields, far-past and far-future
dates, negative and huge numbers, ids with spaces, wildcards and non-ASCII.

Every answer must be 2xx or 4xx with a JSON body (never a 500, never plain text), none may hang
(5 s), the service must still be live and ready afterwards, and every string a 2xx accepted must
be in the events it wrote, byte for byte.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import (
    District,
    bearer,
    community_with_a_covered_household,
    running,
    settings_for_tests,
    wait_ready,
)
from sqlalchemy import select

from fourlinks_assignments.bootstrap import create_app as assignments_app
from fourlinks_feedback.bootstrap import create_app as feedback_app
from fourlinks_kernel.jetstream import JetStreamSettings
from fourlinks_members.bootstrap import create_app as members_app
from fourlinks_members.projections.directory import households, members
from fourlinks_members.seed import seed_district
from fourlinks_notifications.bootstrap import create_app as notifications_app
from fourlinks_runtime.embedded import NatsEndpoint

EVERY_ROLE = ("administrator", "secretary", "member", "inspector", "resident", "auditor")
HOSTILE_TEXT = [
    "Robert'); DROP TABLE tasks;--",
    "<script>alert(1)</script>&amp;",
    "line\nbreak\ttab\x1b[31mescape",
    "王小明 محمد 🙂 \u200b\u202e",
    "x" * 100_000,
]
ODD_IDS = ["a b", "*", ">", "a.b", "余杭", "x" * 5000, "%00"]
WRONG_VALUES: list[Any] = [None, True, 0, -1, 10**30, 1.5, "text", [], {}, [1, "a"]]
DATES = ["0001-01-01", "9999-12-31", "0001-01-01T00:00:00+00:00", "9999-12-31T23:59:59+14:00", "2026-13-45"]
SECONDS_PER_ANSWER = 5.0


@dataclass
class Sweep:
    """What the sweep saw: answers by status, and what 2xx accepted."""

    statuses: dict[int, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    accepted: list[tuple[str, int, list[str]]] = field(default_factory=list)


@dataclass
class Seeded:
    """The three services of the district, and the notifier beside them."""

    district: District
    notifications: httpx.AsyncClient

    @property
    def clients(self) -> tuple[httpx.AsyncClient, ...]:
        d = self.district
        return (d.members, d.assignments, d.feedback, self.notifications)


@pytest.fixture
async def seeded(
    tmp_path: Path, nats_server: NatsEndpoint, jetstream_settings: JetStreamSettings
) -> AsyncIterator[Seeded]:
    """The four services on SQLite over a seeded community (the sweep is about the HTTP edge,
    which does not depend on the read-model database; the other suites cover PostgreSQL)."""
    settings = settings_for_tests(tmp_path, nats_server, jetstream_settings, log_level="ERROR")
    await seed_district(settings, district="sweep", scale=0.001)
    async with AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(running(make(settings)))
            for make in (members_app, assignments_app, feedback_app, notifications_app)
        ]
        for client in clients:
            assert (await wait_ready(client, timeout=60)).status_code == 200
        yield Seeded(District(settings, clients[0], clients[1], clients[2]), clients[3])


async def real_ids(d: District) -> dict[str, str]:
    """Ids of things that exist, for path parameters: the seeded district's and a fresh task's."""
    member, household = await community_with_a_covered_household(d)
    runtime = d.runtime(d.members)
    async with runtime.engine.connect() as conn:
        seeded_member = await conn.scalar(select(members.c.member_id).limit(1))
        seeded_household = await conn.scalar(select(households.c.household_id).limit(1))
    task = await d.post(
        d.assignments,
        "/tasks",
        {"category": "repairs", "org_unit": "yuhang/nanyuan/xinghe", "description": "楼道灯不亮"},
        d.secretary,
    )
    return {
        "member_id": str(seeded_member or member),
        "household_id": str(seeded_household or household),
        "contact_id": household,
        "enterprise_id": household,
        "task_id": task["id"],
        "feedback_id": task["id"],
        "unit_id": task["id"],
        "helper_id": member,
        "resident_id": member,
        "notice_id": task["id"],
    }


def resolve(schema: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    """A schema with its $ref followed and a nullable anyOf reduced to its non-null branch."""
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            branches = [b for b in schema[key] if b.get("type") != "null"]
            return resolve(branches[0], spec)
    return schema


def plausible(schema: dict[str, Any], spec: dict[str, Any], ids: dict[str, str]) -> Any:
    """A value the schema would accept (or nearly: the sweep is about the edge, not the rules)."""
    schema = resolve(schema, spec)
    kind = schema.get("type")
    if "enum" in schema:
        return schema["enum"][0]
    if kind == "object":
        properties = schema.get("properties", {})
        return {name: plausible(sub, spec, ids) for name, sub in properties.items()}
    if kind == "array":
        return [plausible(schema.get("items", {}), spec, ids)] * max(1, schema.get("minItems", 1))
    if kind == "boolean":
        return False
    if kind == "integer":
        return int(schema.get("minimum", 1))
    return plausible_text(schema, ids)


def plausible_text(schema: dict[str, Any], ids: dict[str, str]) -> str:
    pattern, kind = schema.get("pattern", ""), schema.get("format")
    if kind == "date":
        return "2026-11-15"
    if kind == "date-time":
        return "2030-12-20T10:00:00+08:00"
    if "[0-9a-f]{8}" in pattern:
        return ids["household_id"]
    if "a-z0-9" in pattern:
        return "yuhang/nanyuan/xinghe"
    if "d{4}" in pattern:
        return "2026-11"
    if "0-9A-HJ" in pattern:
        return "91330110MA2H3L7X4X"
    if "0-9+" in pattern:
        return "0571-88880001"
    return "正常的文字 ok"[: max(2, int(schema.get("maxLength", 40)))]


def mutations(
    body: dict[str, Any], schema: dict[str, Any], spec: dict[str, Any]
) -> Iterator[tuple[str, Any]]:
    """(what, JSON body) pairs: every field broken every way, one at a time."""
    yield "empty object", {}
    yield "unknown field", {**body, "unexpected_field": "x"}
    for name in resolve(schema, spec).get("properties", {}):
        for value in [*WRONG_VALUES, *HOSTILE_TEXT, *ODD_IDS, *DATES]:
            yield f"{name}={str(value)[:20]!r}", {**body, name: value}


def strings_in(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)


async def send(
    client: httpx.AsyncClient, method: str, path: str, headers: dict[str, str], **kwargs: Any
) -> httpx.Response:
    try:
        return await asyncio.wait_for(
            client.request(method, path, headers=headers, **kwargs), SECONDS_PER_ANSWER
        )
    except TimeoutError:
        return httpx.Response(599, text=f"no answer within {SECONDS_PER_ANSWER} s")


def judge(sweep: Sweep, what: str, reply: httpx.Response) -> None:
    sweep.statuses[reply.status_code] = sweep.statuses.get(reply.status_code, 0) + 1
    problem = None
    if not (200 <= reply.status_code < 300 or 400 <= reply.status_code < 500):
        problem = f"{reply.status_code}"
    elif not reply.headers.get("content-type", "").startswith("application/json"):
        problem = f"{reply.status_code} as {reply.headers.get('content-type')}"
    else:
        try:
            reply.json()
        except ValueError:
            problem = "a body that is not JSON"
    if problem:
        sweep.failures.append(f"{what}: {problem}: {reply.text[:200]}")


async def sweep_service(
    client: httpx.AsyncClient, ids: dict[str, str], headers: dict[str, str], sweep: Sweep
) -> None:
    spec = (await client.get("/openapi.json")).json()
    for template, operations in spec["paths"].items():
        for method, operation in operations.items():
            if method not in ("post", "put", "patch"):
                continue
            path = template.format(**{k: ids.get(k, ids["task_id"]) for k in _params(template)})
            for odd in ODD_IDS if "{" in template else []:
                odd_path = template.format(
                    **dict.fromkeys(_params(template), httpx.URL(odd).raw_path.decode())
                )
                judge(
                    sweep,
                    f"{method} {template} id={odd[:10]!r}",
                    await send(client, method, odd_path, headers, json={}),
                )
            await sweep_bodies(
                Target(client, method, path, headers), operation, spec=spec, ids=ids, sweep=sweep
            )


@dataclass
class Target:
    """One write operation of one service, and who calls it."""

    client: httpx.AsyncClient
    method: str
    path: str
    headers: dict[str, str]


async def sweep_bodies(
    target: Target, operation: dict[str, Any], *, spec: dict[str, Any], ids: dict[str, str], sweep: Sweep
) -> None:
    client, method, path, headers = target.client, target.method, target.path, target.headers
    label = f"{method} {path}"
    judge(sweep, f"{label} no body", await send(client, method, path, headers))
    json_headers = {**headers, "Content-Type": "application/json"}
    judge(sweep, f"{label} malformed", await send(client, method, path, json_headers, content=b'{"a": '))
    content = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if content is None:
        return
    body = plausible(content["schema"], spec, ids)
    for what, mutated in mutations(body, content["schema"], spec):
        reply = await send(client, method, path, headers, json=mutated)
        judge(sweep, f"{label} {what}", reply)
        if 200 <= reply.status_code < 300 and "position" in reply.json():
            hostile = [s for s in strings_in(mutated) if s in HOSTILE_TEXT]
            sweep.accepted.append((f"{label} {what}", reply.json()["position"], hostile))


def _params(template: str) -> list[str]:
    return [part[1:-1] for part in template.split("/") if part.startswith("{")]


async def texts_in_events(d: District, position: int) -> set[str]:
    """Every string value of the events of the command whose last event is at `position`
    (a command's events are one atomic batch: contiguous, one command id), decrypted."""
    store = d.runtime(d.members).store
    found: set[str] = set()
    command_id = None
    for at in range(position, max(position - 100, 0), -1):
        async for stored in store.read(from_position=at, until_position=at):
            event = await store.codec.decode(stored)
            if command_id not in (None, event.envelope.command_id):
                return found
            command_id = event.envelope.command_id
            found.update(strings_in(json.loads(event.event.model_dump_json())))
    return found


async def test_every_write_operation_survives_hostile_input_on_a_seeded_district(seeded: Seeded) -> None:
    d = seeded.district
    ids = await real_ids(d)
    headers = bearer(d.settings, *EVERY_ROLE, scope="yuhang", subject=ids["household_id"])
    sweep = Sweep()
    for client in seeded.clients:
        await sweep_service(client, ids, headers, sweep)
    assert not sweep.failures, "\n".join(sweep.failures[:30])
    for client in seeded.clients:
        assert (await client.get("/health/live")).status_code == 200
        assert (await wait_ready(client, timeout=30)).status_code == 200
    for what, position, sent in sweep.accepted:
        stored = await texts_in_events(d, position)
        missing = [s[:40] for s in sent if s not in stored]
        assert not missing, f"{what}: accepted at {position} but not stored byte for byte: {missing}"
    assert sum(sweep.statuses.values()) > 2000, sweep.statuses  # the sweep really ran
    assert sweep.accepted, sweep.statuses  # and some hostile text was accepted and checked
