"""`fourlinks up --role province`: a province's (or a city's) own deployment, supervised as a
district's is (docs/operations.md, "Many districts, one province"): its nats-server (JetStream
domain `province`, a leafnode listener where the districts' links connect), FOURLINKS_PROVINCE
sourcing each district of its districts file, the province service reading it, and the console
pointed at the province service. It holds no district's key, event or personal data: only figures.

The districts file (var/districts.toml or .json, or FOURLINKS_PROVINCE_DISTRICTS_FILE) lists each
district: code, name, the password its link signs in with (`leaf_password`) and the public key of
its audit log (`log_key`). A district added to it is followed at the next start; the others keep
their position.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import sys
from collections.abc import Mapping
from pathlib import Path

import nats

from fourlinks_cli.nats_users import FOLDER, nats_users
from fourlinks_cli.up import (
    LOCAL_CONSOLE,
    NatsSetup,
    Supervisor,
    claim_var_dir,
    keep_port,
    production_console,
    secret_file,
    stop_on_signals,
)
from fourlinks_console.serve import DEFAULT_PORT as CONSOLE_PORT
from fourlinks_kernel.provisioning import revoked_bucket_config
from fourlinks_province.settings import Districts
from fourlinks_runtime.federation import (
    LEAF_PORT,
    PROVINCE_DOMAIN,
    PROVINCE_USER,
    leaf_password_env,
    province_accounts,
    province_listener,
)
from fourlinks_runtime.federation_init import provision_province
from fourlinks_runtime.settings import Settings
from fourlinks_runtime.upstate import INSTANCE_ENV, UpState, held_port, new_instance, read_state

SERVICE = "province"
PROVINCE_PORT = 8110
PROVINCE_USERS = ("admin", PROVINCE_USER, "system")
DISTRICTS_FILE_ENV = "FOURLINKS_PROVINCE_DISTRICTS_FILE"
LEAF_HOST_ENV = "FOURLINKS_PROVINCE_LEAF_HOST"
"""Where the leafnode listener listens (default 127.0.0.1: the districts of this machine only)."""
DISTRICTS_FILES = ("districts.toml", "districts.json")


def districts_file(var_dir: Path, env: Mapping[str, str]) -> Path:
    """The province's districts file: named in the environment, else var/districts.toml or .json."""
    named = env.get(DISTRICTS_FILE_ENV, "").strip()
    if named:
        return Path(named).resolve()
    for name in DISTRICTS_FILES:
        if (var_dir / name).exists():
            return var_dir / name
    raise SystemExit(
        f"省级平台需要区县清单 {var_dir / DISTRICTS_FILES[0]}（每个区县：code、name、leaf_password、"
        f"log_key）/ the province needs its districts file {var_dir / DISTRICTS_FILES[0]} (or "
        f"{DISTRICTS_FILE_ENV}): each district's code, name, leaf_password and log_key "
        '(docs/operations.md, "Many districts, one province")'
    )


def leaf_passwords(districts: Districts) -> dict[str, str]:
    """Each district link's password, as the province server's config names it."""
    unset = [d.code for d in districts.districts if d.leaf_password is None]
    if unset:
        raise SystemExit(
            f"区县清单中 {', '.join(unset)} 没有 leaf_password / the districts file gives no leaf_password "
            f"for {', '.join(unset)}: `fourlinks up --role province` signs links in with passwords"
        )
    return {
        leaf_password_env(d.code): d.leaf_password.get_secret_value()
        for d in districts.districts
        if d.leaf_password is not None
    }


def province_nats(var_dir: Path, districts: Districts, *, host: str, leaf_port: int) -> NatsSetup:
    """The province server: its accounts (a user per district link) and its leafnode listener."""
    codes = [d.code for d in districts.districts]
    env = nats_users(var_dir, PROVINCE_USERS) | leaf_passwords(districts)
    accounts = province_accounts(codes) + province_listener(host, leaf_port)
    return NatsSetup(accounts, env, SERVICE, PROVINCE_DOMAIN)


def province_serve(name: str, port: int, workers: int) -> list[str]:
    """The province service on its port: one process (its follower is the one reader of the
    province stream; `workers` is for the districts' services)."""
    del workers
    app = f"fourlinks_{name}.bootstrap:create_app"
    return [sys.executable, "-m", "uvicorn", "--factory", app, "--host", "127.0.0.1", "--port", str(port)]


