"""A typed client can be generated from each service's OpenAPI document (openapi-python-client,
from PyPI), and it compiles: what a stranger's tooling does with our API description."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi import FastAPI

from fourlinks_assignments.bootstrap import create_app as assignments_app
from fourlinks_feedback.bootstrap import create_app as feedback_app
from fourlinks_members.bootstrap import create_app as members_app

GENERATOR = Path(sys.executable).parent / "openapi-python-client"


@pytest.mark.parametrize(
    ("service", "make", "expected_model"),
    [
        ("members", members_app, "create_org_unit"),
        ("assignments", assignments_app, "raise_task"),
        ("feedback", feedback_app, "submit_feedback"),
    ],
)
def test_a_typed_client_generates_from_the_openapi_document_and_compiles(
    service: str, make: object, expected_model: str, tmp_path: Path
) -> None:
    assert callable(make)
    app = make()
    assert isinstance(app, FastAPI)
    spec = tmp_path / f"{service}.json"
    spec.write_text(json.dumps(app.openapi()))
    output = tmp_path / "client"
    generated = subprocess.run(
        [str(GENERATOR), "generate", "--path", str(spec), "--output-path", str(output)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert generated.returncode == 0, generated.stdout + generated.stderr
    assert "Warning" not in generated.stdout, generated.stdout
    (package,) = [p for p in output.iterdir() if p.is_dir() and (p / "__init__.py").exists()]
    models = {p.stem for p in (package / "models").glob("*.py")}
    assert expected_model in models, sorted(models)
    compiled = subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(package)], capture_output=True, text=True, check=False
    )
    assert compiled.returncode == 0, compiled.stdout
