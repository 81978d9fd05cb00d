"""An instant is always an instant: every contract refuses a naive datetime at construction, and an
old log's naive instants are read as UTC by every service's read models (none halts on them)."""

from __future__ import annotations

import os
import typing
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import InMemoryWorld, a_problem_submitted, postgres_schema
from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from fourlinks_audit.services import READ_MODELS
from fourlinks_contracts import full_registry
from fourlinks_contracts.feedback import CallbackKind, CallbackScheduled
from fourlinks_feedback.domain.feedback import Feedback
from fourlinks_feedback.projections.feedback import callbacks
from fourlinks_kernel.columns import UtcDateTime
from fourlinks_kernel.envelope import CommandContext, Envelope
from fourlinks_kernel.ids import new_id
from fourlinks_kernel.projection import ProjectionRunner
from fourlinks_runtime.engines import create_engine

NAIVE = datetime(2026, 12, 8, 16, 36, 29, 477332)
COMMUNITY = "yuhang/nanyuan/xinghe"


def _names_a_datetime(annotation: Any) -> bool:
    if annotation is datetime:
        return True
    return any(_names_a_datetime(arg) for arg in typing.get_args(annotation))


def instant_fields(model: type[BaseModel]) -> Iterator[str]:
    """The fields of a model that hold a datetime (optional ones included)."""
    for name, info in model.model_fields.items():
        if _names_a_datetime(info.annotation) or any(_names_a_datetime(m) for m in info.metadata):
            yield name


def every_model_with_instants() -> list[tuple[type[BaseModel], str]]:
    models: list[type[BaseModel]] = [Envelope]
    registry = full_registry()
    models += [registry.contract(t) for t in registry.event_types()]
    return [(model, name) for model in models for name in instant_fields(model)]


def test_the_walk_finds_the_instants_of_the_contracts() -> None:
    found = {(model.__name__, name) for model, name in every_model_with_instants()}
    assert ("CallbackScheduled", "due_at") in found
    assert ("Envelope", "occurred_at") in found
    assert len(found) >= 10


@pytest.mark.parametrize(
    ("model", "field"), every_model_with_instants(), ids=lambda v: getattr(v, "__name__", v)
)
def test_every_contract_refuses_a_naive_instant_at_construction(model: type[BaseModel], field: str) -> None:
    with pytest.raises(ValidationError) as refused:
        model.model_validate({field: NAIVE})
    about_the_field = [e for e in refused.value.errors() if e["loc"] == (field,)]
    assert about_the_field, f"{model.__name__}.{field} took a naive datetime"
    assert "offset" in about_the_field[0]["msg"]


def test_an_aware_instant_is_kept_in_utc_and_a_naive_one_is_refused() -> None:
    due = datetime(2026, 12, 8, 16, 0, tzinfo=UTC)
    scheduled = CallbackScheduled(
        feedback_id="f", task_id="t", round=1, kind=CallbackKind.FIRST, due_at=due, answer_by=due
    )
    assert scheduled.due_at == due
    with pytest.raises(ValidationError, match="offset"):
        CallbackScheduled(
            feedback_id="f", task_id="t", round=1, kind=CallbackKind.FIRST, due_at=NAIVE, answer_by=due
        )


def test_a_read_model_column_refuses_to_store_a_naive_instant() -> None:
    with pytest.raises(ValueError, match="naive"):
        UtcDateTime().process_bind_param(NAIVE, dialect=None)  # type: ignore[arg-type]


# -- an old log -------------------------------------------------------------------------------------
async def an_old_log_with_a_naive_callback() -> InMemoryWorld:
    """Feedback submitted, then the call-back scheduled as an earlier release wrote it: `due_at`
    and `answer_by` without an offset (read back from SQLite), forever in the log."""
    world = InMemoryWorld()
    household, feedback_id = new_id(), new_id()
    resident = await a_problem_submitted(
        world, household=household, feedback_id=feedback_id, at=datetime.now(UTC)
    )
    stream = Feedback.stream_of(feedback_id)
    # model_construct skips validation, as the earlier release's contract did not check.
    naive = CallbackScheduled.model_construct(
        feedback_id=feedback_id,
        task_id=new_id(),
        round=1,
        kind=CallbackKind.FIRST,
        due_at=NAIVE,
        answer_by=NAIVE + timedelta(days=3),
    )
    state = (await world.store.load(stream)).state
    await world.store.append(stream, [naive], expected=state, context=CommandContext.new(resident))
    return world


async def test_the_old_log_really_holds_a_naive_instant() -> None:
    world = await an_old_log_with_a_naive_callback()
    stored = [s async for s in world.store.read()]
    assert b'"due_at":"2026-12-08T16:36:29.477332"' in stored[-1].payload


async def test_an_old_naive_instant_is_read_as_utc() -> None:
    world = await an_old_log_with_a_naive_callback()
    stored = [s async for s in world.store.read()]
    event = (await world.store.codec.decode(stored[-1])).event
    assert isinstance(event, CallbackScheduled)
    assert event.due_at == NAIVE.replace(tzinfo=UTC)


@pytest.fixture(params=["sqlite", *(["postgresql"] if os.environ.get("DATABASE_URL") else [])])
async def databases(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[dict[str, AsyncEngine]]:
    """One read-model database per service, as deployed."""
    if request.param == "sqlite":
        engines = {s: create_engine(f"sqlite+aiosqlite:///{tmp_path / s}.db") for s in READ_MODELS}
        yield engines
        for engine in engines.values():
            await engine.dispose()
        return
    schemas = {s: postgres_schema() for s in READ_MODELS}
    yield {s: await schema.__aenter__() for s, schema in schemas.items()}
    for schema in schemas.values():
        await schema.__aexit__()


async def test_every_projection_applies_an_old_naive_callback(databases: dict[str, AsyncEngine]) -> None:
    world = await an_old_log_with_a_naive_callback()
    log = [s async for s in world.store.read()]
    for service, projections in READ_MODELS.items():
        for make in projections:
            runner = ProjectionRunner(make(), store=world.store, engine=databases[service])
            await runner.prepare()
            await runner.take(log, world.store.codec.decode)
            await runner.finish(log[-1].position)
            runner.close()
            assert runner.status.halted_reason is None, (service, runner.status.halted_reason)
            assert runner.status.position == log[-1].position
    async with databases["feedback"].connect() as conn:
        due_at = (await conn.execute(select(callbacks.c.due_at))).scalar_one()
    assert due_at == NAIVE.replace(tzinfo=UTC)
    assert due_at.tzinfo is not None
