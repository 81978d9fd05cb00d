"""The API and event documentation pages, served with every asset from the service itself:
government networks are often offline, and pages loading scripts from a public CDN render blank.
Swagger UI (swagger-ui-dist 5.29.4: OpenAPI 3.1, which FastAPI writes) and the AsyncAPI viewer
(@asyncapi/react-component 3.1.5, standalone) are vendored from the npm registry under
static/vendor/ with their licences and SHA-256 sums (`npm pack swagger-ui-dist@5.29.4
@asyncapi/react-component@3.1.5`)."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

VENDOR = Path(__file__).parent / "static" / "vendor"
FAVICON = "/docs/assets/swagger-ui-favicon-32x32.png"
ASYNCAPI_JS = "/docs/assets/asyncapi-react-component-3.1.5.standalone.js"
ASYNCAPI_CSS = "/docs/assets/asyncapi-react-component-3.1.5.min.css"


def offline(page: str) -> str:
    """A documentation page with its icons from this service (FastStream's page links the
    AsyncAPI site's favicons)."""
    page = re.sub(r'\s*<link rel="icon"[^>]*https?://[^>]*>', "", page)
    return page.replace("<head>", f'<head>\n        <link rel="icon" href="{FAVICON}">', 1)


def install_docs(app: FastAPI) -> None:
    """/docs (Swagger UI) and the assets of /docs and /asyncapi, from this process (create the app with
    docs_url=None and redoc_url=None: FastAPI's own pages load from a CDN)."""
    app.mount("/docs/assets", StaticFiles(directory=str(VENDOR)), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} API",
            swagger_js_url="/docs/assets/swagger-ui-5.29.4-bundle.js",
            swagger_css_url="/docs/assets/swagger-ui-5.29.4.css",
            swagger_favicon_url=FAVICON,
        )
