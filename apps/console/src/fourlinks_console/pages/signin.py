"""Signing in and out: the deployment's identity provider (OpenID Connect, authorization code with
PKCE), or, only where switched on and never in production, a local page listing the district's
people by role (the embedded default)."""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

with warnings.catch_warnings():
    # authlib warns at import that its httpx client moves to httpx2; the Starlette client we use
    # works with httpx, which the console already depends on.
    import authlib.deprecate  # noqa: F401 - it installs an "always" filter; installed here, it is undone on exit

    warnings.simplefilter("ignore")
    from authlib.integrations.starlette_client import OAuth, OAuthError
from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.responses import Response

from fourlinks_console.i18n import Language
from fourlinks_console.names import N_
from fourlinks_console.people import CheckedForm, Person, sign_in, sign_out
from fourlinks_console.refusals import LIST_SEPARATOR
from fourlinks_console.services import Services
from fourlinks_console.settings import ConsoleSettings
from fourlinks_console.web import local_path, pages_of, see_other
from fourlinks_contracts.figures import city_of
from fourlinks_runtime.auth import issue_token
from fourlinks_runtime.rate_limits import RateLimit
from fourlinks_runtime.settings import Settings

SIGNIN_LIMIT = RateLimit("signing in", per_client=20, overall=600)
"""Sign-in attempts per client address a minute (and for the whole console process)."""
router = APIRouter()
LOCAL_HOURS = 8.0
READER = N_("%(place)s reader")
"""A local reader above the districts, named after their place (浙江省查看人员): the header adds
their level, so the name never says it again."""
WHOLE_PLACE = {"province": N_("Province-wide"), "city": N_("City-wide")}
"""A place the tables below do not name."""
PROVINCES = {"33": "浙江省"}
CITIES = {
    "3301": "杭州市",
    "3302": "宁波市",
    "3303": "温州市",
    "3304": "嘉兴市",
    "3305": "湖州市",
    "3306": "绍兴市",
    "3307": "金华市",
    "3308": "衢州市",
    "3309": "舟山市",
    "3310": "台州市",
    "3311": "丽水市",
}
"""Zhejiang's cities by the first four digits of their code (GB/T 2260), for the local readers."""
MEMBERS_LISTED = 12


@dataclass(frozen=True)
class Choice:
    """One person the local sign-in page offers."""

    key: str
    label: str
    role: str
    scope: str
    subject: str
    detail: str = ""
    """What the page shows after the label (a unit's path; a city's districts)."""


@router.get("/signin", name="signin")
async def signin_page(request: Request, next: str = "/") -> Response:
    settings: ConsoleSettings = request.app.state.console
    choices = await _local_choices(request) if settings.local_signin else []
    return pages_of(request).render(
        request,
        "signin.html",
        {
            "choices": choices,
            "oidc": settings.oidc_enabled,
            "next": local_path(next),
            "local": settings.local_signin,
            "above": settings.serves_province,
        },
    )


@router.post("/signin/local", dependencies=[Depends(SIGNIN_LIMIT)])
async def signin_local(request: Request, form: CheckedForm) -> Response:
    settings: ConsoleSettings = request.app.state.console
    if not settings.local_signin:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "local sign-in is not switched on here")
    chosen = {c.key: c for c in await _local_choices(request)}.get(form.get("who", ""))
    if chosen is None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, "choose one of the people listed")
    runtime: Settings = request.app.state.runtime
    token = issue_token(
        runtime,
        subject=chosen.subject,
        roles=[chosen.role],
        scope=chosen.scope,
        lifetime=timedelta(hours=LOCAL_HOURS),
    )
    person = Person(
        chosen.subject, chosen.label, (chosen.role,), chosen.scope, token, time.time() + LOCAL_HOURS * 3600
    )
    sign_in(request, person)
    return see_other(local_path(form.get("next")))


@router.post("/signout")
async def signout(request: Request, _: CheckedForm) -> Response:
    await sign_out(request)
    return see_other("/signin")


@router.get("/signin/oidc", dependencies=[Depends(SIGNIN_LIMIT)])
async def signin_oidc(request: Request, next: str = "/") -> Response:
    client = _identity_provider(request)
    request.session["after_signin"] = local_path(next)
    answer: Response = await client.authorize_redirect(request, str(request.url_for("oidc_callback")))
    return answer


@router.get("/signin/oidc/callback", name="oidc_callback", dependencies=[Depends(SIGNIN_LIMIT)])
async def oidc_callback(request: Request) -> Response:
    client = _identity_provider(request)
    try:
        token = await client.authorize_access_token(request)
    except OAuthError as exc:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, f"the identity provider refused: {exc.error}"
        ) from exc
    after = local_path(request.session.get("after_signin"))
    sign_in(request, person_from_claims(request.app.state.console, token))
    return see_other(after)


