"""Logs are JSON lines with correlation ids and never personal data."""

from __future__ import annotations

import io
import json
import logging

import structlog

from fourlinks_runtime.logs import bind_context, clear_context, configure_logging


def capture() -> io.StringIO:
    out = io.StringIO()
    configure_logging("INFO", stream=out)
    return out


def lines(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_personal_fields_and_personal_patterns_never_reach_the_log() -> None:
    out = capture()
    structlog.get_logger("t").info(
        "household_registered",
        household_id="h-1",
        name="王小明",
        phone="13912345678",
        residents=[{"name": "李四", "phone": "13800000000"}],
        note_text="call 13700001111 or mail wang@example.com, id 330110199001011234",
    )
    text = out.getvalue()
    for secret in (
        "王小明",
        "13912345678",
        "李四",
        "13800000000",
        "13700001111",
        "wang@example.com",
        "330110199001011234",
    ):
        assert secret not in text
    record = lines(out)[0]
    assert record["household_id"] == "h-1"
    assert record["event"] == "household_registered"


def test_stdlib_records_with_extra_are_flattened_redacted_and_carry_the_bound_correlation_id() -> None:
    out = capture()
    clear_context()
    bind_context(correlation_id="corr-123")
    logging.getLogger("faststream").info("message received", extra={"subject": "x.y", "phone": "13912345678"})
    clear_context()
    record = lines(out)[0]
    assert record["subject"] == "x.y"
    assert record["correlation_id"] == "corr-123"
    assert record["phone"] == "[redacted]"
