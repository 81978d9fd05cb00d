"""What a record is found by, and how a typed query is read: the terms people type, normalised
the same way on both sides."""

from __future__ import annotations

from fourlinks_members.domain.search_terms import (
    Facet,
    Term,
    clauses,
    credit_code_terms,
    han_parts,
    initials,
    name_terms,
    normalised,
    phone_terms,
    room_terms,
    starts_with,
)


def _values(terms: set[Term], facet: Facet) -> set[str]:
    return {t.value for t in terms if t.facet == facet}


def test_full_width_spaces_and_separators_fold_away() -> None:
    assert normalised(" １３９ 1234-5678 ") == "13912345678"
    assert normalised("买买提·艾力") == "买买提艾力"
    assert normalised("ZHANG Wei") == "zhangwei"


def test_a_mobile_is_kept_by_its_starts_of_four_to_seven_digits_whole_and_its_last_four() -> None:
    terms = phone_terms("+86 139-1234-5678")
    assert _values(terms, Facet.PHONE_PREFIX) == {"1391", "13912", "139123", "1391234", "13912345678"}
    assert _values(terms, Facet.PHONE_SUFFIX) == {"5678"}
    assert "139" not in _values(terms, Facet.PHONE_PREFIX)  # three digits find half the district


def test_a_landline_is_found_by_its_local_number_too() -> None:
    prefixes = _values(phone_terms("0571-88880001"), Facet.PHONE_PREFIX)
    assert {"0571", "057188880001", "8888", "88880001"} <= prefixes


def test_no_phone_or_a_short_one_gives_no_terms() -> None:
    assert phone_terms(None) == set()
    assert phone_terms("110") == set()


def test_a_chinese_name_is_found_whole_by_two_characters_and_by_pinyin_initials() -> None:
    terms = name_terms("王小明")
    assert _values(terms, Facet.NAME) == {"王小明"}
    assert _values(terms, Facet.NAME_PART) == {"王小", "小明"}
    assert "wxm" in _values(terms, Facet.INITIALS)


def test_a_character_with_several_readings_gives_each_spelling() -> None:
    assert {"sxm", "dxm"} <= set(initials("单小明"))  # 单 reads shàn as a surname
    assert initials("王小明")[0] == "wxm"


def test_parts_of_a_name_stay_within_its_chinese_runs() -> None:
    assert han_parts("杭州ABC科技") == ["杭州", "科技"]
    assert han_parts("李") == []
    assert _values(name_terms("Anna Li"), Facet.INITIALS) == set()


def test_rooms_and_credit_codes_are_kept_as_typed_in_normal_form() -> None:
    assert room_terms("502室") == {Term(Facet.ROOM, "502室")}
    assert credit_code_terms("91330110MA2B00001X") == {Term(Facet.CREDIT_CODE, "91330110ma2b00001x")}


def _read(query: str) -> list[set[tuple[str, str]]]:
    return [{(t.facet.value, t.value) for t in clause.terms} for clause in clauses(query)]


def test_a_query_of_digits_reads_as_a_phone_start_its_last_four_or_a_room() -> None:
    assert _read("1391") == [
        {("phone-prefix", "1391")},
        {("phone-suffix", "1391")},
        {("room", "1391")},
    ]
    assert _read("139 1234 5678") == [{("phone-prefix", "13912345678")}, {("phone-prefix", "1391234")}]
    (_, longer) = clauses("139123456")
    assert (longer.phone_start, longer.terms) == (
        "139123456",
        frozenset({Term(Facet.PHONE_PREFIX, "1391234")}),
    )


def test_a_start_longer_than_kept_is_checked_against_the_number_itself() -> None:
    assert starts_with("139 1234 5678", "139123456")
    assert not starts_with("139 1239 5678", "139123456")
    assert starts_with("0571-88880001", "8888000")  # a landline's local number
    assert not starts_with(None, "1391234")
    assert _read("502") == [{("room", "502")}]


def test_a_room_with_its_building_and_stairwell_reads_as_a_place() -> None:
    (place,) = clauses("3幢1单元502室")
    assert (place.building, place.unit_no) == ("3", "1")
    assert place.terms == frozenset({Term(Facet.ROOM, "502")})
    first = clauses("3-502")[0]
    assert (first.building, first.unit_no, first.terms) == ("3", None, frozenset({Term(Facet.ROOM, "502")}))


def test_a_name_query_reads_whole_then_by_its_parts() -> None:
    assert _read("王小明") == [{("name", "王小明")}, {("name-part", "王小"), ("name-part", "小明")}]
    assert _read("小明") == [{("name", "小明")}, {("name-part", "小明")}]
    assert _read("wxm") == [{("initials", "wxm")}, {("name", "wxm")}]


def test_a_credit_code_reads_as_one_and_a_single_character_as_nothing() -> None:
    assert _read("91330110ma2b00001x") == [{("credit-code", "91330110ma2b00001x")}]
    assert clauses("王") == []
    assert clauses(" ") == []


def test_a_query_and_a_record_meet_on_the_same_terms() -> None:
    """Every term a reading of the query asks for is a term of the record it should find."""
    record = name_terms("王小明") | phone_terms("13912345678")
    for query in ("王小明", "小明", "王小", "wxm", "1391", "5678", "139-1234-5678"):
        assert any(clause.terms <= record for clause in clauses(query)), query
