"""How a micro-batch of statements is decided before it is written: the latest statement of each
row wins, and a refused one is kept against the district its subject names."""

from __future__ import annotations

from fourlinks_contracts.figures import COUNTS, Figures, payload_of
from fourlinks_province.projections.figures import Statement, decide

MONTH = "2026-07"


def _tasks(
    sequence: int, *, tasks: int, district: str = "330110", unit: str = "yuhang/s01/c001"
) -> Statement:
    figures = Figures(
        kind="tasks", district=district, unit=unit, unit_name="c", street="yuhang/s01", street_name="s",
        month=MONTH, position=sequence, published_at="2026-07-20T02:00:00+00:00",
        counts=dict.fromkeys(COUNTS["tasks"], 0) | {"tasks": tasks},
    )  # fmt: skip
    return Statement(f"330110.{figures.subject}", sequence, payload_of(figures))


def test_a_restatement_in_the_same_batch_replaces_the_earlier_one() -> None:
    changes = decide([_tasks(1, tasks=10), _tasks(2, tasks=12), _tasks(3, tasks=4, unit="yuhang/s01/c002")])
    rows = {key[3]: row for key, row in changes.figures.items()}
    assert {unit: (row["tasks"], row["sequence"]) for unit, row in rows.items()} == {
        "yuhang/s01/c001": (12, 2),
        "yuhang/s01/c002": (4, 3),
    }
    assert rows["yuhang/s01/c001"]["households"] is None  # a count of another kind stays empty


def test_a_statement_naming_another_district_is_refused_against_its_subject_s_district() -> None:
    changes = decide([_tasks(1, tasks=99, district="330203"), _tasks(2, tasks=7)])
    assert "names district 330203" in changes.refusals["330110"]["reason"]
    assert [row["tasks"] for row in changes.figures.values()] == [7]


def test_categories_are_kept_per_community_and_month_as_last_stated() -> None:
    def categories(sequence: int, counts: dict[str, int]) -> Statement:
        figures = Figures(
            kind="categories", district="330110", unit="yuhang/s01/c001", unit_name="c",
            street="yuhang/s01", street_name="s", month=MONTH, position=sequence,
            published_at="2026-07-20T02:00:00+00:00", counts=counts,
        )  # fmt: skip
        return Statement(f"330110.{figures.subject}", sequence, payload_of(figures))

    changes = decide([categories(1, {"repairs": 3, "safety": 1}), categories(2, {"repairs": 4})])
    assert changes.categories == {("330110", MONTH, "yuhang/s01/c001"): {"repairs": 4}}
