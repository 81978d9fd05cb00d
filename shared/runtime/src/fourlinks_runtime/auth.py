"""Bearer JWTs carry the actor: id, roles and org-unit scope. 401 without one, 403 out of scope."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import jwt
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from fourlinks_kernel.access import Role
from fourlinks_kernel.envelope import Actor
from fourlinks_runtime.settings import Settings

VERIFIED_TOKENS = 10_000


class TokenVerifier:
    """Checks signature, expiry, issuer and audience; HS256 secret or RS256 via JWKS.

    A token verified once is remembered until it expires (a person's session sends the same token
    with every request; checking its signature again each time cost a tenth of a command)."""

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.time) -> None:
        self._settings = settings
        self._jwks = jwt.PyJWKClient(settings.jwt_jwks_url) if settings.jwt_jwks_url else None
        self._clock = clock
        self._verified: OrderedDict[str, tuple[Actor, float]] = OrderedDict()

    @property
    def may_fetch_keys(self) -> bool:
        """Whether verifying may fetch signing keys over the network (JWKS)."""
        return self._jwks is not None

    def verify(self, token: str) -> Actor:
        """The actor a valid token names; raises jwt.InvalidTokenError otherwise."""
        remembered = self._verified.get(token)
        if remembered is not None and remembered[1] > self._clock():
            self._verified.move_to_end(token)
            return remembered[0]
        self._verified.pop(token, None)
        actor, expires = self._verify(token)
        self._verified[token] = (actor, expires)
        while len(self._verified) > VERIFIED_TOKENS:
            self._verified.popitem(last=False)
        return actor

    def _verify(self, token: str) -> tuple[Actor, float]:
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
        actor = Actor(id=str(claims["sub"]), roles=tuple(roles), scope=str(claims.get("scope", "")))
        return actor, float(claims["exp"])

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
) -> str:
    """A signed HS256 token for local use and tests (never with the service role)."""
    roles = tuple(roles)
    if Role.SERVICE in roles:
        raise ValueError("the service role is not given to a token: services act through events")
    now = datetime.now(UTC)
    claims = {
        "sub": subject,
        "roles": [Role(r).value for r in roles],
        "scope": scope,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": now,
        "exp": now + lifetime,
    }
    return jwt.encode(claims, settings.jwt_secret_value(), algorithm="HS256")


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
    try:
        if verifier.may_fetch_keys:
            return await asyncio.to_thread(verifier.verify, credentials.credentials)
        return verifier.verify(credentials.credentials)
    except jwt.InvalidTokenError as exc:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            f"the bearer token is not valid: {exc}",
            headers={"WWW-Authenticate": "Bearer"},
        ) from exc


CurrentActor = Annotated[Actor, Depends(current_actor)]


def require_roles(*roles: Role) -> Callable[[Actor], Awaitable[Actor]]:
    """FastAPI dependency factory: the actor must hold one of the roles, else 403."""

    async def check(actor: CurrentActor) -> Actor:
        if not set(actor.roles) & {r.value for r in roles}:
            wanted = ", ".join(r.value for r in roles)
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"this needs one of the roles: {wanted}")
        return actor

    return check
