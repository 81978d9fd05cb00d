"""Notices (通知) for secretaries: the dead letters of their unit — messages no channel took after
every attempt — sent again once the cause is fixed, what went out lately, and a household's
sign-in link sent to its phone."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from fourlinks_console.access import opening
from fourlinks_console.labels import Wanted, labels_for
from fourlinks_console.pages.search import is_id, picked, to_pick
from fourlinks_console.people import CheckedForm, CurrentPerson, Person
from fourlinks_console.services import ServiceRefused, Services, part
from fourlinks_console.web import pages_of, query, see_other

router = APIRouter()
RECENT = 20


@router.get("/notices", name="notices", dependencies=[opening("notices")])
async def notices_page(
    request: Request,
    person: CurrentPerson,
    *,
    unit: str | None = None,
    at: int | None = None,
    sent: str = "",
    household_id: str | None = None,
) -> Response:
    root = (unit or person.scope).strip("/")
    chosen = household_id if is_id(household_id) else None  # the search page's choice, to send to
    return await _render(request, person, root, at, link_sent=sent == "link", chosen=chosen)


async def _render(
    request: Request,
    person: Person,
    root: str,
    at: int | None,
    refused: tuple[str, ServiceRefused] | None = None,
    *,
    link_sent: bool = False,
    chosen: str | None = None,
) -> Response:
    services: Services = request.app.state.services
    dead = await services.get(
        person.token,
        "notifications",
        "/notices",
        {"unit": root, "state": "dead", "limit": 200},
        min_position=at,
    )
    recent = await services.get(
        person.token, "notifications", "/notices", {"unit": root, "state": "sent", "limit": RECENT}
    )
    reach = await services.get(person.token, "notifications", "/notices/reach", {})
    named = Wanted().trail(root).unit(*(n["org_unit"] for n in dead["items"])).household(chosen)
    return pages_of(request).render(
        request,
        "notices.html",
        {
            "unit": root,
            "labels": await labels_for(request, person, named),
            "dead": dead,
            "recent": recent,
            "reach": reach,
            "refused": refused,
            "link_sent": link_sent,
            "chosen": chosen,
        },
        status=refused[1].status if refused else 200,
    )


@router.post("/notices/{notice_id}/retry")
async def retry(request: Request, person: CurrentPerson, form: CheckedForm, notice_id: str) -> Response:
    """A dead letter goes round again (a full set of attempts)."""
    return await _sent(request, person, form, f"/notices/{part(notice_id)}/retry", refused_at=notice_id)


@router.post("/notices/sign-in-link")
async def sign_in_link(request: Request, person: CurrentPerson, form: CheckedForm) -> Response:
    """A household is sent the link its residents sign in with; words typed instead of choosing
    one go to the search page, to choose the household from what they find."""
    household, words = picked(form, "household_id")
    if not household and words:
        back = "/notices" + query(unit=form.get("unit") or person.scope) + "#sign-in-link"
        return to_pick(request, "household", words, back=back, field="household_id")
    path = f"/households/{part(household)}/sign-in-link"
    return await _sent(request, person, form, path, refused_at="sign-in-link", sent="link")


async def _sent(
    request: Request,
    person: Person,
    form: dict[str, str],
    path: str,
    *,
    refused_at: str,
    sent: str | None = None,
) -> Response:
    """Ask the notifier; back to the page at the answer's position, or the page with the refusal
    beside the form it came from."""
    root = form.get("unit") or person.scope
    services: Services = request.app.state.services
    try:
        answer = await services.send(person.token, "notifications", path, {})
    except ServiceRefused as refused:
        return await _render(request, person, root, None, (refused_at, refused))
    return see_other("/notices" + query(unit=root, at=answer.get("position"), sent=sent))
