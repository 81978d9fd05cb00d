"""What the console's page tests read off a page and how they reach the services in this process:
the console's calls routed to the services' apps, the CSRF token of a form, the `data-figure`s a
page shows (a test module never imports another: the tests packages collide)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import httpx
from conftest import District

VOID = frozenset({"area", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"})


class Route(httpx.AsyncBaseTransport):
    """The console's calls to each service, to that service's app in this process."""

    def __init__(self, d: District) -> None:
        self._to: dict[str, httpx.AsyncBaseTransport] = {
            name: getattr(d, name)._transport for name in ("members", "assignments", "feedback")
        }

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.host not in self._to:  # the notifier does not run here
            return httpx.Response(503)
        return await self._to[request.url.host].handle_async_request(request)


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, page[:300]
    return found[1]


class Figures(HTMLParser):
    """Each `data-figure` on a page and what it reads: its `.value` inside, else all its text."""

    def __init__(self) -> None:
        super().__init__()
        self.found: dict[str, str] = {}
        self._open: list[tuple[str, int, list[str], list[str] | None]] = []
        self._depth = 0
        self._value_at: int | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in VOID:
            return
        self._depth += 1
        named = dict(attrs)
        if named.get("data-figure"):
            self._open.append((str(named["data-figure"]), self._depth, [], None))
        if "value" in (named.get("class") or "").split() and self._open:
            name, depth, text, _ = self._open[-1]
            self._open[-1] = (name, depth, text, [])
            self._value_at = self._depth

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        if self._value_at == self._depth:
            self._value_at = None
        if self._open and self._open[-1][1] == self._depth:
            name, _, text, value = self._open.pop()
            self.found[name] = " ".join(value if value is not None else text).strip()
        self._depth -= 1

    def handle_data(self, data: str) -> None:
        for _, _, text, value in self._open:
            text.append(data.strip())
            if value is not None and self._value_at is not None:
                value.append(data.strip())


def figures_of(page: httpx.Response) -> dict[str, str]:
    assert page.status_code == 200, page.text[:1000]
    parser = Figures()
    parser.feed(page.text)
    return {name: " ".join(text.split()) for name, text in parser.found.items()}
