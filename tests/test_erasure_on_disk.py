"""Erased is erased on disk: after a household is erased, no file under the services' data
directory and the NATS store holds the household's or its residents' wrapped keys, nor their
names, phones or words in plain text (the attack: read every file, look for every byte)."""

from __future__ import annotations

from pathlib import Path

from conftest import District, community_with_a_covered_household, eventually

from fourlinks_kernel.jetstream import NatsKeyStore

NAME, PHONE, WORDS = "王小明", "13912345678", "厨房漏水，邻居楼下也湿了"


def files_holding(roots: list[Path], needles: dict[str, bytes]) -> list[str]:
    """Which files hold which of the needles, read byte by byte."""
    found = []
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file() and not path.is_symlink():
                data = path.read_bytes()
                found += [f"{what} in {path}" for what, needle in needles.items() if needle in data]
    return found


async def test_an_erased_households_keys_and_words_are_in_no_file(
    district: District, nats_server: object
) -> None:
    d = district
    _, household = await community_with_a_covered_household(d)
    resident = d.token("resident", household)
    body = {"category": "repairs", "household_id": household, "description": WORDS}
    await d.post(d.feedback, "/feedback", body, resident)
    residents = (await d.get(d.members, f"/households/{household}", d.secretary))["residents"]
    keys = NatsKeyStore(d.runtime(d.members).nc, d.settings.key_bucket)
    wrapped = {
        f"key of {subject}": key
        for subject in [household, *(r["resident_id"] for r in residents)]
        if (key := await keys.get(subject)) is not None
    }
    assert len(wrapped) == 1 + len(residents)
    store = Path(nats_server.store_dir)  # type: ignore[attr-defined]
    plain = {"name": NAME.encode(), "phone": PHONE.encode(), "words": WORDS.encode()}
    before = files_holding([d.settings.var_dir, store], wrapped | plain)
    assert any("key of" in f for f in before)  # the attack finds them while they live
    if d.settings.database_url is None:  # SQLite under var/ (PostgreSQL keeps its files elsewhere)
        assert any(".db" in f for f in before)  # ... and the read models' plain text

    await d.post(d.members, f"/households/{household}/erase", {}, d.secretary)

    async def erased_everywhere() -> bool:
        return not files_holding([d.settings.var_dir, store], wrapped | plain)

    assert await eventually(erased_everywhere, timeout=30), files_holding(
        [d.settings.var_dir, store], wrapped | plain
    )


MEMBER_NAME, MEMBER_PHONE = "张建国", "0571-88880001"  # as community_with_a_covered_household registers


async def test_a_member_is_sealed_in_the_log_and_once_erased_is_in_no_file(
    district: District, nats_server: object
) -> None:
    d = district
    _, household = await community_with_a_covered_household(d)
    card = await d.get(d.members, f"/households/{household}/card", d.secretary)
    member, card_id = card["member"]["member_id"], card["card"]["card_id"]
    store = Path(nats_server.store_dir)  # type: ignore[attr-defined]
    plain = {"member's name": MEMBER_NAME.encode(), "member's phone": MEMBER_PHONE.encode()}
    assert not files_holding([store], plain)  # sealed in the log from the start
    assert (await d.get(d.members, f"/members/{member}", d.secretary))["name"] == MEMBER_NAME

    still_serving = await d.members.post(f"/members/{member}/erase", json={}, headers=d.secretary)
    assert still_serving.status_code == 409, still_serving.text  # only a member who left is erased
    left = {"reason": "moved_away", "note": ""}
    await d.post(d.members, f"/members/{member}/deactivate", left, d.secretary)
    key = await NatsKeyStore(d.runtime(d.members).nc, d.settings.key_bucket).get(member)
    assert key is not None
    await d.post(d.members, f"/members/{member}/erase", {}, d.secretary)

    async def erased_everywhere() -> bool:
        return not files_holding([d.settings.var_dir, store], plain | {"member's key": key})

    assert await eventually(erased_everywhere, timeout=30), files_holding(
        [d.settings.var_dir, store], plain | {"member's key": key}
    )
    shown = await d.get(d.members, f"/members/{member}", d.secretary)
    assert (shown["name"], shown["public_phone"], shown["erased"]) == (None, None, True)
    revisions = await d.get(d.members, f"/cards/{card_id}/history", d.secretary)
    assert revisions
    assert all(r["public_phone"] is None for r in revisions)
    again = await d.members.post(f"/members/{member}/erase", json={}, headers=d.secretary)
    assert again.status_code == 409, again.text
