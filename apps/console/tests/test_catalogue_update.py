"""The catalogue update docs/console.md tells people to run keeps every translation: a word the
pages show from data (a state, a channel, a kind of notice) is marked with `N_` where it is
listed, so the extraction finds it and the update does not drop its Chinese."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po

CONSOLE = Path(__file__).resolve().parents[1]
GUIDE = CONSOLE.parents[1] / "docs" / "console.md"
CATALOGUE = Path("src/fourlinks_console/locale/zh_CN/LC_MESSAGES/messages.po")


def documented_commands() -> list[list[str]]:
    """The `pybabel` commands of the guide's "Words and assets" section, as written there."""
    section = GUIDE.read_text(encoding="utf-8").split("## Words and assets", 1)[1]
    block = section.split("```bash", 1)[1].split("```", 1)[0]
    lines = [line.strip() for line in block.splitlines()]
    commands = [shlex.split(line) for line in lines if "pybabel" in line]
    assert [c[1] for c in commands] == ["extract", "update"], commands
    return commands


def translated(path: Path) -> dict[str, str]:
    """msgid → translation of a catalogue's live entries (obsolete ones are dropped words)."""
    with path.open("rb") as source:
        catalogue = read_po(source)
    return {str(m.id): str(m.string) for m in catalogue if m.id and isinstance(m.id, str) and m.string}


def test_the_documented_catalogue_update_loses_no_translation(tmp_path: Path) -> None:
    """The guide's extract and update, run as written in a copy of the console laid out as in the
    repository (apps/console beside ../../.venv): every translated id is still translated."""
    copy = tmp_path / "apps" / "console"
    shutil.copytree(CONSOLE, copy, ignore=shutil.ignore_patterns("tests", "__pycache__"))
    (tmp_path / ".venv").symlink_to(Path(sys.executable).parent.parent)  # the venv running this test
    before = translated(copy / CATALOGUE)
    for command in documented_commands():
        subprocess.run(command, cwd=copy, check=True, capture_output=True, text=True)
    after = translated(copy / CATALOGUE)
    lost = sorted(set(before) - set(after))
    assert not lost, f"the update drops these translations (mark them with N_ where they are listed): {lost}"
    assert {m: after[m] for m in before} == before
