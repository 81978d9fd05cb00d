"""The embedded NATS is locked like the cluster: a user per service, the auditor, the console and
an administrator, each with a random password in var/nats-users (0700, files 0600), and the same
accounts and permissions as deploy/nats/accounts.conf. Nobody connects without one."""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterable
from pathlib import Path

from fourlinks_cli.nats_accounts import USERS

FOLDER = "nats-users"
ACCOUNT = "FOURLINKS"
SAFE_PASSWORD = re.compile(r"fl[0-9a-f]{48}")
"""The account every user of the accounts file belongs to (its JetStream data is filed under it)."""


def nats_users(var_dir: Path, users: Iterable[str] = USERS) -> dict[str, str]:
    """Each user's password (made once), as the server's environment names them (a district adds
    `uplink`; a province has users of its own)."""
    folder = var_dir / FOLDER
    folder.mkdir(mode=0o700, exist_ok=True)
    passwords = {}
    for user in users:
        path = folder / f"{user}.password"
        if not path.exists() or not SAFE_PASSWORD.fullmatch(path.read_text().strip()):
            path.unlink(missing_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(new_password() + "\n")
        passwords[f"FOURLINKS_NATS_{user.upper()}_PASSWORD"] = path.read_text().strip()
    return passwords


def new_password() -> str:
    """Random, and read by nats-server as a string: its config parser takes a value that starts
    with '-' (or a digit) for a number and refuses to start."""
    return "fl" + secrets.token_hex(24)


def as_nats_user(env: dict[str, str], var_dir: Path, user: str) -> dict[str, str]:
    """A child's environment: it connects as `user`, the password read from its file."""
    unset = {key: value for key, value in env.items() if key != "FOURLINKS_NATS_PASSWORD"}
    password_file = str(var_dir / FOLDER / f"{user}.password")
    return {**unset, "FOURLINKS_NATS_USER": user, "FOURLINKS_NATS_PASSWORD_FILE": password_file}


def move_unlocked_store(nats_dir: Path) -> bool:
    """A store written before the server had accounts keeps its streams under the global account;
    they move to the system's account once, before the server starts (True when they moved)."""
    accounts = nats_dir / "jetstream" / "jetstream"
    unlocked, locked = accounts / "$G", accounts / ACCOUNT
    if unlocked.is_dir() and not locked.exists():
        unlocked.rename(locked)
        return True
    return False
