"""The console's web application: sessions, security headers, its own static files (nothing is
loaded from another site: government networks are often offline), pages, and error pages that
say what to do."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import nats.errors
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from nats.aio.client import Client
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fourlinks_console.metrics import ConsoleMetrics, page_timer
from fourlinks_console.pages import (
    callbacks,
    cards,
    categories,
    contacts,
    coverage,
    doorway,
    downloads,
    history,
    home,
    imports,
    inbox,
    kpis,
    members,
    mine,
    notices,
    party_days,
    province,
    report,
    residents,
    search,
    signin,
    tasks,
)
from fourlinks_console.people import SignInNeeded
from fourlinks_console.services import ServiceRefused, Services, ServiceUnavailable
from fourlinks_console.sessions import (
    MemorySessions,
    NatsSessions,
    ServerSessions,
    Sessions,
    SessionStoreUnavailable,
)
from fourlinks_console.settings import ConsoleSettings
from fourlinks_console.uploads import PHOTO_FORM_BYTES
from fourlinks_console.web import LOCALE_COOKIE, Pages, local_path, pages_of, query, see_other
from fourlinks_runtime.app import RequestTimer
from fourlinks_runtime.auth import RevokedTokens
from fourlinks_runtime.edge import BodyLimit
from fourlinks_runtime.errors import Refusal, invalid_fields
from fourlinks_runtime.natsconn import NatsUnreachable, connect
from fourlinks_runtime.settings import Settings
from fourlinks_runtime.upstate import read_state

log = structlog.get_logger(__name__)
SESSION_COOKIE = "fourlinks_console"
NATS_WAIT_SECONDS = 10.0
SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
]
FAILED_PAGE = (
    '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
    '<meta name="viewport" content="width=device-width, initial-scale=1"><title>出错了 · 四联</title></head>'
    "<body><main><h1>出错了</h1><p>系统出了问题，您的操作可能没有完成。请稍后再试。</p>"
    '<p><a href="/">返回首页</a></p>'
    "</main></body></html>"
)
"""The 500 page when even the page could not be drawn (the sessions' store away, say)."""
TOO_LARGE_PAGE = (
    '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
    '<meta name="viewport" content="width=device-width, initial-scale=1">'
    "<title>提交的内容过大 · 四联</title></head>"
    "<body><main><h1>提交的内容过大</h1><p>提交的内容超过了 {limit} 字节的上限。"
    "请减少照片或文字后再试。</p>"
    '<p><a href="/">返回首页</a></p></main></body></html>'
)


class FormLimit(BodyLimit):
    """The services' limit on a request's body, answered as a page: a browser sent the form."""

    async def _refuse(self, send: Send, limit: int) -> None:
        body = TOO_LARGE_PAGE.format(limit=limit).encode()
        headers = [
            (b"content-type", b"text/html; charset=utf-8"),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


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
    metrics = ConsoleMetrics()
    services = Services(settings, metrics=metrics)
    sessions = Sessions(
        store=MemorySessions(),
        secret=settings.session_secret_value(runtime.var_dir),
        idle_seconds=settings.session_idle_minutes * 60,
        absolute_seconds=settings.session_hours * 3600,
        cookie=SESSION_COOKIE,
        secure=settings.secure_cookies,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        nc = await _with_nats(app, settings, runtime, sessions)
        yield
        await services.aclose()
        if nc is not None:
            with contextlib.suppress(nats.errors.Error):
                await nc.close()

    app = FastAPI(
        title="Four Links console", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan
    )
    app.state.console = settings
    app.state.runtime = runtime
    app.state.services = services
    app.state.metrics = metrics
    app.state.pages = Pages(runtime.timezone, settings.default_locale)
    app.state.sessions = sessions
    app.state.revocations = None  # sign-out revokes tokens once the console has a NATS
    app.add_middleware(ServerSessions, sessions=sessions)
    # A form's size, as the services hold theirs; a resident's feedback may carry photos.
    with_photos = {
        "/r/feedback": PHOTO_FORM_BYTES,
        "/d/{link}/report": PHOTO_FORM_BYTES,
        "/tasks/{task_id}/do/{action}": PHOTO_FORM_BYTES,
        "/import": imports.ROSTER_FORM_BYTES,  # a district's roster
    }
    app.add_middleware(FormLimit, limit=runtime.max_body_bytes, larger=with_photos)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(RequestTimer, observe=page_timer(app))
    app.mount("/static", StaticFiles(packages=[("fourlinks_console", "static")]), name="static")
    pages = (
        signin,
        home,
        mine,
        residents,
        doorway,
        coverage,
        members,
        cards,
        tasks,
        kpis,
        callbacks,
        inbox,
        categories,
        report,
        notices,
        party_days,
        history,
        downloads,
        imports,
        search,
        contacts,
        province,
    )
    for module in pages:
        app.include_router(module.router)
    _health(app)
    _metrics(app)
    _locale_switch(app)
    _error_pages(app)
    return app


def knows_nats(settings: ConsoleSettings, runtime: Settings) -> bool:
    """Whether the console uses a NATS: named in its settings, or the one `fourlinks up` runs."""
    if settings.session_store == "nats":
        return True
    return "nats_url" in runtime.model_fields_set or read_state(runtime.var_dir) is not None


async def _with_nats(
    app: FastAPI, settings: ConsoleSettings, runtime: Settings, sessions: Sessions
) -> Client | None:
    """Where the console knows a NATS: sign-out revokes tokens there, and (unless the settings
    keep them in memory) sessions are kept there for every replica. Without one, or when `auto`
    cannot use it, sessions stay in this process and the log says why."""
    if not knows_nats(settings, runtime):
        if settings.environment == "production":
            log.warning(
                "sessions_in_memory",
                reason="no FOURLINKS_NATS_URL: right for one console process only; sign-out revokes no token",
            )
        return None
    try:
        nc = await connect(runtime, name="fourlinks-console", within=NATS_WAIT_SECONDS)
    except (NatsUnreachable, nats.errors.Error) as exc:
        if settings.session_store == "nats":
            raise
        log.error("console_without_nats", error=str(exc) or type(exc).__name__, sessions="memory")
        return None
    app.state.revocations = RevokedTokens(nc, runtime.revoked_bucket)
    if settings.session_store != "memory":
        try:
            sessions.store = await NatsSessions.open(nc, runtime.console_sessions_bucket)
        except SessionStoreUnavailable as exc:
            if settings.session_store == "nats":
                await nc.close()
                raise
            log.error("sessions_in_memory", error=str(exc))
    return nc


def _health(app: FastAPI) -> None:
    @app.get("/health/live", include_in_schema=False)
    async def live() -> dict[str, str]:
        return {"status": "live"}

    @app.get("/health/ready", include_in_schema=False)
    async def ready(request: Request) -> JSONResponse:
        """Ready when the three services answer (the console can do nothing without them); a
        province's console, when the province service does."""
        services: Services = request.app.state.services
        missing = [f"{name} not answering" for name in await services.unreachable()]
        return JSONResponse({"missing": missing}, status_code=503 if missing else 200)


def _metrics(app: FastAPI) -> None:
    @app.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        """Prometheus text: the pages' and the calls' durations (on the internal network only:
        the Ingress refuses /metrics, as it does the services')."""
        registry = request.app.state.metrics.registry
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


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

    @app.exception_handler(HTTPException)  # Starlette's: its router's 404 and 405 too
    async def http_error(request: Request, exc: HTTPException) -> Response:
        if request.url.path.startswith("/static/"):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)
        if exc.status_code == 404:
            return pages_of(request).render(request, "not_found.html", {}, status=404)
        problem = ServiceRefused(exc.status_code, str(exc.detail))  # the console's own words
        if isinstance(exc, Refusal):  # a rate limit, say
            problem.code, problem.params = exc.code.name, dict(exc.params)
        elif exc.status_code == 405:
            problem.code = "method_not_allowed"
        return pages_of(request).render(
            request, "refused.html", {"refused": problem, "back": None}, status=exc.status_code
        )

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        wrong = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in exc.errors())
        fields = invalid_fields(exc.errors())
        problem = ServiceRefused(422, wrong, code="invalid_input", params={"fields": fields})
        return pages_of(request).render(
            request, "refused.html", {"refused": problem, "back": None}, status=422
        )

    @app.exception_handler(Exception)
    async def failed(request: Request, exc: Exception) -> Response:
        """Anything unexpected: a page in the reader's language, never a trace or raw text (the
        error itself is logged by the server as it goes on)."""
        try:
            page = pages_of(request).render(request, "failed.html", {}, status=500)
        except Exception:  # the page of last resort may not fail in turn
            page = HTMLResponse(FAILED_PAGE, status_code=500)
        page.headers.update({name.decode(): value.decode() for name, value in SECURITY_HEADERS})
        return page
