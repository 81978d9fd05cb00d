"""The catalogue of service matters: stable codes, a label per language, and text that is not a
code (old events' free text) shown as "other", never as itself."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from fourlinks_contracts.service_matters import SERVICE_MATTERS, MatterCode, matter_code, matter_label


def test_the_codes_never_change() -> None:
    assert list(SERVICE_MATTERS) == [
        "policy_explanation",
        "dispute_mediation",
        "repairs",
        "elderly_care",
        "enterprise_services",
        "environment",
        "safety",
        "employment",
        "health",
        "other",
    ]


def test_a_code_reads_as_its_label_and_anything_else_as_other() -> None:
    assert matter_label("repairs") == "维修协调"
    assert matter_label("repairs", "en") == "repairs"
    assert matter_label("elderly_care", "zh_CN") == "为老服务"
    for typed in ("路灯坏了\n详见 https://evil.example/x", "Repairs", ""):
        assert matter_code(typed) == "other"
        assert matter_label(typed) == "其他"
        assert matter_label(typed, "en") == "other"


class Raised(BaseModel):
    category: MatterCode


def test_a_request_names_a_code_or_is_told_the_codes_to_choose_from() -> None:
    assert Raised.model_validate({"category": "safety"}).category == "safety"
    with pytest.raises(ValidationError, match="choose one of the codes of GET /service-matters: policy_expl"):
        Raised.model_validate({"category": "路灯\nhttps://evil.example/x"})
    assert Raised.model_json_schema()["properties"]["category"]["enum"] == list(SERVICE_MATTERS)
