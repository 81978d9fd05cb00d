"""HTTP API of the one-time codes that confirm a reporter's phone at a service card's doorway: is it
offered here (an SMS provider configured), text a code, check the code typed. Only a household's
token made at a card's doorway (`via: card_qr`) asks: the console makes one once the members
service has read the card's link. The phone is in the request body only, never in a path, a log
line or a metric."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import httpx
import structlog
from fastapi import APIRouter, Depends, HTTPException, Request, status
from pydantic import BaseModel, Field

from fourlinks_contracts.refusals import PHONE_CODES_UNAVAILABLE
from fourlinks_kernel.envelope import Actor
from fourlinks_kernel.errors import NotAllowed, StateConflict
from fourlinks_notifications.adapters.sms import AliyunSmsChannel
from fourlinks_notifications.application import phone_codes
from fourlinks_notifications.application.outgoing import Undelivered
from fourlinks_notifications.domain.phone_codes import MOBILE, codes_key
from fourlinks_notifications.settings import Channels, NotifySettings
from fourlinks_runtime.edge import Body, IdInPath
from fourlinks_runtime.errors import RATE_LIMITED, Refusal
from fourlinks_runtime.guards import Resident
from fourlinks_runtime.http import runtime_of
from fourlinks_runtime.phone_confirmations import confirmation_key
from fourlinks_runtime.rate_limits import TOO_MANY, RateLimit
from fourlinks_runtime.runtime import ServiceRuntime

log = structlog.get_logger(__name__)
SEND_LIMIT = RateLimit("texting a phone code", per_client=20, overall=600)
"""Per client address (behind the console, the console's): the codes' own limits are per phone and card."""
CHECK_LIMIT = RateLimit("checking a phone code", per_client=60, overall=1200)
router = APIRouter(tags=["phone codes"])


class Offered(BaseModel):
    """Whether a reporter's phone is confirmed by a texted code here."""

    offered: bool = Field(
        description="an SMS provider is configured: the doorway asks for the reporter's phone"
    )


class SendCode(Body):
    """The phone to text a code to."""

    phone: str = Field(
        pattern=MOBILE, description="the reporter's mobile number (11 digits): texted, kept nowhere"
    )


class CodeSent(BaseModel):
    """A code texted: the id to check it by, and until when it works."""

    code_id: str
    expires_at: datetime


class TypedCode(Body):
    """The code the reporter typed."""

    code: Annotated[str, Field(pattern=r"^[0-9]{6}$", description="the six digits texted")]


class Confirmation(BaseModel):
    """A right code: what the feedback service takes as the report's `phone_confirmation`."""

    confirmation: str = Field(
        description="POST /feedback's phone_confirmation (feedback service) for this household, 5 minutes"
    )


@router.get(
    "/phone-codes/offered",
    summary="Whether a card's doorway confirms the reporter's phone by a texted code",
    response_model=Offered,
)
async def offered(request: Request, actor: Resident) -> Offered:
    _at_a_doorway(actor)
    channels: Channels = request.app.state.channels
    return Offered(offered=channels.sms is not None)


@router.post(
    "/phone-codes",
    status_code=status.HTTP_201_CREATED,
    summary="Text a one-time code to the reporter's phone (10 minutes; limited per phone and per card)",
    response_model=CodeSent,
    dependencies=[Depends(SEND_LIMIT)],
    responses={**TOO_MANY, 502: {"description": "the SMS provider did not take the code"}},
)
async def send_code(body: SendCode, request: Request, actor: Resident) -> CodeSent:
    _at_a_doorway(actor)
    channels: Channels = request.app.state.channels
    if channels.sms is None:
        raise StateConflict(
            "no SMS provider is configured: reports stay unconfirmed", PHONE_CODES_UNAVAILABLE
        )
    runtime, notify = await _ready(request), _notify(request)
    try:
        async with httpx.AsyncClient(timeout=notify.send_timeout_seconds) as client:
            sent = await phone_codes.send_code(
                runtime.engine,
                AliyunSmsChannel(channels.sms, client),
                contact_id=actor.id,
                phone=body.phone,
                keys=_keys(request),
                now=runtime.clock(),
                locale=notify.locale,
            )
    except phone_codes.TooSoon as soon:
        wait = {"Retry-After": str(soon.seconds)}
        raise Refusal(
            status.HTTP_429_TOO_MANY_REQUESTS, str(soon), RATE_LIMITED, headers=wait, seconds=soon.seconds
        ) from None
    except Undelivered as failed:
        log.warning("phone_code_undelivered", reason=str(failed))  # the provider's answer, never the phone
        raise HTTPException(
            status.HTTP_502_BAD_GATEWAY, "the SMS provider did not take the code: try again"
        ) from None
    return CodeSent(code_id=sent.code_id, expires_at=sent.expires_at)


@router.post(
    "/phone-codes/{code_id}/confirmation",
    summary="Check the code typed: a right one answers the confirmation the report carries (once)",
    response_model=Confirmation,
    dependencies=[Depends(CHECK_LIMIT)],
    responses=TOO_MANY,
)
async def confirm_code(code_id: IdInPath, body: TypedCode, request: Request, actor: Resident) -> Confirmation:
    _at_a_doorway(actor)
    runtime = await _ready(request)
    confirmation = await phone_codes.confirm_code(
        runtime.engine,
        contact_id=actor.id,
        code_id=code_id,
        typed=body.code,
        keys=_keys(request),
        now=runtime.clock(),
    )
    return Confirmation(confirmation=confirmation)


def _at_a_doorway(actor: Actor) -> None:
    """Codes confirm a reporter at a card's doorway: a household signed in otherwise is known already."""
    if actor.via != "card_qr":
        raise NotAllowed(
            "phone codes confirm a reporter at a service card's doorway (a token with via card_qr)"
        )


async def _ready(request: Request) -> ServiceRuntime:
    """The running service, with the codes' table made (once per app)."""
    runtime = runtime_of(request)
    if not getattr(request.app.state, "phone_codes_ready", False):
        await phone_codes.create_table(runtime.engine)
        request.app.state.phone_codes_ready = True
    return runtime


def _keys(request: Request) -> phone_codes.Keys:
    """The keys derived from the master key (once per app)."""
    state = request.app.state
    if not hasattr(state, "phone_code_keys"):
        master = runtime_of(request).settings.master_key_bytes()
        state.phone_code_keys = phone_codes.Keys(
            codes=codes_key(master), confirmations=confirmation_key(master)
        )
    keys: phone_codes.Keys = state.phone_code_keys
    return keys


def _notify(request: Request) -> NotifySettings:
    notify: NotifySettings = getattr(request.app.state, "notify", None) or NotifySettings()
    return notify
