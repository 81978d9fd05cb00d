"""Who is signed in: the person, their roles and scope, and the token the services accept.

The session is kept on the server (sessions.py): the HttpOnly, SameSite cookie holds its random id
only; every form sends back the CSRF token derived from that id. Signing out deletes the session
and revokes its token at every service."""

from __future__ import annotations

import secrets
import time
from dataclasses import asdict, dataclass
from typing import Annotated, Any

import structlog
from fastapi import Depends, HTTPException, Request, status

from fourlinks_console.sessions import SESSION_STATE, Session
from fourlinks_runtime.auth import RevokedTokens

log = structlog.get_logger(__name__)

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
STAFF_ROLES = frozenset({"secretary", "administrator", "auditor", "inspector"})


class SignInNeeded(Exception):
    """No one (or an expired session) is signed in; the page sends them to sign in."""

    def __init__(self, wanted: str) -> None:
        super().__init__(wanted)
        self.wanted = wanted


@dataclass(frozen=True)
class Person:
    """A signed-in person: what the services' tokens say about them, and the token itself."""

    id: str
    name: str
    roles: tuple[str, ...]
    scope: str
    token: str
    expires: float

    def has(self, *roles: str) -> bool:
        """Whether the person holds any of these roles."""
        return bool(set(roles) & set(self.roles))

    @property
    def manages(self) -> bool:
        """Secretaries and administrators: those who act on a unit's records."""
        return self.has("secretary", "administrator")

    @property
    def is_staff(self) -> bool:
        """Those who read a unit's records (the console's pages are for them)."""
        return bool(STAFF_ROLES & set(self.roles))


def session_of(request: Request) -> Session:
    """This request's session (the console's middleware opened it)."""
    session: Session = request.scope[SESSION_STATE]
    return session


def sign_in(request: Request, person: Person) -> None:
    """Start a fresh session for this person: a new id and CSRF token (no fixation across
    sign-ins), the one before deleted."""
    session = session_of(request)
    session.renew()
    session.data["person"] = asdict(person)


async def sign_out(request: Request) -> None:
    """End the session: deleted at once (a copied cookie opens nothing), its token revoked at
    every service."""
    person = signed_in(request)
    session_of(request).renew()
    if person is None:
        return
    revocations: RevokedTokens | None = getattr(request.app.state, "revocations", None)
    if revocations is None:
        log.info("token_not_revoked", reason="the console has no NATS to revoke it in")
        return
    await revocations.revoke(person.token)


def signed_in(request: Request) -> Person | None:
    """The person of this session, unless there is none or their token has expired."""
    stored: dict[str, Any] | None = session_of(request).data.get("person")
    if not stored:
        return None
    person = Person(**{**stored, "roles": tuple(stored["roles"])})
    if person.expires <= time.time():
        session_of(request).renew()
        return None
    return person


def current_person(request: Request) -> Person:
    """FastAPI dependency: the signed-in person, or a trip to the sign-in page."""
    person = signed_in(request)
    if person is None:
        wanted = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInNeeded(wanted)
    return person


def csrf_token(request: Request) -> str:
    """This session's CSRF token (a first visit gets a session id for it: the sign-in form's)."""
    return session_of(request).csrf()


async def checked_form(request: Request) -> dict[str, str]:
    """FastAPI dependency: the posted form, once its CSRF token matches the session's (403 if not)."""
    form = await request.form()
    sent = str(form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or "")
    session = session_of(request)
    expected = session.csrf() if session.id is not None else ""
    if not expected or not secrets.compare_digest(sent, expected):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            "这个表单已过期或不是从本系统打开的，请刷新页面后再试。"
            " (The form has expired or did not come from this console: reload the page and try again.)",
        )
    return {
        key: str(value) for key, value in form.multi_items() if key != CSRF_FIELD and isinstance(value, str)
    }


CurrentPerson = Annotated[Person, Depends(current_person)]
CheckedForm = Annotated[dict[str, str], Depends(checked_form)]
