"""`make up` end to end: the pinned nats-server and four services on SQLite, stopped with Ctrl-C,
started again with the data kept."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import nats
import nats.aio.client
import nats.errors
import pytest

UP = [sys.executable, "-m", "fourlinks_cli", "up"]


def start(
    var_dir: Path, *more: str, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[str], dict[str, str]]:
    process = subprocess.Popen(
        [*UP, *more, "--var-dir", str(var_dir)],
        stdout=subprocess.PIPE,
        stderr=(var_dir.parent / "up.log").open("ab"),
        text=True,
        start_new_session=True,  # its own process group, as a terminal gives it: Ctrl-C reaches the group
        env={**os.environ, "FOURLINKS_LOG_LEVEL": "WARNING", **(env or {})},
    )
    assert process.stdout is not None
    urls: dict[str, str] = {}
    deadline = time.monotonic() + 60
    for line in process.stdout:
        found = re.match(r"\s+(\w+)\s+API (http://\S+)", line)
        if found:
            urls[found[1]] = found[2]
        if "Ctrl-C stops everything" in line or time.monotonic() > deadline:
            break
    return process, urls


def wait_ready(url: str) -> httpx.Response:
    deadline = time.monotonic() + 60
    while True:
        try:
            reply = httpx.get(f"{url}/health/ready", timeout=2)
            if reply.status_code == 200 or time.monotonic() > deadline:
                return reply
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.2)


def token(var_dir: Path) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "fourlinks_cli", "token", "--role", "administrator", "--scope", "yuhang"],
        env={**os.environ, "FOURLINKS_VAR_DIR": str(var_dir)},
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


def stop(process: subprocess.Popen[str]) -> int:
    """Ctrl-C as a terminal sends it: SIGINT to the whole foreground process group."""
    os.killpg(process.pid, signal.SIGINT)
    code = process.wait(timeout=60)
    log = Path(str(list(process.args)[-1])).parent / "up.log"  # type: ignore[arg-type]
    assert "Traceback" not in log.read_text(errors="replace"), log.read_text(errors="replace")[-4000:]
    if code != 0:  # say why: the tail of what `make up` and its services wrote
        log = Path(str(list(process.args)[-1])).parent / "up.log"  # type: ignore[arg-type]
        sys.stdout.write(log.read_text(errors="replace")[-4000:] if log.exists() else "no log")
    return code


def coverage(url: str, var_dir: Path) -> dict[str, object]:
    headers = {"Authorization": f"Bearer {token(var_dir)}"}
    deadline = time.monotonic() + 60
    while True:
        answer = httpx.get(f"{url}/coverage", headers=headers, timeout=10)
        reply = answer.json()
        if answer.status_code == 200 and reply["households"]["total"] == 500:
            return dict(reply)
        assert time.monotonic() < deadline, (
            f"coverage never showed the seeded district: {answer.status_code} {reply}"
        )
        time.sleep(0.2)


async def its_nats_admits_its_users_only(var_dir: Path) -> None:
    """No password, no connection; a service's user publishes no other context's events and cannot
    touch the stream; the administrator can (what `fourlinks nats init` needs)."""
    url = f"nats://127.0.0.1:{json.loads((var_dir / 'up.json').read_text())['nats_port']}"
    with pytest.raises((nats.errors.Error, OSError)):
        await nats.connect(url, allow_reconnect=False, max_reconnect_attempts=0, connect_timeout=2)

    async def as_user(user: str) -> nats.aio.client.Client:
        password = (var_dir / "nats-users" / f"{user}.password").read_text().strip()
        return await nats.connect(url, user=user, password=password, allow_reconnect=False)

    async def answered(client: nats.aio.client.Client, subject: str) -> bool:
        try:
            await client.request(subject, b"{}", timeout=1)
        except (nats.errors.TimeoutError, nats.errors.NoRespondersError):
            return False
        return True

    members, admin = await as_user("members"), await as_user("admin")
    try:
        assert not await answered(members, "fourlinks.feedback.feedback.forged")  # another context
        assert not await answered(members, "$JS.API.STREAM.DELETE.FOURLINKS_EVENTS")
        assert not await answered(members, "$JS.API.STREAM.PURGE.KV_FOURLINKS_KEYS")
        assert await answered(members, "$JS.API.STREAM.INFO.FOURLINKS_EVENTS")
        assert await answered(admin, "$JS.API.STREAM.INFO.FOURLINKS_EVENTS")
    finally:
        await members.close()
        await admin.close()
    modes = {p.name: p.stat().st_mode & 0o777 for p in (var_dir / "nats-users").iterdir()}
    assert set(modes.values()) == {0o600}


def test_make_up_runs_everything_seeds_once_stops_cleanly_and_keeps_the_data(tmp_path: Path) -> None:
    var_dir = tmp_path / "var"
    var_dir.mkdir()
    left_open = var_dir / "left-by-an-older-run.log"
    left_open.write_text("a log line\n")
    left_open.chmod(0o644)
    process, urls = start(var_dir)
    try:
        assert set(urls) == {"members", "assignments", "feedback", "notifications"}
        for url in urls.values():
            assert wait_ready(url).status_code == 200
        first = coverage(urls["members"], var_dir)
        assert first["households"]["total"] == 500  # type: ignore[index]
        headers = {"Authorization": f"Bearer {token(var_dir)}"}
        created = httpx.post(
            f"{urls['members']}/org-units",
            json={"code": "extra", "name": "新建社区", "level": "community", "parent_path": "yuhang/s01"},
            headers=headers,
            timeout=10,
        )
        assert created.status_code == 201, created.text
        assert signed_checkpoints(var_dir), "make up signs checkpoints of the log (docs/audit.md)"
        asyncio.run(its_nats_admits_its_users_only(var_dir))
    finally:
        assert stop(process) == 0
    assert (var_dir / "members.db").exists()
    assert (var_dir / "seeded").exists()
    readable = [
        f"{path.relative_to(var_dir)} {oct(path.stat().st_mode & 0o777)}"
        for path in [var_dir, *var_dir.rglob("*")]
        if not path.is_symlink() and path.stat().st_mode & 0o077
    ]
    assert readable == [], "only the user who runs it reads var/: databases, logs, keys, NATS' store"

    again, urls = start(var_dir)
    try:
        wait_ready(urls["members"])
        assert coverage(urls["members"], var_dir) == first
        headers = {"Authorization": f"Bearer {token(var_dir)}"}
        listed = httpx.get(
            f"{urls['members']}/org-units", params={"unit": "yuhang/s01/extra"}, headers=headers, timeout=10
        )
        assert [u["path"] for u in listed.json()] == ["yuhang/s01/extra"]
    finally:
        assert stop(again) == 0


def signed_checkpoints(var_dir: Path) -> list[Path]:
    """The checkpoints `make up`'s checkpointer wrote, once it has written one (up to a minute)."""
    deadline = time.monotonic() + 60
    while not list((var_dir / "checkpoints").glob("*.checkpoint")) and time.monotonic() < deadline:
        time.sleep(0.5)
    return list((var_dir / "checkpoints").glob("*.checkpoint"))


