"""The console's web application: sessions, security headers, its own static files (nothing is
loaded from another site: government networks are often offline), pages, and error pages that
say what to do."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fourlinks_console.pages import (
    callbacks,
    coverage,
    downloads,
    history,
    home,
    kpis,
    members,
    mine,
    notices,
    party_days,
    residents,
    signin,
    tasks,
)
from fourlinks_console.people import SignInNeeded
from fourlinks_console.services import ServiceRefused, Services, ServiceUnavailable
from fourlinks_console.settings import ConsoleSettings
from fourlinks_console.uploads import PHOTO_FORM_BYTES
from fourlinks_console.web import LOCALE_COOKIE, Pages, local_path, pages_of, query, see_other
from fourlinks_runtime.edge import BodyLimit
from fourlinks_runtime.settings import Settings

SESSION_COOKIE = "fourlinks_console"
SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
]


class SecurityHeaders:
    """Every answer: scripts, styles and forms only from this console, never framed."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, with_headers)


def create_app(settings: ConsoleSettings | None = None, runtime: Settings | None = None) -> FastAPI:
    """The console, configured from the environment unless settings are given."""
    settings = settings or ConsoleSettings()
    runtime = runtime or Settings()
    services = Services(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await services.aclose()

    app = FastAPI(
        title="Four Links console", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan
    )
    app.state.console = settings
    app.state.runtime = runtime
    app.state.services = services
    app.state.pages = Pages(runtime.timezone, settings.default_locale)
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.session_secret_value(runtime.var_dir),
        session_cookie=SESSION_COOKIE,
        max_age=int(settings.session_hours * 3600),
        same_site="lax",
        https_only=settings.secure_cookies,
    )
    # A form's size, as the services hold theirs; a resident's feedback may carry photos.
    with_photos = {"/r/feedback": PHOTO_FORM_BYTES, "/tasks/{task_id}/do/{action}": PHOTO_FORM_BYTES}
    app.add_middleware(BodyLimit, limit=runtime.max_body_bytes, larger=with_photos)
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(packages=[("fourlinks_console", "static")]), name="static")
    pages = (
        signin,
        home,
        mine,
        residents,
        coverage,
        members,
        tasks,
        kpis,
        callbacks,
        notices,
        party_days,
        history,
        downloads,
    )
    for module in pages:
        app.include_router(module.router)
    _health(app)
    _locale_switch(app)
    _error_pages(app)
    return app


def _health(app: FastAPI) -> None:
    @app.get("/health/live", include_in_schema=False)
    async def live() -> dict[str, str]:
        return {"status": "live"}

    @app.get("/health/ready", include_in_schema=False)
    async def ready(request: Request) -> JSONResponse:
        """Ready when the three services answer (the console can do nothing without them)."""
        services: Services = request.app.state.services
        missing = [f"{name} not answering" for name in await services.unreachable()]
        return JSONResponse({"missing": missing}, status_code=503 if missing else 200)


def _locale_switch(app: FastAPI) -> None:
    @app.get("/locale/{locale}", name="locale")
    async def switch(locale: str, next: str = "/") -> Response:
        answer = see_other(local_path(next))
        if locale in ("zh_CN", "en"):
            answer.set_cookie(LOCALE_COOKIE, locale, max_age=365 * 86400, samesite="lax", httponly=True)
        return answer


def _error_pages(app: FastAPI) -> None:
    @app.exception_handler(SignInNeeded)
    async def to_signin(request: Request, exc: SignInNeeded) -> Response:
        if exc.wanted.startswith("/r/"):  # a resident signs in only through a link sent to them
            return pages_of(request).render(request, "resident_link.html", {}, status=401)
        if request.method != "GET":
            return see_other("/signin")
        return see_other("/signin" + query(next=exc.wanted))

    @app.exception_handler(ServiceRefused)
    async def refused(request: Request, exc: ServiceRefused) -> Response:
        return pages_of(request).render(
            request, "refused.html", {"refused": exc, "back": None}, status=exc.status
        )

    @app.exception_handler(ServiceUnavailable)
    async def unavailable(request: Request, exc: ServiceUnavailable) -> Response:
        return pages_of(request).render(request, "unavailable.html", {"service": exc.service}, status=503)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        if request.url.path.startswith("/static/"):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)
        problem = ServiceRefused(exc.status_code, str(exc.detail))
        return pages_of(request).render(
            request, "refused.html", {"refused": problem, "back": None}, status=exc.status_code
        )

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        wrong = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in exc.errors())
        problem = ServiceRefused(422, wrong)
        return pages_of(request).render(
            request, "refused.html", {"refused": problem, "back": None}, status=422
        )
