"""One NATS connection per process, configured from settings, reconnecting by itself."""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import structlog
from nats import errors
from nats.aio.client import Client
from nats.protocol.parser import AUTHORIZATION_VIOLATION, PERMISSIONS_ERR

from fourlinks_runtime.settings import Settings

log = structlog.get_logger(__name__)


class HeaderParsingClient(Client):
    """nats-py's client that reconnects after a protocol error and parses headers in C.

    nats-py closes a connection for good when the server reports a protocol error ("maximum
    control line exceeded", a parser error): the service would stay connected to nothing until
    restarted by hand. Here such an error is a lost connection like any other and the client
    reconnects; only an authorization violation (which a retry cannot fix) still closes it.

    The header parser:
    The library checks every header name for whitespace one character at a time through a
    generator: with the ten or so headers of a direct-get reply that was the largest single cost
    of reading the log (about 20 µs a message, measured in a replay profile). Same results for
    every well-formed header; a name with whitespace inside is skipped, as the library does."""

    async def _process_err(self, err_msg: str) -> None:
        if AUTHORIZATION_VIOLATION in err_msg or PERMISSIONS_ERR in err_msg or self.is_connecting:
            await super()._process_err(err_msg)
            return
        reason = err_msg.strip("'")[:200]
        log.warning("nats_protocol_error", error=reason)
        await self._process_op_err(errors.Error(f"nats: {reason}"))

    @staticmethod
    def _parse_header_lines(raw: bytes) -> dict[str, str]:
        out: dict[str, str] = {}
        for line in raw.split(b"\r\n"):
            name, sep, value = line.partition(b":")
            words = name.split()
            if not sep or len(words) != 1:
                continue
            try:
                key = words[0].decode("ascii")
            except UnicodeDecodeError:
                continue
            out[key] = value.strip().decode("utf-8", "replace")
        return out


def connect_options(settings: Settings, *, name: str) -> dict[str, Any]:
    """Keyword arguments for nats.connect: servers, credentials, TLS, reconnect forever."""
    options: dict[str, Any] = {
        "servers": [u.strip() for u in settings.nats_url.split(",") if u.strip()],
        "name": name,
        "max_reconnect_attempts": -1,
        "reconnect_time_wait": 0.5,
        "connect_timeout": 3,
        "allow_reconnect": True,
    }
    if settings.nats_user:
        options["user"] = settings.nats_user
        options["password"] = settings.nats_password_value()
    if settings.nats_creds_file:
        options["user_credentials"] = str(settings.nats_creds_file)
    if settings.nats_tls_ca_file or settings.nats_tls_cert_file:
        context = ssl.create_default_context(
            cafile=str(settings.nats_tls_ca_file) if settings.nats_tls_ca_file else None
        )
        if settings.nats_tls_cert_file and settings.nats_tls_key_file:
            context.load_cert_chain(str(settings.nats_tls_cert_file), str(settings.nats_tls_key_file))
        options["tls"] = context
    return options


COMMAND_CONNECT_SECONDS = 5.0
"""How long a command (`fourlinks seed`, `audit`, ...) waits for its first NATS connection."""


class NatsUnreachable(Exception):
    """The first connection to NATS did not succeed in the time a command waits."""


async def connect(settings: Settings, *, name: str, within: float | None = None) -> Client:
    """Connect, logging disconnects and reconnects (never credentials).

    A service waits for NATS as long as it takes; a command passes `within` seconds and gets
    NatsUnreachable after them (nats-py's first connect otherwise retries forever)."""
    if within is None:
        return await _connect(settings, name=name)
    try:
        return await asyncio.wait_for(_connect(settings, name=name, quiet_until_connected=True), within)
    except (TimeoutError, OSError, errors.NoServersError) as exc:
        raise NatsUnreachable(
            f"cannot reach NATS at {settings.nats_url} within {within:g} s ({type(exc).__name__}): "
            "is `make up` running? Another NATS can be named with FOURLINKS_NATS_URL"
        ) from None


async def _connect(settings: Settings, *, name: str, quiet_until_connected: bool = False) -> Client:

    client: Client | None = None

    async def disconnected() -> None:
        if client is not None and not client.is_closed:
            log.warning("nats_disconnected", connection=name)

    async def reconnected() -> None:
        log.info("nats_reconnected", connection=name)

    async def error(exc: Exception) -> None:
        if client is not None and (client.is_connected or not quiet_until_connected):
            log.warning("nats_error", connection=name, error=type(exc).__name__)

    client = HeaderParsingClient()
    await client.connect(
        **connect_options(settings, name=name),
        disconnected_cb=disconnected,
        reconnected_cb=reconnected,
        error_cb=error,
    )
    return client
