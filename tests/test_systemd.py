"""The single-machine production recipe: `fourlinks install --systemd` writes units that systemd's
own tools accept (systemd-analyze verify, systemd-sysusers, systemd-tmpfiles on a scratch root).
Only a booted systemd could prove the unit starts and restarts; the supervision it runs is proven
in tests/test_supervision.py."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

NEEDS = ("systemd-analyze", "systemd-sysusers", "systemd-tmpfiles")


def tool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture
def units(tmp_path: Path) -> Path:
    if missing := [name for name in NEEDS if shutil.which(name) is None]:
        pytest.skip(f"{', '.join(missing)} not installed here (Debian package systemd)")
    output = tmp_path / "units"
    written = subprocess.run(
        [sys.executable, "-m", "fourlinks_cli", "install", "--systemd", "--output", str(output)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "systemctl daemon-reload" in written.stdout
    return output


def test_the_generated_service_unit_passes_systemd_analyze_verify(units: Path, tmp_path: Path) -> None:
    checked = tool("systemd-analyze", "verify", str(units / "fourlinks.service"))
    assert (checked.returncode, checked.stderr) == (0, "")
    text = (units / "fourlinks.service").read_text()
    for line in ("User=fourlinks", "Restart=on-failure", "ReadWritePaths=/var/lib/fourlinks", "LimitNOFILE="):
        assert line in text
    assert " up --production --var-dir /var/lib/fourlinks" in text  # no local sign-in in production
    assert "EnvironmentFile=-/etc/fourlinks/fourlinks.env" in text  # the identity provider's settings
    # the check can fail: a wrong directive is reported
    broken = tmp_path / "broken.service"
    broken.write_text(text.replace("Restart=on-failure", "Restart=sometimes"))
    assert "Failed to parse" in tool("systemd-analyze", "verify", str(broken)).stderr


def test_the_hourly_backup_units_pass_systemd_analyze_verify(units: Path) -> None:
    checked = tool(
        "systemd-analyze",
        "verify",
        str(units / "fourlinks-backup.service"),
        str(units / "fourlinks-backup.timer"),
    )
    assert (checked.returncode, checked.stderr) == (0, "")
    service = (units / "fourlinks-backup.service").read_text()
    assert "backup --into /var/lib/fourlinks/backups --keep 48" in service
    assert "Requisite=fourlinks.service" in service  # never starts Four Links to back it up
    assert "ReadWritePaths=/var/lib/fourlinks" in service
    timer = (units / "fourlinks-backup.timer").read_text()
    assert "OnCalendar=hourly" in timer
    assert "Persistent=true" in timer


def test_the_user_and_data_directory_are_made_by_systemd_on_a_scratch_root(
    units: Path, tmp_path: Path
) -> None:
    if os.geteuid() != 0:
        pytest.skip("systemd-sysusers and systemd-tmpfiles write a root only as root")
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    users = tool("systemd-sysusers", f"--root={root}", str(units / "fourlinks.sysusers.conf"))
    assert users.returncode == 0, users.stderr
    assert "fourlinks:" in (root / "etc" / "passwd").read_text()
    made = tool("systemd-tmpfiles", "--create", f"--root={root}", str(units / "fourlinks.tmpfiles.conf"))
    assert made.returncode == 0, made.stderr
    var_dir = root / "var" / "lib" / "fourlinks"
    assert var_dir.is_dir()
    assert oct(var_dir.stat().st_mode & 0o777) == "0o700"
