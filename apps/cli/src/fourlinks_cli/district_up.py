"""A district's part in the federation, as `fourlinks up` runs it (docs/operations.md, "Many
districts, one province"): with FOURLINKS_DISTRICT (its GB/T 2260 code) set, its nats-server gets
the JetStream domain `d<code>`, the UPLINK account and its `uplink` user, and (with
FOURLINKS_UPLINK_LEAF_URL) the link to the province; FOURLINKS_UPLINK is provisioned as `uplink`,
and the figures publisher runs beside the services. Without a code nothing of this exists."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

import nats

from fourlinks_cli.nats_accounts import USERS
from fourlinks_cli.nats_accounts import render as render_accounts
from fourlinks_kernel.notes import SignerKey
from fourlinks_runtime.federation import (
    UPLINK_LEAF_URL_ENV,
    UPLINK_USER,
    FederationConfigError,
    district_code,
    district_domain,
    district_link,
)
from fourlinks_runtime.federation_init import provision_uplink

DISTRICT_ENV = "FOURLINKS_DISTRICT"
DISTRICT_NAME_ENV = "FOURLINKS_DISTRICT_NAME"
DISTRICT_USERS = (*USERS, UPLINK_USER)
"""A district's NATS users: the system's, and `uplink` (the figures publisher)."""


@dataclass(frozen=True)
class DistrictRole:
    """Who this deployment is among the province's districts, and its link upward (if any)."""

    code: str
    name: str
    link: str | None = None  # nats-leaf://d<code>:<password>@<province host>:<leaf port>

    @property
    def domain(self) -> str:
        """Its servers' JetStream domain."""
        return district_domain(self.code)


def district_role(env: Mapping[str, str]) -> DistrictRole | None:
    """The district this `up` runs (FOURLINKS_DISTRICT), or None: a deployment of its own."""
    code = env.get(DISTRICT_ENV, "").strip()
    if not code:
        return None
    try:
        district_code(code)
    except FederationConfigError:
        raise SystemExit(
            f"FOURLINKS_DISTRICT 应为六位行政区划代码（GB/T 2260，如余杭区 330110），而不是 {code!r} / "
            "FOURLINKS_DISTRICT is the district's six-digit GB/T 2260 code (Yuhang: 330110)"
        ) from None
    link = env.get(UPLINK_LEAF_URL_ENV, "").strip() or None
    return DistrictRole(code, env.get(DISTRICT_NAME_ENV, "").strip() or code, link)


def district_accounts(role: DistrictRole) -> str:
    """The district server's accounts: the system's with UPLINK, and the link when it has one."""
    return render_accounts(uplink=True) + (district_link(role.code) if role.link else "")


def district_server_env(role: DistrictRole) -> dict[str, str]:
    """What the district server's config reads from its environment beside the passwords."""
    return {UPLINK_LEAF_URL_ENV: role.link} if role.link else {}


def district_signer(code: str) -> SignerKey:
    """A checkpoint key whose name (the log's origin) says which district's log it is:
    `fourlinks.invalid/<code>/<16 hex of SHA-256(public key)>`."""
    seed = SignerKey.generate_unique().seed
    public = SignerKey("unnamed", seed).verifier.public
    return SignerKey(f"fourlinks.invalid/{code}/{hashlib.sha256(public).hexdigest()[:16]}", seed)


def checkpoint_signer(origin: str | None, role: DistrictRole | None) -> SignerKey:
    """The checkpoint key of a new log: named after FOURLINKS_LOG_ORIGIN where set, else after the
    district's code, else after its own public key."""
    if origin:
        return SignerKey.generate(origin)
    return district_signer(role.code) if role else SignerKey.generate_unique()


async def provision_district_uplink(url: str, password: str) -> str:
    """Create or verify FOURLINKS_UPLINK, signed in as `uplink` (the account's one user)."""
    nc = await nats.connect(url, user=UPLINK_USER, password=password, allow_reconnect=False)
    try:
        return await provision_uplink(nc)
    finally:
        await nc.close()