def json_documents(text: str) -> list[object]:
    """The JSON documents printed one after another (curl adds no line break)."""
    decoder, found, at = json.JSONDecoder(), [], 0
    while at < len(text.rstrip()):
        document, at = decoder.raw_decode(text, at)
        found.append(document)
        while at < len(text) and text[at].isspace():
            at += 1
    return found


def readme_block(heading: str) -> list[str]:
    """The shell lines of the first bash block under a README heading."""
    text = (Path(__file__).parent.parent / "README.md").read_text()
    section = text.split(f"## {heading}", 1)[1]
    blocks = re.findall(r"```bash\n(.*?)```", section, flags=re.S)
    return [line for line in blocks[1].splitlines() if line.strip()]


def test_the_readme_commands_work_verbatim_next_to_a_running_make_up(tmp_path: Path) -> None:
    """A fresh clone after `make up`: the Quick start's token and curl lines, as written (only
    the port is the one `make up` printed, should 8101 be taken here); a second `make up` on the
    same data refuses and names the first; every service is ready the moment the banner shows;
    a restart keeps the ports."""
    clone = tmp_path / "clone"
    clone.mkdir()
    repo = Path(__file__).parent.parent
    (clone / "fourlinks").write_bytes((repo / "fourlinks").read_bytes())
    (clone / "fourlinks").chmod(0o755)
    (clone / ".venv").symlink_to(Path(sys.prefix))  # the environment `make up` installed
    var_dir = clone / "var"
    process, urls = start(var_dir)
    try:
        for url in urls.values():  # ready at once: the banner waits for it
            assert httpx.get(f"{url}/health/ready", timeout=5).status_code == 200
        second = subprocess.run(
            [*UP, "--var-dir", str(var_dir)], capture_output=True, text=True, timeout=60, check=False
        )
        assert second.returncode == 1
        assert "already running" in second.stderr
        assert str(process.pid) in second.stderr
        port = urls["members"].rsplit(":", 1)[1]
        script = "\n".join(readme_block("Quick start")).replace("127.0.0.1:8101", f"127.0.0.1:{port}")
        shown = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            check=False,
            cwd=clone,
            capture_output=True,
            text=True,
            timeout=60,
            env={k: v for k, v in os.environ.items() if not k.startswith("FOURLINKS_")},
        )
        assert shown.returncode == 0, shown.stderr
        answers = json_documents(shown.stdout)
        assert answers
        assert all("detail" not in a for a in answers if isinstance(a, dict)), answers
        assert signed_checkpoints(var_dir)
        audit = subprocess.run(
            ["./fourlinks", "audit", "verify"],
            cwd=clone,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert audit.returncode == 0, audit.stderr
        assert "intact" in audit.stdout
        assert "the log extends it" in audit.stdout  # the checkpoint signed before it
        first_ports = json.loads((var_dir / "up.json").read_text())
    finally:
        assert stop(process) == 0
    again, _ = start(var_dir)
    try:
        assert json.loads((var_dir / "up.json").read_text())["services"] == first_ports["services"]
        assert json.loads((var_dir / "up.json").read_text())["nats_port"] == first_ports["nats_port"]
    finally:
        assert stop(again) == 0


IDENTITY_PROVIDER = {
    "FOURLINKS_CONSOLE_OIDC_DISCOVERY_URL": "https://idp.example.gov.cn/.well-known/openid-configuration",
    "FOURLINKS_CONSOLE_OIDC_CLIENT_ID": "fourlinks-console",
    "FOURLINKS_CONSOLE_OIDC_CLIENT_SECRET": "from-the-identity-provider",
    "FOURLINKS_SKIP_SEED": "1",
}


def test_production_on_one_machine_offers_no_local_sign_in(tmp_path: Path) -> None:
    """What `install --systemd` runs: the console sends people to the identity provider only."""
    var_dir = tmp_path / "var"
    var_dir.mkdir()
    refused = subprocess.run(
        [*UP, "--var-dir", str(var_dir), "--production"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith("FOURLINKS_CONSOLE_OIDC")},
    )
    assert refused.returncode == 1
    assert "FOURLINKS_CONSOLE_OIDC_DISCOVERY_URL" in refused.stderr  # what to set, before anything runs
    process, urls = start(var_dir, "--production", env=IDENTITY_PROVIDER)
    try:
        wait_ready(urls["members"])
        console = f"http://127.0.0.1:{json.loads((var_dir / 'up.json').read_text())['console']}"
        page = wait_for_console(console)
        assert "/signin/oidc" in page.text
        assert "/signin/local" not in page.text
        tried = httpx.post(f"{console}/signin/local", data={"person": "administrator"}, timeout=10)
        assert tried.status_code in (403, 404), tried.status_code
        assert "fourlinks_session" not in tried.headers.get("set-cookie", "")
    finally:
        assert stop(process) == 0


def wait_for_console(console: str) -> httpx.Response:
    deadline = time.monotonic() + 60
    while True:
        try:
            page = httpx.get(f"{console}/signin", timeout=2)
            if page.status_code == 200:
                return page
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the console never answered"
        time.sleep(0.3)