def person_from_claims(settings: ConsoleSettings, token: dict[str, Any]) -> Person:
    """The person an identity provider's answer describes (claims named in the settings)."""
    claims: dict[str, Any] = token.get("userinfo") or {}
    roles = claims.get(settings.oidc_roles_claim) or []
    if isinstance(roles, str):
        roles = roles.split()
    scope = str(claims.get(settings.oidc_scope_claim) or "")
    if not roles or not scope:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"your account has no Four Links roles or scope (claims {settings.oidc_roles_claim!r} and "
            f"{settings.oidc_scope_claim!r}); ask the administrator to grant them",
        )
    name = str(claims.get(settings.oidc_name_claim) or claims.get("sub"))
    expires = float(token.get("expires_at") or time.time() + 3600)
    return Person(
        str(claims["sub"]), name, tuple(str(r) for r in roles), scope, str(token["access_token"]), expires
    )


def _identity_provider(request: Request) -> Any:
    settings: ConsoleSettings = request.app.state.console
    if not settings.oidc_enabled:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no identity provider is configured here")
    oauth: OAuth | None = getattr(request.app.state, "oauth", None)
    if oauth is None:
        oauth = OAuth()
        oauth.register(
            "idp",
            server_metadata_url=settings.oidc_discovery_url,
            client_id=settings.oidc_client_id,
            client_secret=settings.oidc_client_secret.get_secret_value()
            if settings.oidc_client_secret
            else None,
            client_kwargs={"scope": "openid profile", "code_challenge_method": "S256"},
        )
        request.app.state.oauth = oauth
    return oauth.create_client("idp")


async def _local_choices(request: Request) -> list[Choice]:
    """The district's secretaries per unit, an inspector, an auditor, an administrator, and the
    first members: what someone trying the embedded system needs to see every page."""
    settings: ConsoleSettings = request.app.state.console
    runtime: Settings = request.app.state.runtime
    if settings.serves_province:
        return await _readers_above(request, settings, runtime)
    district = settings.district
    lister = issue_token(
        runtime,
        subject="console-local-signin",
        roles=["administrator"],
        scope=district,
        lifetime=timedelta(minutes=5),
    )
    services: Services = request.app.state.services
    units = await services.get(lister, "members", "/org-units", {"unit": district})
    members = await services.get(lister, "members", "/members", {"unit": district, "limit": MEMBERS_LISTED})
    choices = [
        Choice(
            f"secretary:{u['path']}",
            u["name"],
            "secretary",
            u["path"],
            f"secretary-{u['path'].replace('/', '-')}",
            u["path"],
        )
        for u in units
        if u["level"] in {"district", "street", "community"}
    ]
    top = next((u["name"] for u in units if u["path"] == district), district)
    for role in ("inspector", "auditor", "administrator"):
        choices.append(Choice(f"{role}:{district}", top, role, district, f"{role}-{district}", district))
    choices += [
        Choice(f"member:{m['member_id']}", m["name"], "member", m["org_unit"], m["member_id"], m["org_unit"])
        for m in members["items"]
    ]
    return choices


async def _readers_above(request: Request, settings: ConsoleSettings, runtime: Settings) -> list[Choice]:
    """A province's console: a reader of the whole province, and one of each city among the
    districts the province service follows (named after the city, its districts listed after)."""
    province = settings.province_code
    lister = issue_token(
        runtime,
        subject="console-local-signin",
        roles=["province"],
        scope=province,
        lifetime=timedelta(minutes=5),
    )
    services: Services = request.app.state.services
    districts = await services.get(lister, "province", "/districts")
    language = pages_of(request).language(request)
    cities: dict[str, list[str]] = {}
    for district in districts:
        cities.setdefault(city_of(str(district["code"])), []).append(str(district["name"]))
    whole = reader_name(language, "province", province)
    choices = [Choice(f"province:{province}", whole, "province", province, f"province-{province}")]
    for city, names in sorted(cities.items()):
        listed = language.gettext(LIST_SEPARATOR).join(names)
        label = reader_name(language, "city", city)
        choices.append(Choice(f"city:{city}", label, "city", city, f"city-{city}", listed))
    return choices


def reader_name(language: Language, level: str, code: str) -> str:
    """A local reader's name: their province's or city's name where known (杭州市查看人员)."""
    known = PROVINCES.get(code[:2]) if level == "province" else CITIES.get(code[:4])
    return language.gettext(READER) % {"place": known or language.gettext(WHOLE_PLACE[level])}
