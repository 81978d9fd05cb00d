"""The one-time codes' rules (no database, no SMS provider): six digits, kept as a keyed digest;
a wrong code says how many tries are left; an expired, used or over-tried code is refused; the
limits per phone and per card say how long to wait."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from fourlinks_notifications.domain.phone_codes import (
    PER_CARD,
    PER_PHONE,
    RESEND_AFTER,
    TRIES,
    VALID,
    CodeExpired,
    CodeUsed,
    CodeWrong,
    PhoneCode,
    code_digest,
    codes_key,
    new_code,
    phone_digest,
    seconds_to_wait,
    text_of,
)

KEY = codes_key(b"m" * 32)
NOW = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
CODE_ID = "0190aaaa-0000-7000-8000-000000000001"


def kept(code: str, *, tries: int = 1, used: bool = False, sent: datetime = NOW) -> PhoneCode:
    return PhoneCode(CODE_ID, code_digest(CODE_ID, code, KEY), sent + VALID, tries, used)


def test_a_code_is_six_digits_and_is_kept_only_as_a_keyed_digest() -> None:
    codes = {new_code() for _ in range(200)}
    assert all(len(c) == 6 and c.isdigit() for c in codes)
    assert len(codes) > 150
    code = new_code()
    assert code not in code_digest(CODE_ID, code, KEY)
    assert code_digest(CODE_ID, code, KEY) != code_digest(CODE_ID, code, codes_key(b"n" * 32))
    assert "13912345678" not in phone_digest("13912345678", KEY)
    assert phone_digest("13912345678", KEY) == phone_digest("13912345678", KEY)


def test_the_right_code_passes_within_its_ten_minutes() -> None:
    kept("123456").check("123456", key=KEY, now=NOW + VALID - timedelta(seconds=1))


def test_a_wrong_code_is_refused_saying_the_tries_left() -> None:
    with pytest.raises(CodeWrong) as wrong:
        kept("123456", tries=2).check("654321", key=KEY, now=NOW)
    assert wrong.value.params == {"tries_left": TRIES - 2}
    assert "654321" not in str(wrong.value)
    assert "123456" not in str(wrong.value)


def test_an_expired_code_is_refused_even_when_right() -> None:
    with pytest.raises(CodeExpired) as expired:
        kept("123456").check("123456", key=KEY, now=NOW + VALID)
    assert expired.value.params == {"minutes": 10}


@pytest.mark.parametrize(("tries", "used"), [(1, True), (TRIES + 1, False)])
def test_a_used_or_over_tried_code_is_refused_even_when_right(tries: int, used: bool) -> None:
    with pytest.raises(CodeUsed):
        kept("123456", tries=tries, used=used).check("123456", key=KEY, now=NOW)


def test_a_phone_waits_a_minute_between_codes_and_has_five_an_hour() -> None:
    assert seconds_to_wait(to_phone=[], for_card=[], now=NOW) == 0
    assert seconds_to_wait(to_phone=[NOW - timedelta(seconds=20)], for_card=[], now=NOW) == 40
    assert seconds_to_wait(to_phone=[NOW - RESEND_AFTER], for_card=[], now=NOW) == 0
    hourly = [NOW - timedelta(minutes=50 - n) for n in range(PER_PHONE)]
    assert seconds_to_wait(to_phone=hourly, for_card=hourly, now=NOW) == 10 * 60
    assert seconds_to_wait(to_phone=hourly[1:], for_card=hourly, now=NOW) == 0


def test_a_card_has_ten_codes_an_hour_whatever_the_phones() -> None:
    many = [NOW - timedelta(minutes=55 - n) for n in range(PER_CARD)]
    assert seconds_to_wait(to_phone=[], for_card=many, now=NOW) == 5 * 60
    assert seconds_to_wait(to_phone=[], for_card=many, now=NOW + timedelta(minutes=5)) == 0


def test_the_text_carries_the_code_and_its_minutes_in_chinese_by_default() -> None:
    assert text_of("042137", "zh_CN") == text_of("042137", "fr")
    assert "042137" in text_of("042137", "zh_CN")
    assert "10 分钟" in text_of("042137", "zh_CN")
    assert "10 minutes" in text_of("042137", "en")
