"""Districts and a province on NATS's own machinery (issue #39): figures go up through leafnode
links and stream sourcing, a cut link catches up without duplicates or gaps, each side's
permissions hold against the other, and nothing of a district's events reaches the province."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from nats.aio.client import Client
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from tools.federation import CODES, Federation, provision_federation, start_federation

from fourlinks_runtime.federation import PROVINCE_STREAM, UPLINK_STREAM

MONTH = "2026-07"
CATCH_UP_SECONDS = 60.0
STREAM_NOT_FOUND = 10059

Contents = dict[str, tuple[int, bytes, str]]
"""subject → (stream sequence, payload, Nats-Msg-Id)."""


def figures(code: str, unit: str, closed: int) -> tuple[str, bytes]:
    """One community's task figures for the month, shaped as the contract says."""
    subject = f"uplink.figures.tasks.{MONTH}.{unit.replace('/', '~')}"
    body = {
        "v": 1,
        "kind": "tasks",
        "district": code,
        "unit": unit,
        "month": MONTH,
        "position": 1000 + closed,
        "counts": {"tasks": 40, "closed": closed, "due": 30, "closed_on_time": closed - 1},
    }
    return subject, json.dumps(body, ensure_ascii=False).encode()


async def publish(uplink: Client, subject: str, payload: bytes) -> int:
    """Through JetStream with the contract's message id; the stream sequence it got."""
    msg_id = hashlib.sha256(subject.encode() + payload).hexdigest()
    ack = await uplink.jetstream().publish(subject, payload, headers={"Nats-Msg-Id": msg_id})
    assert not ack.duplicate
    return ack.seq


async def contents(nc: Client, stream: str, subjects: str) -> Contents:
    """Every message of a stream under a filter, by one batch direct get."""
    inbox = nc.new_inbox()
    replies = await nc.subscribe(inbox)
    request = {"seq": 1, "next_by_subj": subjects, "batch": 10_000}
    await nc.publish(f"$JS.API.DIRECT.GET.{stream}", json.dumps(request).encode(), reply=inbox)
    found: Contents = {}
    try:
        while True:
            msg = await replies.next_msg(timeout=10)
            headers = msg.headers or {}
            if headers.get("Status") in ("204", "404"):  # end of batch, or nothing at all
                return found
            sequence = int(headers["Nats-Sequence"])
            found[headers["Nats-Subject"]] = (sequence, msg.data, headers.get("Nats-Msg-Id", ""))
    finally:
        await replies.unsubscribe()


def as_district(province: Contents, code: str) -> dict[str, tuple[bytes, str]]:
    """The province's copy of one district, under the district's own subjects."""
    prefix = f"{code}."
    return {
        s.removeprefix(prefix): (data, mid) for s, (_, data, mid) in province.items() if s.startswith(prefix)
    }


def latest(district: Contents) -> dict[str, tuple[bytes, str]]:
    return {subject: (data, mid) for subject, (_, data, mid) in district.items()}


async def caught_up(federation: Federation, province: Client, code: str) -> Contents:
    """The province's stream once it holds exactly the district's latest figures (or as it is when
    it never does): what the assertions then compare."""
    uplink = await federation.districts[code].connect("uplink")
    try:
        wanted = latest(await contents(uplink, UPLINK_STREAM, "uplink.>"))
    finally:
        await uplink.close()
    deadline = time.monotonic() + CATCH_UP_SECONDS
    while True:
        held = await contents(province, PROVINCE_STREAM, ">")
        if as_district(held, code) == wanted or time.monotonic() > deadline:
            return held
        await asyncio.sleep(0.2)


async def seed(federation: Federation, *, closed: int = 10) -> dict[str, Contents]:
    """Each district publishes two communities' figures; what each district's stream then holds."""
    held = {}
    for code, district in federation.districts.items():
        uplink = await district.connect("uplink")
        try:
            for n, unit in enumerate((f"{code}/s01/c001", f"{code}/s02/c007")):
                await publish(uplink, *figures(code, unit, closed=closed + n))
            held[code] = await contents(uplink, UPLINK_STREAM, "uplink.>")
        finally:
            await uplink.close()
    return held


async def test_each_districts_figures_land_in_the_province_under_its_own_code(federation: Federation) -> None:
    published = await seed(federation)
    province = await federation.province.connect("province")
    try:
        for code in CODES:
            held = await caught_up(federation, province, code)
            assert as_district(held, code) == latest(published[code])
        assert set(held) == {f"{code}.{s}" for code in CODES for s in published[code]}
        for subject, (_, payload, _) in held.items():
            assert json.loads(payload)["district"] == subject.split(".")[0]
    finally:
        await province.close()


