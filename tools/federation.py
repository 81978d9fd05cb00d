"""Districts and a province on loopback (issue #39): N district nats-servers, each with the system's
accounts plus UPLINK and a leafnode link, and one province nats-server sourcing them; streams
provisioned. A pytest plugin of the root conftest.py (`federation` fixture) and a library for the
province's tests and `make province`.

A cut link is the district's end unplugged while everything keeps running: the district server
reloads its config without the leafnode remote (SIGHUP), its clients never notice, and the province
sees the link go; restoring reloads the config with the remote. What only separate machines could
show (a half-open TCP connection, the ping timeout, a slow or lossy line) is not modelled here.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import urllib.request
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.aio.client import Client

from fourlinks_cli.nats_accounts import USERS
from fourlinks_cli.nats_accounts import render as render_accounts
from fourlinks_cli.nats_users import new_password
from fourlinks_kernel.jetstream import JetStreamSettings
from fourlinks_kernel.provisioning import ProvisionOptions, provision
from fourlinks_runtime.embedded import ACCOUNTS_FILE, EmbeddedNats, start_nats
from fourlinks_runtime.federation import (
    PROVINCE_DOMAIN,
    UPLINK_LEAF_URL_ENV,
    UPLINK_USER,
    district_domain,
    district_link,
    leaf_password_env,
    leaf_user,
    province_accounts,
    province_listener,
)
from fourlinks_runtime.federation_init import provision_province, provision_uplink

CODES = ("330110", "330106", "330108")  # Yuhang, Xihu, Binjiang
LINK_WAIT_SECONDS = 30.0


def _monitor(endpoint: EmbeddedNats, path: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{endpoint.monitor_url}/{path}", timeout=5) as reply:  # noqa: S310 - loopback
        body: dict[str, Any] = json.load(reply)
    return body


def _with_user(url: str, user: str, password: str) -> str:
    return url.replace("nats://", f"nats://{user}:{password}@", 1)


@dataclass
class Server:
    """A running nats-server of the federation and the passwords its config names."""

    data_dir: Path
    nats: EmbeddedNats
    passwords: dict[str, str]

    def url(self, user: str) -> str:
        """The client URL with a user's password in it."""
        return _with_user(self.nats.url, user, self.password(user))

    def password(self, user: str) -> str:
        """A user's password, as the server's environment names it."""
        return self.passwords[f"FOURLINKS_NATS_{user.upper()}_PASSWORD"]

    async def connect(self, user: str) -> Client:
        """A client connection as `user` (no reconnecting: a test sees what happens)."""
        return await nats.connect(self.url(user), name=f"federation-{user}", allow_reconnect=False)

    def leaf_count(self) -> int:
        """Leafnode connections this server holds right now."""
        return int(_monitor(self.nats, "leafz").get("leafnodes", 0))

    def stop(self) -> None:
        """Stop the server."""
        self.nats.stop()


@dataclass
class District(Server):
    """A district: its own accounts (the system's and UPLINK) and its end of the link."""

    code: str = ""
    accounts: str = ""

    def cut_link(self) -> None:
        """Unplug the district's end of the link; the district keeps serving its clients."""
        self._reload(self.accounts)

    def restore_link(self) -> None:
        """Plug the link back in."""
        self._reload(self.accounts + district_link(self.code))

    def _reload(self, accounts: str) -> None:
        (self.data_dir / ACCOUNTS_FILE).write_text(accounts)
        self.nats.process.send_signal(signal.SIGHUP)


@dataclass
class Federation:
    """The province and its districts, by code."""

    province: Server
    districts: dict[str, District] = field(default_factory=dict)

    def stop(self) -> None:
        """Districts first, then the province."""
        for district in self.districts.values():
            district.stop()
        self.province.stop()

    def wait_for_links(self, count: int) -> None:
        """Until the province holds `count` district links (a link retries every second)."""
        deadline = time.monotonic() + LINK_WAIT_SECONDS
        while self.province.leaf_count() != count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the province holds {self.province.leaf_count()} links, not {count}")
            time.sleep(0.1)


def _passwords(users: Iterable[str]) -> dict[str, str]:
    return {f"FOURLINKS_NATS_{user.upper()}_PASSWORD": new_password() for user in users}


