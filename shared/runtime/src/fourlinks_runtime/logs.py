"""structlog JSON logs, with personal data redacted before anything is written."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping
from typing import Any

import structlog
from structlog.types import EventDict, WrappedLogger

REDACTED = "[redacted]"
PERSONAL_KEYS = frozenset(
    {
        "name",
        "full_name",
        "resident",
        "residents",
        "phone",
        "phone_number",
        "mobile",
        "address",
        "id_number",
        "email",
        "contact_person",
        "contact_phone",
        "notes",
        "comment",
        "description",
        "vulnerability",
        "vulnerabilities",
        "password",
        "token",
        "authorization",
        "secret",
    }
)
_PATTERNS = (
    re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)"),  # mainland mobile numbers
    re.compile(r"(?<!\d)\d{17}[\dXx](?!\d)"),  # resident identity card numbers
    re.compile(r"(?<!\d)0\d{2,3}-?\d{7,8}(?!\d)"),  # landlines
    re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+"),  # e-mail addresses
    re.compile(r"Bearer\s+[\w.-]+", re.IGNORECASE),
)


def scrub_text(text: str) -> str:
    """Mask phone numbers, ID numbers, e-mail addresses and tokens inside free text."""
    for pattern in _PATTERNS:
        text = pattern.sub(REDACTED, text)
    return text


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, Mapping):
        return {k: REDACTED if str(k).lower() in PERSONAL_KEYS else _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_scrub(v) for v in value]
    return value


def redact_personal_data(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """structlog processor: personal keys masked, personal patterns scrubbed from every value."""
    for key in list(event_dict):
        if key.lower() in PERSONAL_KEYS:
            event_dict[key] = REDACTED
        else:
            event_dict[key] = _scrub(event_dict[key])
    return event_dict


def _drop_color_message(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    event_dict.pop("color_message", None)
    return event_dict


def configure_logging(level: str = "INFO", *, stream: Any = None) -> None:
    """JSON lines on stderr for structlog and stdlib (FastStream, uvicorn) alike."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.ExtraAdder(),
        _drop_color_message,
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            redact_personal_data,
            structlog.processors.JSONRenderer(ensure_ascii=False),
        ],
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for library in ("faststream", "faststream.access", "uvicorn", "uvicorn.error", "nats"):
        own = logging.getLogger(library)
        own.handlers[:] = []
        own.propagate = True
    # These log SQL statements with their parameters (personal data) at DEBUG: never below WARNING.
    for talkative in ("uvicorn.access", "aiosqlite", "sqlalchemy.engine", "sqlalchemy.pool", "asyncpg"):
        logging.getLogger(talkative).setLevel(logging.WARNING)


def bind_context(**values: Any) -> None:
    """Bind correlation ids and the like to every log line of this request or message."""
    structlog.contextvars.bind_contextvars(**values)


def clear_context() -> None:
    """Forget what was bound for the previous request or message."""
    structlog.contextvars.clear_contextvars()


__all__ = ["bind_context", "clear_context", "configure_logging", "redact_personal_data", "scrub_text"]