async def test_a_cut_link_catches_up_when_restored_without_duplicates_or_gaps(federation: Federation) -> None:
    await seed(federation)
    yuhang, xihu = federation.districts["330110"], federation.districts["330106"]
    province = await federation.province.connect("province")
    try:
        before = {code: await caught_up(federation, province, code) for code in CODES}
        yuhang.cut_link()
        await asyncio.to_thread(federation.wait_for_links, len(CODES) - 1)
        uplink = await yuhang.connect("uplink")
        restated, _ = figures("330110", "330110/s01/c001", closed=20)
        cut_at = max(seq for seq, _, _ in (await contents(uplink, UPLINK_STREAM, "uplink.>")).values())
        for closed in (21, 22, 23):  # restated three times while the link is down: the last counts
            await publish(uplink, *figures("330110", "330110/s01/c001", closed=closed))
        for unit in ("330110/s03/c002", "330110/s04/c009"):  # communities new to the province
            await publish(uplink, *figures("330110", unit, closed=5))
        other = await xihu.connect("uplink")
        await publish(other, *figures("330106", "330106/s05/c001", closed=3))  # the others go on
        await other.close()
        held_while_cut = await caught_up(federation, province, "330106")
        assert as_district(held_while_cut, "330110") == as_district(before["330110"], "330110")

        yuhang.restore_link()
        await asyncio.to_thread(federation.wait_for_links, len(CODES))
        after = await caught_up(federation, province, "330110")
        district = await contents(uplink, UPLINK_STREAM, "uplink.>")
        await uplink.close()
        state = (await province.jetstream().stream_info(PROVINCE_STREAM)).state
    finally:
        await province.close()
    assert as_district(after, "330110") == latest(district)
    assert json.loads(after[f"330110.{restated}"][1])["counts"]["closed"] == 23
    # Every message stored in the province took a sequence: 6 seeded, Xihu's one during the cut,
    # and what Yuhang held after the cut (the restated subject's last version, two new ones).
    # A message sent twice, or one from before the cut sent again, would take one more.
    sourced_after_cut = [seq for seq, _, _ in district.values() if seq > cut_at]
    assert len(sourced_after_cut) == 3
    assert state.last_seq == 2 * len(CODES) + 1 + len(sourced_after_cut)
    assert state.messages == len(after) == 4 + 3 + 2
    ids = [mid for _, _, mid in after.values()]
    assert len(ids) == len(set(ids))


@pytest.fixture
async def hostile_district(tmp_path: Path) -> Any:
    """Yuhang's district run by someone whose `uplink` user may publish anything."""
    running = await asyncio.to_thread(start_federation, tmp_path, hostile_districts=["330110"])
    try:
        await provision_federation(running)
        yield running
    finally:
        running.stop()


@pytest.fixture
async def hostile_province(tmp_path: Path) -> Any:
    """A province that lets the district links carry anything: only the districts' own configs
    stand between it and them."""
    running = await asyncio.to_thread(start_federation, tmp_path, hostile_province=True)
    try:
        await provision_federation(running)
        yield running
    finally:
        running.stop()


async def refused(nc: Client, subject: str, body: bytes = b"") -> dict[str, Any] | None:
    """None when nobody answers a request (the link never carried it), else the reply."""
    try:
        reply = await nc.request(subject, body, timeout=2)
    except (NoRespondersError, NatsTimeout):
        return None
    answer: dict[str, Any] = json.loads(reply.data)
    return answer


def deliver_subject(federation: Federation, code: str) -> str:
    """Where a district's sourcing consumer delivers, as the province's subscriptions show it."""
    subsz = f"{federation.province.nats.monitor_url}/subsz?subs=1&acc=PROVINCE"
    with urllib.request.urlopen(subsz, timeout=5) as reply:  # noqa: S310 - loopback
        body = json.load(reply)
    prefix = f"federation.d{code}.S."
    (subject,) = [s["subject"] for s in body["subscriptions_list"] if s["subject"].startswith(prefix)]
    return str(subject)


