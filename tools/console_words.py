"""What a person must not read on a console page or in a file it offers: a UUID or an id's
prefix, an org-unit path, a code of a category, state or role, two English words in a row, a raw
payload. Shared by the browser walk (tests/test_console_walk.py) and the console's own page tests
(a test module never imports another)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from fourlinks_console import names
from fourlinks_contracts.service_matters import SERVICE_MATTERS

# -- what a person must not read --------------------------------------------------------------------
_A, _Z = r"(?<![A-Za-z0-9_])", r"(?![A-Za-z0-9_])"  # ASCII word edges (a CJK character is no letter here)
UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
ID_PREFIX = re.compile(r"(?<![0-9A-Za-z-])(?=[0-9]*[a-f])[0-9a-f]{8}(?![0-9A-Za-z-])")
ORG_PATH = re.compile(_A + r"(?:yuhang|[a-z]+[0-9]+(?:/[a-z]+[0-9]+)+)" + _Z + r"|/[a-z]+[0-9]+" + _Z)
PAYLOAD = re.compile(r'\{"|": |: None|_id:|' + _A + r"(?:None|True|False|null)" + _Z)
ENGLISH = re.compile(r"[A-Za-z][A-Za-z'’-]*(?:[ ,;:]+[A-Za-z][A-Za-z'’-]*)+")  # two words or more


def _codes() -> list[str]:
    """Every code people must see as a word: the service matters' (and their English labels), and
    each word names.py marks for a page to translate (states, roles, reasons, kinds, event types)."""
    marked = (v for value in vars(names).values() if isinstance(value, list) for v in value)
    words = {
        *SERVICE_MATTERS,
        *(matter.en for matter in SERVICE_MATTERS.values()),
        *(v for v in marked if isinstance(v, str) and re.fullmatch(r"[A-Za-z_]+", v)),
    }
    return sorted(words, key=len, reverse=True)


CODE = re.compile(_A + "(?:" + "|".join(map(re.escape, _codes())) + ")" + _Z)
UNREADABLE = {
    "UUID": UUID,
    "id prefix": ID_PREFIX,
    "org-unit path": ORG_PATH,
    "code": CODE,
    "raw payload": PAYLOAD,
    "English words": ENGLISH,
}


def unreadable(text: str) -> list[str]:
    """What in the text a Chinese reader should not meet, each with a little of its context."""
    found = []
    for what, pattern in UNREADABLE.items():
        for hit in pattern.finditer(text):
            context = text[max(hit.start() - 15, 0) : hit.end() + 15].replace("\n", " ")
            found.append(f"{what} {hit.group()!r} in …{context}…")
    return found


class _Shown(HTMLParser):
    """The text a person reads on a page as served: its text (never a script's or a style's), and
    the names of its controls and pictures."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._hidden += tag in ("script", "style")
        self.parts += [v for k, v in attrs if k in ("aria-label", "title", "alt", "placeholder") and v]

    def handle_endtag(self, tag: str) -> None:
        self._hidden -= tag in ("script", "style")

    def handle_data(self, data: str) -> None:
        if not self._hidden and data.strip():
            self.parts.append(data.strip())


def shown(html: str) -> str:
    """What a person reads on a page, from its HTML (for tests without a browser)."""
    parser = _Shown()
    parser.feed(html)
    return "\n".join(parser.parts)
