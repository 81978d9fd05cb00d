"""The federation's init step: FOURLINKS_UPLINK in a district, FOURLINKS_PROVINCE at the province;
idempotent, and a stream that exists with other settings is named, never silently kept."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from nats.aio.client import Client

from fourlinks_kernel.provisioning import STREAM_NOT_FOUND, ProvisioningError
from fourlinks_runtime.federation import province_stream_config, uplink_stream_config

CHECKED = ("storage", "retention", "max_msgs_per_subject", "discard", "allow_direct")


async def provision_uplink(nc: Client) -> str:
    """Create or verify a district's FOURLINKS_UPLINK (connected as the district's `uplink` user)."""
    wanted = uplink_stream_config()
    info = await _stream_info(nc, wanted["name"])
    if info is None:
        return await _create(nc, wanted)
    problems = _differences(info["config"], wanted)
    if info["config"].get("subjects") != wanted["subjects"]:
        problems.append(f"subjects are {info['config'].get('subjects')}, need {wanted['subjects']}")
    if problems:
        raise ProvisioningError(f"stream {wanted['name']} exists with other settings: " + "; ".join(problems))
    return f"verified stream {wanted['name']} ({info['state']['messages']} figures)"


async def provision_province(nc: Client, codes: Sequence[str]) -> str:
    """Create or verify the province's FOURLINKS_PROVINCE; a district added to (or removed from)
    the province's list becomes a source added (or removed): the others keep their position."""
    wanted = province_stream_config(codes)
    info = await _stream_info(nc, wanted["name"])
    if info is None:
        return await _create(nc, wanted)
    problems = _differences(info["config"], wanted)
    if info["config"].get("subjects"):
        problems.append(f"it has subjects of its own {info['config']['subjects']}: anyone could write")
    if problems:
        raise ProvisioningError(f"stream {wanted['name']} exists with other settings: " + "; ".join(problems))
    if _sources(info["config"]) == _sources(wanted):
        return f"verified stream {wanted['name']} ({len(codes)} districts)"
    updated = await _api(
        nc, f"STREAM.UPDATE.{wanted['name']}", {**info["config"], "sources": wanted["sources"]}
    )
    if "error" in updated:
        raise ProvisioningError(f"cannot update the sources of {wanted['name']}: {_reason(updated)}")
    return f"updated stream {wanted['name']} to {len(codes)} districts"


def _differences(actual: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
    return [
        f"{key} is {actual.get(key)!r}, needs {wanted[key]!r}"
        for key in CHECKED
        if actual.get(key) != wanted[key]
    ]


def _sources(config: dict[str, Any]) -> list[str]:
    """Each source as comparable text: what the server echoes back has the same keys in another
    order and empty fields filled in."""
    return sorted(
        json.dumps(
            {
                "name": source["name"],
                "api": source.get("external", {}).get("api"),
                "deliver": source.get("external", {}).get("deliver"),
                "transforms": source.get("subject_transforms"),
            },
            sort_keys=True,
        )
        for source in config.get("sources") or []
    )


async def _stream_info(nc: Client, name: str) -> dict[str, Any] | None:
    info = await _api(nc, f"STREAM.INFO.{name}", None)
    error = info.get("error")
    if error and error.get("err_code") == STREAM_NOT_FOUND:
        return None
    if error:
        raise ProvisioningError(f"cannot read stream {name}: {error.get('description')}")
    return info


async def _create(nc: Client, wanted: dict[str, Any]) -> str:
    created = await _api(nc, f"STREAM.CREATE.{wanted['name']}", wanted)
    if "error" in created:
        raise ProvisioningError(f"cannot create stream {wanted['name']}: {_reason(created)}")
    return f"created stream {wanted['name']}"


def _reason(reply: dict[str, Any]) -> str:
    return str(reply["error"].get("description"))


async def _api(nc: Client, call: str, body: dict[str, Any] | None) -> dict[str, Any]:
    payload = json.dumps(body).encode() if body is not None else b""
    msg = await nc.request(f"$JS.API.{call}", payload, timeout=10)
    reply: dict[str, Any] = json.loads(msg.data)
    return reply