async def test_a_district_cannot_write_into_the_province_or_pass_as_another(
    hostile_district: Federation,
) -> None:
    federation = hostile_district
    published = await seed(federation)
    province = await federation.province.connect("province")
    before = await caught_up(federation, province, "330106")
    rogue = await federation.districts["330110"].connect("uplink")
    forged_subject, forged = figures("330106", "330106/s01/c001", closed=999)
    try:
        for subject in (
            deliver_subject(federation, "330106"),  # Xihu's deliveries, subject and all
            deliver_subject(federation, "330110").replace("d330110", "d330106"),
            f"330106.{forged_subject}",
            f"330110.{forged_subject}",
            forged_subject,
        ):
            await rogue.publish(subject, forged, headers={"Nats-Msg-Id": "forged"})
        await rogue.flush()
        for call in (
            f"STREAM.DELETE.{PROVINCE_STREAM}",
            f"STREAM.PURGE.{PROVINCE_STREAM}",
            f"STREAM.UPDATE.{PROVINCE_STREAM}",
            f"CONSUMER.CREATE.{PROVINCE_STREAM}",
            f"STREAM.INFO.{PROVINCE_STREAM}",
            "INFO",
        ):
            assert await refused(rogue, f"$JS.province.API.{call}", b"{}") is None, call
        for call in (f"STREAM.INFO.{UPLINK_STREAM}", f"STREAM.DELETE.{UPLINK_STREAM}"):
            assert await refused(rogue, f"$JS.d330106.API.{call}") is None, call  # another district
        published = await seed(federation, closed=30)  # sourced after the forgeries, which had every chance
        after = await caught_up(federation, province, "330106")
        info = await province.jetstream().stream_info(PROVINCE_STREAM)
    finally:
        await rogue.close()
        await province.close()
    assert as_district(after, "330106") == latest(published["330106"])
    assert as_district(before, "330106") != as_district(after, "330106")  # the link still carried figures
    forged_landed = [s for s, (_, payload, _) in after.items() if b'"closed": 999' in payload]
    # a district's own stream takes whatever it publishes; the province files it under that
    # district's code, whatever district the payload names
    assert forged_landed == [f"330110.{forged_subject}"]
    assert info.state.consumer_count == 0
    assert info.config.subjects in (None, [])


async def test_the_province_cannot_reach_a_districts_events_or_write_its_figures(
    hostile_province: Federation,
) -> None:
    federation = hostile_province
    published = await seed(federation)
    admin = await federation.province.connect("admin")
    api = "$JS.d330110.API"
    try:
        await admin.publish("uplink.figures.tasks.2026-07.330110~s01~c001", b'{"v": 1, "forged": true}')
        await admin.publish("fourlinks.members.forged", b"{}")
        await admin.flush()
        for call in (
            f"STREAM.DELETE.{UPLINK_STREAM}",
            f"STREAM.PURGE.{UPLINK_STREAM}",
            f"STREAM.UPDATE.{UPLINK_STREAM}",
            f"STREAM.MSG.DELETE.{UPLINK_STREAM}",
            f"DIRECT.GET.{UPLINK_STREAM}",
            "STREAM.NAMES",
            "STREAM.LIST",
            "STREAM.INFO.FOURLINKS_EVENTS",
            "STREAM.INFO.KV_FOURLINKS_KEYS",
            f"CONSUMER.LIST.{UPLINK_STREAM}",
            "INFO",
        ):
            assert await refused(admin, f"{api}.{call}", b"{}") is None, call
        for stream in ("FOURLINKS_EVENTS", "KV_FOURLINKS_KEYS"):  # the one call left open finds nothing
            body = json.dumps({"stream_name": stream, "config": {"ack_policy": "none"}}).encode()
            answer = await refused(admin, f"{api}.CONSUMER.CREATE.{stream}", body)
            assert answer is None or answer["error"]["err_code"] == STREAM_NOT_FOUND, answer
        names = await admin.request("$JS.API.STREAM.NAMES", b"{}", timeout=5)
    finally:
        await admin.close()
    assert json.loads(names.data)["streams"] == [PROVINCE_STREAM]
    uplink = await federation.districts["330110"].connect("uplink")
    try:
        assert await contents(uplink, UPLINK_STREAM, "uplink.>") == published["330110"]
    finally:
        await uplink.close()
    events = await federation.districts["330110"].connect("admin")
    try:
        info = await events.jetstream().stream_info("FOURLINKS_EVENTS")
    finally:
        await events.close()
    assert info.state.messages == 0


async def test_the_provinces_store_holds_no_trace_of_a_districts_events(federation: Federation) -> None:
    canary = "CANARY-事件-330110-" + hashlib.sha256(b"canary").hexdigest()[:12]
    admin = await federation.districts["330110"].connect("admin")
    try:
        await admin.jetstream().publish("fourlinks.members.household.canary", canary.encode())
    finally:
        await admin.close()
    await seed(federation)
    province = await federation.province.connect("province")
    try:
        for code in CODES:
            await caught_up(federation, province, code)
    finally:
        await province.close()
    stored = [p for p in (federation.province.data_dir).rglob("*") if p.is_file()]
    everything = b"".join(p.read_bytes() for p in stored)
    assert b"330110/s01/c001" in everything  # the figures are there, readable: the grep can find
    assert canary.encode() not in everything
    assert b"CANARY" not in everything
    district = b"".join(
        p.read_bytes() for p in federation.districts["330110"].data_dir.rglob("*") if p.is_file()
    )
    assert canary.encode() in district  # where it was put, it is
