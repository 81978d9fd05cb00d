"""An instant is always an instant: timezone-aware datetimes in events, commands and answers.

A naive datetime names no moment (is it UTC? local time?), and comparing one with an aware one
raises. So contracts refuse one at construction, and read-model columns always come back aware
(SQLite keeps no offset: `fourlinks_kernel.columns.UtcDateTime`). Events already in a log with a
naive instant, written before the door was shut, are read as UTC: the log is never rewritten, the
reading is upcast.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import ValidationInfo, WrapValidator
from pydantic_core.core_schema import ValidatorFunctionWrapHandler

STORED = "stored"
FROM_THE_LOG = {STORED: True}
"""Validation context of data read back from the log, where a naive instant means UTC."""


def as_utc(moment: datetime) -> datetime:
    """A timezone-aware moment in UTC; a naive one (as SQLite or an old event hands it) is taken as UTC."""
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def _aware(value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> datetime:
    moment: datetime = handler(value)
    if moment.tzinfo is not None:
        return moment
    if isinstance(info.context, dict) and info.context.get(STORED):
        return moment.replace(tzinfo=UTC)
    raise ValueError(
        "an instant needs its UTC offset (e.g. 2026-12-08T16:36:29Z); a naive time names no moment"
    )


Instant = Annotated[datetime, WrapValidator(_aware)]
"""A datetime field of a contract or a request: refused without an offset, except read from the log."""