async def provision(url: str, password: str, codes: list[str]) -> str:
    """Create or verify FOURLINKS_PROVINCE with a source per district, and the bucket of tokens
    signed out; as the province's admin."""
    nc = await nats.connect(url, user="admin", password=password, allow_reconnect=False)
    try:
        done = await provision_province(nc, codes)
        # the tokens signed out, which the province service follows (an identical create is a no-op)
        await nc.jetstream().create_key_value(revoked_bucket_config(replicas=1))
        return done
    finally:
        await nc.close()


def addresses(previous: UpState | None) -> tuple[UpState, dict[str, list[socket.socket]]]:
    """The ports of last time while free (the leafnode listener's above all: the districts' links
    name it), each held until its child starts."""
    last = previous or UpState(pid=0, nats_port=0, monitor_port=0)
    held = {
        "nats": [
            keep_port("nats", last.nats_port, None),
            keep_port("nats monitoring", last.monitor_port, None),
            keep_port("leafnode listener", last.leaf_port, LEAF_PORT),
        ],
        SERVICE: [keep_port(SERVICE, last.services.get(SERVICE), PROVINCE_PORT)],
        "console": [keep_port("console", last.console, CONSOLE_PORT)],
    }
    state = UpState(
        pid=os.getpid(),
        nats_port=held_port(held["nats"][0]),
        monitor_port=held_port(held["nats"][1]),
        leaf_port=held_port(held["nats"][2]),
        services={SERVICE: held_port(held[SERVICE][0])},
        console=held_port(held["console"][0]),
        instance=new_instance(),
    )
    return state, held


def run_province(var_dir: Path, *, production: bool = False) -> int:
    """Run the province until Ctrl-C or SIGTERM; 1 if it cannot start or a child crash-loops."""
    console_env = production_console(var_dir) if production else dict(LOCAL_CONSOLE)
    lock = claim_var_dir(var_dir)
    if lock is None:
        return 1
    listed = districts_file(var_dir, os.environ)
    districts = Districts.read(listed)
    secret_file(var_dir / "jwt.secret", secrets.token_urlsafe(48))
    stopping = stop_on_signals()
    state, held = addresses(read_state(var_dir))
    env = {
        **os.environ,
        "FOURLINKS_NATS_URL": state.nats_url,
        "FOURLINKS_VAR_DIR": str(var_dir),
        DISTRICTS_FILE_ENV: str(listed),
        INSTANCE_ENV: state.instance,
    }
    supervisor = Supervisor(
        var_dir,
        state,
        env,
        Settings(),
        held=held,
        # one console process, no session bucket at the province: its sessions stay in memory
        console_env={**console_env, "FOURLINKS_CONSOLE_SESSION_STORE": "memory"},
        console_user=PROVINCE_USER,
        serve_command=province_serve,
        banner=province_banner,
    )
    try:
        host = os.environ.get(LEAF_HOST_ENV, "127.0.0.1")
        assert state.leaf_port is not None  # chosen by addresses()
        supervisor.start_nats(province_nats(var_dir, districts, host=host, leaf_port=state.leaf_port))
        admin = (var_dir / FOLDER / "admin.password").read_text().strip()
        codes = [d.code for d in districts.districts]
        print(asyncio.run(provision(state.nats_url, admin, codes)), flush=True)
        supervisor.start_services()
        supervisor.start_console()
        print(
            f"following {len(codes)} district(s) from {listed}; waiting for the province service ...",
            flush=True,
        )
        return supervisor.run(stopping)
    finally:
        supervisor.stop_all()
        lock.close()


def province_banner(state: UpState, var_dir: Path) -> None:
    """What runs where, and how to look at it."""
    url = f"http://127.0.0.1:{state.services[SERVICE]}"
    print(f"\nFour Links province is running. NATS: {state.nats_url} (data in {var_dir})")
    print(f"  districts' links  nats-leaf://127.0.0.1:{state.leaf_port}   (user d<code>, its leaf_password)")
    print(f"  province     API {url}   docs {url}/docs   districts {url}/districts")
    if state.console is not None:
        print(f"  console      http://127.0.0.1:{state.console}   (local sign-in)")
    token = f"FOURLINKS_VAR_DIR={var_dir} ./fourlinks token --role province --scope 330000"
    print(f"A token for the province's API: {token}")
    print("Ctrl-C stops everything; data stays in", var_dir, flush=True)
