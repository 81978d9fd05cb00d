"""Rendering pages: one Jinja environment per locale (its words installed), the locale a person
chose (a cookie; Chinese by default), and what every page template can use."""

from __future__ import annotations

from functools import cached_property, partial
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, PackageLoader, select_autoescape

from fourlinks_console.access import in_menu, may_open
from fourlinks_console.i18n import LOCALES, Language
from fourlinks_console.names import WITHHELD_MARKS
from fourlinks_console.people import CSRF_FIELD, CSRF_HEADER, csrf_token, signed_in
from fourlinks_contracts.service_matters import SERVICE_MATTERS, matter_label

LOCALE_COOKIE = "fourlinks_locale"


class Pages:
    """Renders templates in the locale of the request."""

    def __init__(self, timezone: str, default_locale: str) -> None:
        self._timezone = timezone
        self._default = default_locale

    @cached_property
    def _environments(self) -> dict[str, Environment]:
        return {locale: self._environment(Language.of(locale, self._timezone)) for locale in LOCALES}

    def _environment(self, language: Language) -> Environment:
        env = Environment(
            loader=PackageLoader("fourlinks_console", "templates"),
            autoescape=select_autoescape(default=True),
            extensions=["jinja2.ext.i18n"],
            trim_blocks=True,
            lstrip_blocks=True,
        )
        env.install_gettext_callables(language.gettext, language.ngettext, newstyle=True)  # type: ignore[attr-defined]
        env.globals.update(
            lang=language,
            csrf_field=CSRF_FIELD,
            csrf_header=CSRF_HEADER,
            query=query,
            withheld_marks=WITHHELD_MARKS,
            may_open=may_open,  # links and buttons: only to pages the reader's role opens
            in_menu=in_menu,
            service_matters=[(code, matter_label(code, language.locale)) for code in SERVICE_MATTERS],
        )
        env.filters.update(
            when=language.when,
            short=language.short,
            day=language.day,
            percent=language.percent,
            number=language.number,
            matter=partial(matter_label, language=language.locale),  # free text reads as "other"
        )
        return env

    def locale_of(self, request: Request) -> str:
        """The locale the person chose, else the default (Chinese)."""
        chosen = request.cookies.get(LOCALE_COOKIE, self._default)
        return chosen if chosen in LOCALES else self._default

    def language(self, request: Request) -> Language:
        """The words and formats of this request's locale."""
        return Language.of(self.locale_of(request), self._timezone)

    def render(
        self, request: Request, template: str, context: dict[str, Any] | None = None, *, status: int = 200
    ) -> HTMLResponse:
        """A page: the template with the person, the CSRF token and the request at hand."""
        env = self._environments[self.locale_of(request)]
        values = {
            "request": request,
            "person": signed_in(request),
            "csrf": csrf_token(request),
            "path": request.url.path,
            **(context or {}),
        }
        return HTMLResponse(env.get_template(template).render(values), status_code=status)


def query(**values: Any) -> str:
    """A query string from the values that are set (for links that keep the filters)."""
    kept = {k: v for k, v in values.items() if v not in (None, "", False)}
    return ("?" + urlencode(kept)) if kept else ""


def local_path(target: str | None, fallback: str = "/") -> str:
    """Where to go after a form: only a path on this console (never another site)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return fallback
    return target


def see_other(target: str) -> RedirectResponse:
    """After a form: go (GET) to the page that shows the result."""
    return RedirectResponse(target, status_code=303)


def pages_of(request: Request) -> Pages:
    """The app's renderer."""
    pages: Pages = request.app.state.pages
    return pages
