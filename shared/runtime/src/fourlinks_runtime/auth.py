"""Bearer JWTs carry the actor: id, roles and org-unit scope. 401 without one, 403 out of scope.

A token carries a `jti` and lives at most FOURLINKS_JWT_MAX_HOURS (a household's sign-in link
FOURLINKS_JWT_RESIDENT_MAX_HOURS); one signed out before it expires is refused by every service,
each following the list of revoked tokens in a key-value bucket. A household's sign-in link (its
resident token) is answered 410 Gone once the household is erased, by every service that takes it."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

import jwt
import nats.errors
import structlog
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from nats.aio.client import Client
from nats.js.errors import BucketNotFoundError
from nats.js.kv import KeyValue

from fourlinks_kernel.access import Role
from fourlinks_kernel.envelope import Actor
from fourlinks_kernel.errors import Gone, InvalidCommand
from fourlinks_runtime.errors import ROLE_NEEDED, Refusal
from fourlinks_runtime.settings import Settings

if TYPE_CHECKING:
    from fourlinks_runtime.runtime import ServiceRuntime

log = structlog.get_logger(__name__)
VERIFIED_TOKENS = 10_000
LIFETIME_LEEWAY_SECONDS = 60  # an issuer rounding its instants is not refused for it
REVOCATIONS_TIMEOUT_SECONDS = 2.0  # a user not allowed to read the bucket gets no answer at all
REREAD_SECONDS = 60.0  # the whole revocation list is read again this often, whatever a watch missed
RETRY_SECONDS = 30.0


class TokenLifetimeRefused(InvalidCommand, ValueError):
    """A token asked to live longer than the settings allow."""


class TokenRevoked(jwt.InvalidTokenError):
    """The token was revoked (its session signed out) before it expired."""


@dataclass(frozen=True)
class _Verified:
    actor: Actor
    expires: float
    revocation: str


class TokenVerifier:
    """Checks signature, expiry, issuer, audience and lifetime; HS256 secret or RS256 via JWKS.

    A token verified once is remembered until it expires (a person's session sends the same token
    with every request; checking its signature again each time cost a tenth of a command)."""

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.time) -> None:
        self._settings = settings
        self._jwks = jwt.PyJWKClient(settings.jwt_jwks_url) if settings.jwt_jwks_url else None
        self._clock = clock
        self._verified: OrderedDict[str, _Verified] = OrderedDict()

    @property
    def may_fetch_keys(self) -> bool:
        """Whether verifying may fetch signing keys over the network (JWKS)."""
        return self._jwks is not None

    def verify(self, token: str, revoked: RevokedTokens | None = None) -> Actor:
        """The actor a valid token names; raises jwt.InvalidTokenError otherwise, TokenRevoked
        for one in `revoked` (looked up on every call; the signature is checked once)."""
        remembered = self._verified.get(token)
        if remembered is not None and remembered.expires > self._clock():
            self._verified.move_to_end(token)
        else:
            self._verified.pop(token, None)
            remembered = self._verify(token)
            self._verified[token] = remembered
            while len(self._verified) > VERIFIED_TOKENS:
                self._verified.popitem(last=False)
        if revoked is not None and revoked.holds(remembered.revocation):
            raise TokenRevoked("this token was revoked (its session was signed out): sign in again")
        return remembered.actor

    def _verify(self, token: str) -> _Verified:
        key: Any = self._signing_key(token)
        claims = jwt.decode(
            token,
            key,
            algorithms=[self._settings.jwt_algorithm],
            issuer=self._settings.jwt_issuer,
            audience=self._settings.jwt_audience,
            options={"require": ["exp", "sub", "iss", "aud"]},
        )
        roles = claims.get("roles", [])
        if not isinstance(roles, list) or not all(r in Role.__members__.values() for r in roles):
            raise jwt.InvalidTokenError("unknown role in token")
        if Role.SERVICE in roles:
            # Services act on each other's events inside the system, never through the HTTP APIs:
            # the role that crosses every scope is never taken from a bearer token.
            raise jwt.InvalidTokenError("the service role is not given to a token")
        self._check_lifetime(claims, roles)
        if self._settings.jwt_require_jti and not claims.get("jti"):
            raise jwt.MissingRequiredClaimError("jti")
        actor = Actor(
            id=str(claims["sub"]),
            roles=tuple(roles),
            scope=str(claims.get("scope", "")),
            via=str(claims.get("via") or ""),
        )
        return _Verified(actor, float(claims["exp"]), _revocation_key(claims, token))

    def _check_lifetime(self, claims: Mapping[str, Any], roles: list[str]) -> None:
        """No token lives longer than the settings allow, counted from when it was issued."""
        hours, setting = _longest(self._settings, roles)
        if "iat" not in claims:
            raise jwt.MissingRequiredClaimError("iat")
        lifetime = float(claims["exp"]) - float(claims["iat"])
        if lifetime > hours * 3600 + LIFETIME_LEEWAY_SECONDS:
            raise jwt.InvalidTokenError(
                f"the token was issued to live {lifetime / 3600:,.1f} h; a token may live at most "
                f"{hours:g} h ({setting}): sign in again, or ask for a shorter one"
            )

    def _signing_key(self, token: str) -> Any:
        if self._jwks is None:
            return self._settings.jwt_secret_value()
        try:
            return self._jwks.get_signing_key_from_jwt(token).key
        except jwt.PyJWKClientError as exc:
            raise jwt.InvalidTokenError(f"no signing key for this token: {exc}") from exc


def issue_token(
    settings: Settings,
    *,
    subject: str,
    roles: Iterable[str],
    scope: str,
    lifetime: timedelta = timedelta(hours=8),
    via: str = "",
) -> str:
    """A signed HS256 token for local use and tests (never with the service role, never longer
    than the settings allow), with a `jti` to revoke it by, and `via`: how a resident came by it
    (a sign-in link, a service card's QR code)."""
    roles = tuple(roles)
    if Role.SERVICE in roles:
        raise ValueError("the service role is not given to a token: services act through events")
    hours, setting = _longest(settings, roles)
    if lifetime > timedelta(hours=hours):
        asked = lifetime.total_seconds() / 3600
        raise TokenLifetimeRefused(f"a token may live at most {hours:g} h ({setting}); asked for {asked:g} h")
    now = datetime.now(UTC)
    claims = {
        "sub": subject,
        "roles": [Role(r).value for r in roles],
        "scope": scope,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": now,
        "exp": now + lifetime,
        "jti": secrets.token_urlsafe(16),
    }
    if via:
        claims["via"] = via
    return jwt.encode(claims, settings.jwt_secret_value(), algorithm="HS256")


def _longest(settings: Settings, roles: Iterable[str]) -> tuple[float, str]:
    """The most hours a token with these roles may live, and the setting that says so: a
    household's sign-in link (the resident role alone) may live longer than a person's session."""
    if {str(r) for r in roles} == {Role.RESIDENT.value}:
        return settings.jwt_resident_max_hours, "FOURLINKS_JWT_RESIDENT_MAX_HOURS"
    return settings.jwt_max_hours, "FOURLINKS_JWT_MAX_HOURS"


def _revocation_key(claims: Mapping[str, Any], token: str) -> str:
    jti = claims.get("jti")
    named = f"jti\x00{jti}" if jti not in (None, "") else f"token\x00{token}"
    return hashlib.sha256(named.encode()).hexdigest()[:48]


def revocation_key(token: str) -> str:
    """The key a token is revoked under: from its `jti`, else from the token itself."""
    return _revocation_key(_unverified_claims(token), token)


def _unverified_claims(token: str) -> dict[str, Any]:
    """What a token says, unchecked (to revoke it: the services check it on every call)."""
    try:
        claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        return {}
    return claims


class RevokedTokens:
    """Tokens revoked before they expire, as this process knows them: followed from a key-value
    bucket (`fourlinks nats init` creates it), a key per token and the moment it expires as its
    value. Without the bucket nothing is revoked, and the log says why."""

    def __init__(
        self, nc: Client | None = None, bucket: str = "", clock: Callable[[], float] = time.time
    ) -> None:
        self._nc = nc
        self._name = bucket
        self._bucket: KeyValue | None = None
        self._clock = clock
        self._until: dict[str, float] = {}

    @classmethod
    async def open(cls, nc: Client, bucket: str) -> RevokedTokens:
        """Bind to the bucket and read the list as it stands (a service knows it before it serves)."""
        revoked = cls(nc, bucket)
        try:
            await revoked._watch(REVOCATIONS_TIMEOUT_SECONDS, until_current=True)
        except BucketNotFoundError:
            log.error("revocation_bucket_missing", bucket=bucket, fix="run fourlinks nats init")
        except (nats.errors.Error, TimeoutError) as exc:  # a user without the right gets no answer
            log.error("revocation_bucket_unreadable", bucket=bucket, error=type(exc).__name__)
        return revoked

    def holds(self, key: str) -> bool:
        """Whether the token with this revocation key was revoked (and has not expired since)."""
        until = self._until.get(key)
        return until is not None and until > self._clock()

    async def revoke(self, token: str) -> bool:
        """Revoke a token until it expires, for every service; False when the bucket could not
        be written (the log says why)."""
        until = float(_unverified_claims(token).get("exp") or 0)
        if until <= self._clock():
            return True  # expired already: every service refuses it
        key = revocation_key(token)
        self._until[key] = until
        try:
            bucket = await self._bound()
            await bucket.put(key, f"{until:.0f}".encode())
        except (nats.errors.Error, TimeoutError) as exc:
            log.error("token_not_revoked", bucket=self._name, error=type(exc).__name__)
            return False
        return True

    async def follow(self) -> None:
        """Keep the list current: each revocation as it is written, and the whole list read again
        every minute (a watch that lost its server misses nothing for long)."""
        while True:
            try:
                await self._watch(REREAD_SECONDS)
            except (nats.errors.Error, TimeoutError) as exc:
                log.warning("revocations_unavailable", bucket=self._name, error=type(exc).__name__)
                await asyncio.sleep(RETRY_SECONDS)

    async def _bound(self) -> KeyValue:
        if self._bucket is None:
            if self._nc is None:
                raise nats.errors.ConnectionClosedError
            js = self._nc.jetstream(timeout=REVOCATIONS_TIMEOUT_SECONDS)
            self._bucket = await js.key_value(self._name)
        return self._bucket

    async def _watch(self, seconds: float, *, until_current: bool = False) -> None:
        """Apply what the bucket holds and what is written to it for `seconds` (or until what it
        held is read)."""
        watcher = await (await self._bound()).watchall(inactive_threshold=RETRY_SECONDS)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        try:
            while (left := deadline - loop.time()) > 0:
                try:
                    entry = await watcher.updates(timeout=left)  # type: ignore[no-untyped-call]
                except nats.errors.TimeoutError:
                    break
                if entry is None:
                    if until_current:
                        break
                    continue
                with contextlib.suppress(ValueError):
                    if entry.value:
                        self._until[entry.key] = float(entry.value)
        finally:
            with contextlib.suppress(nats.errors.Error):
                await watcher.stop()  # type: ignore[no-untyped-call]
        now = self._clock()
        self._until = {key: until for key, until in self._until.items() if until > now}


_bearer = HTTPBearer(auto_error=False)


async def current_actor(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Actor:
    """FastAPI dependency: the authenticated actor, or 401. Async, so FastAPI does not hand it
    to its thread pool (two thread hops a request); only a JWKS lookup, which may fetch keys over
    the network, goes to a thread."""
    if credentials is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "a bearer token is required (`fourlinks token --role ... --scope ...` prints one)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    verifier: TokenVerifier = request.app.state.verifier
    runtime: ServiceRuntime | None = getattr(request.app.state, "runtime", None)  # once started
    revoked = getattr(runtime, "revoked", None)
    try:
        if verifier.may_fetch_keys:
            actor = await asyncio.to_thread(verifier.verify, credentials.credentials, revoked)
        else:
            actor = verifier.verify(credentials.credentials, revoked)
    except jwt.InvalidTokenError as exc:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            f"the bearer token is not valid: {exc}",
            headers={"WWW-Authenticate": "Bearer"},
        ) from exc
    if runtime is not None and Role.RESIDENT in actor.roles:
        await refuse_erased_household(runtime, actor.id)
    return actor


HOUSEHOLD_ERASED = (
    "This household's personal data was erased at its request, so its sign-in link no longer "
    "works. If you live there, ask your community's secretary to register the household again."
)
"""What a household's sign-in link answers once the household was erased (410)."""


async def refuse_erased_household(runtime: ServiceRuntime, household_id: str) -> None:
    """Gone (410) once the household a resident's token names was erased, as the service learnt
    it from the log: its sign-in link opens nothing, in every service that takes it."""
    erased = getattr(getattr(runtime, "definition", None), "erased_household", None)
    if erased is not None and await erased(runtime, household_id):
        raise Gone(HOUSEHOLD_ERASED)


CurrentActor = Annotated[Actor, Depends(current_actor)]


def require_roles(*roles: Role) -> Callable[[Actor], Awaitable[Actor]]:
    """FastAPI dependency factory: the actor must hold one of the roles, else 403."""

    async def check(actor: CurrentActor) -> Actor:
        if not set(actor.roles) & {r.value for r in roles}:
            wanted = ", ".join(r.value for r in roles)
            raise Refusal(
                status.HTTP_403_FORBIDDEN,
                f"this needs one of the roles: {wanted}",
                ROLE_NEEDED,
                roles=[r.value for r in roles],
            )
        return actor

    return check
