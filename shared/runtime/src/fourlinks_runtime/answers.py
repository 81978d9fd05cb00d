"""Typed answers of read routes: a row's model made from its read-model table (one source of
truth for its fields and types), and one page shape for every list."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, create_model
from sqlalchemy import Boolean, Column, Date, DateTime, Float, Integer, Numeric, Table
from sqlalchemy.types import TypeEngine

from fourlinks_kernel.columns import UtcDateTime
from fourlinks_kernel.instants import as_utc

T = TypeVar("T")
Moment = Annotated[datetime, AfterValidator(as_utc)]
"""A moment in an answer: always with its offset (SQLite hands back naive UTC times)."""


class Page(BaseModel, Generic[T]):
    """One page of a list: its items, how many there are in all, and where the page starts."""

    items: list[T]
    total: int
    limit: int
    offset: int


def python_type(column_type: TypeEngine[Any]) -> Any:
    """The type a column's values are answered as (moments always with their offset)."""
    for sql, python in (
        (Boolean, bool),
        (UtcDateTime, Moment),
        (DateTime, Moment),
        (Date, date),
        (Float, float),
        (Numeric, float),
    ):
        if isinstance(column_type, sql):
            return python
    return int if isinstance(column_type, Integer) else str


def row_model(
    name: str,
    table: Table,
    *,
    doc: str,
    exclude: frozenset[str] = frozenset(),
    fields: dict[str, Any] | None = None,
) -> type[BaseModel]:
    """A model of one row of `table`: its columns (nullable ones optional), less `exclude`, with
    `fields` replacing or adding fields ({name: type}) where an answer reshapes a column."""
    specs: dict[str, Any] = {
        column.name: _field(column) for column in table.columns if column.name not in exclude
    }
    specs.update({field: (kind, ...) for field, kind in (fields or {}).items()})
    model: type[BaseModel] = create_model(name, __config__=ConfigDict(extra="ignore"), __doc__=doc, **specs)
    return model


def _field(column: Column[Any]) -> tuple[Any, Any]:
    kind = python_type(column.type)
    return (kind | None, None) if column.nullable else (kind, ...)


def page_of(item: type[BaseModel]) -> type[BaseModel]:
    """The page model of a row model (`Page` of it, named after it for the OpenAPI document)."""
    model: type[BaseModel] = create_model(f"{item.__name__}Page", __base__=Page[item])  # type: ignore[valid-type]
    return model


class Ranking(BaseModel, Generic[T]):
    """Groups ranked by a rate, best first (or only the lowest, lowest first, when asked so), only
    those with at least `minimum_sample` items; `total`: how many are listed."""

    metric: str
    minimum_sample: int
    ranking: list[T]
    total: int


def ranking_of(figures: type[BaseModel]) -> type[BaseModel]:
    """The ranking model of a KPI row model."""
    model: type[BaseModel] = create_model(f"{figures.__name__}Ranking", __base__=Ranking[figures])  # type: ignore[valid-type]
    return model


def list_of(item: type[BaseModel]) -> Any:
    """`list[item]` for a row model made at run time (a response model of a plain list)."""
    return list[item]  # type: ignore[valid-type]
