"""How each district stands with the province: how old its figures are, whether its checkpoint
verifies against the public key the province was given for it, and its link (the stream source's
lag and last contact, as the province's NATS server reports them)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fourlinks_kernel.instants import as_utc
from fourlinks_kernel.notes import NoteError, VerifierKey, read_checkpoint
from fourlinks_province.application.queries import Heard
from fourlinks_province.settings import District

_DOMAIN_API = re.compile(r"^\$JS\.d(\d{6})\.API$")
_TRANSFORMED = re.compile(r"^(\d{6})\.uplink\.>$")


@dataclass(frozen=True)
class Link:
    """A district's stream source as the province's server sees it."""

    lag: int | None
    active_seconds: float | None
    error: str | None


def links_of(stream_info: Mapping[str, Any]) -> dict[str, Link]:
    """Each district's source of the province's stream (raw `STREAM.INFO` answer), by code."""
    links = {}
    for source in stream_info.get("sources") or []:
        code = _code_of(source)
        if code is None:
            continue
        active = source.get("active")
        error = source.get("error")
        links[code] = Link(
            lag=source.get("lag"),
            active_seconds=None if active is None or active < 0 else active / 1e9,
            error=None if not error else str(error.get("description") or error),
        )
    return links


def _code_of(source: Mapping[str, Any]) -> str | None:
    """The district a source is (its transform's destination, else its JetStream domain)."""
    for transform in source.get("subject_transforms") or []:
        found = _TRANSFORMED.match(str(transform.get("dest", "")))
        if found:
            return found.group(1)
    api = (source.get("external") or {}).get("api", "")
    found = _DOMAIN_API.match(str(api))
    return found.group(1) if found else None


def checkpoint_standing(district: District, checkpoint: Mapping[str, Any] | None) -> dict[str, Any]:
    """The district's latest checkpoint: verified against its public log key, or why not."""
    if checkpoint is None:
        return {
            "verified": False,
            "problem": "no_checkpoint",
            "size": None,
            "origin": None,
            "published_at": None,
        }
    known = {"origin": checkpoint["origin"], "published_at": checkpoint["published_at"], "size": None}
    if not district.log_key:
        return {**known, "verified": False, "problem": "no_log_key"}
    try:
        key = VerifierKey.parse(district.log_key)
        read = read_checkpoint(checkpoint["note"], key)
    except NoteError:
        return {**known, "verified": False, "problem": "signature_invalid"}
    if read.origin != checkpoint["origin"]:
        return {**known, "size": read.size, "verified": False, "problem": "origin_mismatch"}
    return {**known, "size": read.size, "verified": True, "problem": None}


def standing(
    district: District, heard: Heard | None, link: Link | None, *, now: datetime, stale_seconds: float
) -> dict[str, Any]:
    """One district's line of /districts."""
    heard = heard or Heard(None, None, None, None)
    age_seconds = _age(heard, now)
    return {
        "code": district.code,
        "name": district.name,
        "as_of_position": heard.position,
        "as_of": heard.figures_at,
        "heard_seconds_ago": age_seconds,
        "stale": age_seconds is None or age_seconds > stale_seconds,
        "checkpoint": checkpoint_standing(district, heard.checkpoint),
        "link": None
        if link is None
        else {"lag": link.lag, "active_seconds": link.active_seconds, "error": link.error},
        "refused": None
        if heard.refused is None
        else {"subject": heard.refused["subject"], "reason": heard.refused["reason"]},
    }


def _age(heard: Heard, now: datetime) -> float | None:
    """Seconds since the district last sent anything: figures, or its checkpoint (restated every
    cycle of its publisher, so a district whose figures did not change is not taken for silent)."""
    moments = [heard.figures_at, heard.checkpoint["published_at"] if heard.checkpoint else None]
    latest = max((as_utc(datetime.fromisoformat(m)) for m in moments if m), default=None)
    return None if latest is None else max((now - latest).total_seconds(), 0.0)
