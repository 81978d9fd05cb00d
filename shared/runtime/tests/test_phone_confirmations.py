"""A vouching that a reporter confirmed their phone: taken for its own household within its five
minutes, refused forged, cut short, expired, for another household, or under another key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from fourlinks_runtime.phone_confirmations import (
    LIFETIME,
    PhoneNotConfirmed,
    check_vouched,
    confirmation_key,
    vouched,
)

KEY = confirmation_key(b"k" * 32)
HOUSEHOLD = "0190aaaa-0000-7000-8000-00000000beef"
NEIGHBOUR = "0190aaaa-0000-7000-8000-00000000cafe"
NOW = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


def test_a_vouching_is_taken_for_its_household_until_it_expires() -> None:
    token = vouched(HOUSEHOLD, KEY, now=NOW)
    check_vouched(token, HOUSEHOLD, KEY, now=NOW + LIFETIME - timedelta(seconds=1))
    with pytest.raises(PhoneNotConfirmed, match="expired"):
        check_vouched(token, HOUSEHOLD, KEY, now=NOW + LIFETIME)


@pytest.mark.parametrize(
    "token",
    [
        vouched(HOUSEHOLD, KEY, now=NOW)[:-4],
        vouched(HOUSEHOLD, KEY, now=NOW)[:-2] + "AA",
        vouched(HOUSEHOLD, confirmation_key(b"o" * 32), now=NOW),
        "not a vouching",
        "",
    ],
)
def test_a_forged_or_cut_vouching_is_refused(token: str) -> None:
    with pytest.raises(PhoneNotConfirmed) as refused:
        check_vouched(token, HOUSEHOLD, KEY, now=NOW)
    assert refused.value.code.name == "phone_confirmation_refused"


def test_a_vouching_confirms_no_other_household() -> None:
    with pytest.raises(PhoneNotConfirmed, match="another household"):
        check_vouched(vouched(HOUSEHOLD, KEY, now=NOW), NEIGHBOUR, KEY, now=NOW)


def test_a_vouching_carries_no_phone_and_its_key_is_not_the_master_key() -> None:
    token = vouched(HOUSEHOLD, KEY, now=NOW)
    assert len(token) == 55
    assert KEY != b"k" * 32
