"""The stored bytes of an event are its canonical JSON: orjson must give exactly the bytes the
standard library's definition gives, for every value an event can hold (events hold no floats)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from fourlinks_kernel.envelope import canonical_json, standard_canonical_json

TEXT = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=30)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**80), max_value=2**80) | TEXT,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(TEXT, children, max_size=5),
    max_leaves=30,
)


@settings(max_examples=500, deadline=None)
@given(value=JSON)
def test_canonical_json_is_the_standard_librarys_bytes(value: Any) -> None:
    assert canonical_json(value) == standard_canonical_json(value)


def test_odd_characters_are_encoded_alike() -> None:
    value = {"余杭": "a\u2028b\x00\x1f\x7f\ufeff\U0001f600", "n": 2**70, "z": [None, True, -1]}
    assert canonical_json(value) == standard_canonical_json(value)
