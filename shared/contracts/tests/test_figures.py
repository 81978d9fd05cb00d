"""What a district sends up: subjects that round-trip, statements that carry exactly their kind's
counts, and the one rate rule the services and the province share."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from fourlinks_contracts.figures import (
    COUNTS,
    RATES,
    Figures,
    figures_subject,
    msg_id,
    parse_subject,
    payload_of,
    rate_of,
)


def _figures(**changes: object) -> Figures:
    data: dict[str, object] = {
        "kind": "tasks",
        "district": "330110",
        "unit": "yuhang/s01/c001",
        "unit_name": "星河社区",
        "street": "yuhang/s01",
        "street_name": "仓前街道",
        "month": "2026-07",
        "position": 2041,
        "published_at": "2026-07-20T02:00:00+00:00",
        "counts": dict.fromkeys(COUNTS["tasks"], 1),
    }
    return Figures.model_validate({**data, **changes})


def test_a_subject_names_its_kind_month_and_unit_and_the_province_s_adds_the_district_in_front() -> None:
    subject = figures_subject("tasks", "2026-07", "yuhang/s01/c001")
    assert subject == "uplink.figures.tasks.2026-07.yuhang~s01~c001"
    assert parse_subject(subject).district is None
    place = parse_subject(f"330110.{subject}")
    assert (place.district, place.kind, place.month, place.unit) == (
        "330110",
        "tasks",
        "2026-07",
        "yuhang/s01/c001",
    )
    assert parse_subject("330110.uplink.checkpoint").kind == "checkpoint"


@pytest.mark.parametrize("unit", ["yuhang/s.01", "yuhang/*", "", "yuhang/ s01"])
def test_a_unit_that_would_break_a_subject_is_refused(unit: str) -> None:
    with pytest.raises(ValueError, match="subject token"):
        figures_subject("tasks", "2026-07", unit)


@pytest.mark.parametrize(
    "subject", ["uplink.figures.rates.2026-07.x", "uplink.figures.tasks.2026-13.x", "fourlinks.x"]
)
def test_no_other_subject_reads_as_figures(subject: str) -> None:
    with pytest.raises(ValueError, match="no subject"):
        parse_subject(subject)


def test_figures_carry_exactly_their_kind_s_counts_never_a_rate_nor_a_negative() -> None:
    with pytest.raises(ValidationError, match="carry the counts"):
        _figures(counts={**dict.fromkeys(COUNTS["tasks"], 1), "closure_rate": 1})
    with pytest.raises(ValidationError, match="never negative"):
        _figures(counts={**dict.fromkeys(COUNTS["tasks"], 1), "tasks": -1})
    with pytest.raises(ValidationError):
        _figures(district="yuhang")
    assert _figures(kind="categories", counts={"repairs": 3}).counts == {"repairs": 3}


def test_the_same_figures_make_the_same_bytes_and_message_id() -> None:
    one, two = _figures(), _figures()
    assert payload_of(one) == payload_of(two)
    assert msg_id(one.subject, payload_of(one)) == msg_id(two.subject, payload_of(two))
    assert msg_id(one.subject, payload_of(_figures(position=2042))) != msg_id(one.subject, payload_of(one))
    assert "星河社区".encode() in payload_of(one)  # UTF-8, not escaped


def test_every_rate_is_a_ratio_of_counts_its_kind_carries() -> None:
    carried = {name for names in COUNTS.values() for name in names}
    for rule in RATES.values():
        assert {*rule.numerator, *rule.denominator, *rule.less, rule.sample} <= carried


def test_on_time_closure_leaves_extended_tasks_out_and_coverage_counts_both_kinds() -> None:
    tasks = {"closed_on_time": 6, "due": 10, "extended": 2}
    assert rate_of("on_time_closure_rate", tasks) == 0.75
    coverage = {"households": 8, "households_covered": 6, "enterprises": 2, "enterprises_covered": 0}
    assert rate_of("coverage_rate", coverage) == 0.6
    assert rate_of("satisfaction_rate", {"satisfied": 0, "callbacks_answered": 0}) is None
