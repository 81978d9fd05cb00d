"""`make test` runs every test in the repository: a test file outside pytest's `testpaths` (as
`apps/audit/tests` once was) is never collected and never fails, so this check fails instead."""

from __future__ import annotations

import fnmatch
import subprocess
from pathlib import Path, PurePosixPath

import pytest

ROOT = Path(__file__).resolve().parent.parent


def repository_files() -> list[PurePosixPath]:
    """Every file of the clone that git tracks or would track (new files too, never ignored ones)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return [PurePosixPath(name) for name in listed.split("\0") if name and (ROOT / name).is_file()]


def named_as_tests(config: pytest.Config) -> list[PurePosixPath]:
    """The files pytest takes for test modules by their name (`python_files`)."""
    patterns = config.getini("python_files")
    return [path for path in repository_files() if any(fnmatch.fnmatch(path.name, p) for p in patterns)]


def uncollected(paths: list[PurePosixPath], config: pytest.Config) -> list[str]:
    """The test files pytest never reaches: outside every testpath, or in a directory it skips."""
    testpaths = [PurePosixPath(p) for p in config.getini("testpaths")]
    skipped_dirs = config.getini("norecursedirs")
    missed = []
    for path in paths:
        if not any(path.is_relative_to(where) for where in testpaths):
            missed.append(f"{path}: under none of testpaths {[str(p) for p in testpaths]}")
        elif any(fnmatch.fnmatch(part, d) for part in path.parent.parts for d in skipped_dirs):
            missed.append(f"{path}: in a directory norecursedirs skips")
    return missed


def test_every_testpath_exists(pytestconfig: pytest.Config) -> None:
    missing = [p for p in pytestconfig.getini("testpaths") if not (ROOT / p).is_dir()]
    assert not missing, f"testpaths names directories that do not exist: {missing}"


def test_every_test_file_in_the_repository_is_under_a_configured_testpath(
    pytestconfig: pytest.Config,
) -> None:
    found = named_as_tests(pytestconfig)
    assert any(p.parts[:2] == ("apps", "audit") for p in found), "the audit's tests are seen"
    missed = uncollected(found, pytestconfig)
    assert not missed, (
        "these test files are never collected; add their directory to testpaths in pyproject.toml "
        "([tool.pytest.ini_options]):\n" + "\n".join(missed)
    )


def test_the_check_notices_a_test_file_outside_the_testpaths(pytestconfig: pytest.Config) -> None:
    stray = [PurePosixPath("tools/test_forgotten.py"), PurePosixPath("apps/cli/tests/test_fine.py")]
    assert uncollected(stray, pytestconfig) == [
        f"tools/test_forgotten.py: under none of testpaths {pytestconfig.getini('testpaths')}"
    ]