def start_province(root: Path, codes: Iterable[str], *, hostile: bool = False) -> Server:
    """The province's server: its accounts, a leafnode listener on a free loopback port. A
    `hostile` province lets every district link send and receive anything (its config is its own)."""
    codes = list(codes)
    passwords = _passwords(["admin", "province", "system"])
    passwords |= {leaf_password_env(code): new_password() for code in codes}
    accounts = province_accounts(codes)
    if hostile:
        accounts = _without_link_permissions(accounts, codes)
    data_dir = root / "province"
    server = start_nats(
        data_dir,
        name="province",
        accounts=accounts + province_listener("127.0.0.1", -1),
        env={**os.environ, **passwords},
        domain=PROVINCE_DOMAIN,
    )
    return Server(data_dir, server, passwords)


def _without_link_permissions(accounts: str, codes: list[str]) -> str:
    """Each district user of the province's accounts with its permissions dropped."""
    for code in codes:
        start = accounts.index(f"user: {leaf_user(code)}\n")
        begin = accounts.index("permissions: {", start)
        end = accounts.index("\n        }\n", begin) + len("\n        }\n")
        accounts = accounts[:begin] + accounts[end:]
    return accounts


def hostile_uplink(accounts: str) -> str:
    """A district's accounts whose `uplink` user may publish anything (a district run by someone
    who wants to pass figures off as another's)."""
    begin = accounts.index("permissions: {", accounts.index("user: uplink\n"))
    end = accounts.index("\n        }\n", begin) + len("\n        }\n")
    return accounts[:begin] + accounts[end:]


def start_district(root: Path, code: str, province: Server, *, hostile: bool = False) -> District:
    """A district's server: the system's accounts with UPLINK, JetStream domain d<code>, and the
    link to the province (its password from the province's list)."""
    leaf_port = _monitor(province.nats, "varz")["leaf"]["port"]
    link = (
        f"nats-leaf://{leaf_user(code)}:{province.passwords[leaf_password_env(code)]}@127.0.0.1:{leaf_port}"
    )
    passwords = _passwords([*USERS, UPLINK_USER]) | {UPLINK_LEAF_URL_ENV: link}
    accounts = render_accounts(uplink=True)
    if hostile:
        accounts = hostile_uplink(accounts)
    data_dir = root / f"d{code}"
    server = start_nats(
        data_dir,
        name=district_domain(code),
        accounts=accounts + district_link(code),
        env={**os.environ, **passwords},
        domain=district_domain(code),
    )
    return District(data_dir, server, passwords, code=code, accounts=accounts)


async def provision_federation(federation: Federation) -> None:
    """The init steps: each district's events stream and FOURLINKS_UPLINK, then FOURLINKS_PROVINCE."""
    for district in federation.districts.values():
        admin = await district.connect("admin")
        try:
            options = ProvisionOptions(monitor_url=district.nats.monitor_url, jetstream=JetStreamSettings())
            await provision(admin, options)
        finally:
            await admin.close()
        uplink = await district.connect(UPLINK_USER)
        try:
            await provision_uplink(uplink)
        finally:
            await uplink.close()
    admin = await federation.province.connect("admin")
    try:
        await provision_province(admin, list(federation.districts))
    finally:
        await admin.close()


def start_federation(
    root: Path,
    codes: Iterable[str] = CODES,
    *,
    hostile_districts: Iterable[str] = (),
    hostile_province: bool = False,
) -> Federation:
    """A province and its districts on loopback, linked (not yet provisioned)."""
    codes, hostile = list(codes), set(hostile_districts)
    province = start_province(root, codes, hostile=hostile_province)
    federation = Federation(province)
    try:
        for code in codes:
            federation.districts[code] = start_district(root, code, province, hostile=code in hostile)
        federation.wait_for_links(len(codes))
    except BaseException:
        federation.stop()
        raise
    return federation


@pytest.fixture
async def federation(tmp_path: Path) -> AsyncIterator[Federation]:
    """Three districts and a province on loopback, linked and provisioned."""
    running = await asyncio.to_thread(start_federation, tmp_path)
    try:
        await provision_federation(running)
        yield running
    finally:
        running.stop()
