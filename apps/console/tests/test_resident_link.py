"""What the console reads from a resident's sign-in link before a service checks it."""

from __future__ import annotations

import base64
import json
import time

from fourlinks_console.pages.residents import _claims


def token_with(claims: dict[str, object]) -> str:
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"header.{payload}.signature"


def test_a_link_names_its_household_until_it_expires() -> None:
    later = time.time() + 3600
    assert _claims(token_with({"sub": "h-1", "roles": ["resident"], "exp": later})) == {
        "sub": "h-1",
        "roles": ["resident"],
        "exp": later,
    }
    assert _claims(token_with({"sub": "h-1", "exp": time.time() - 1})) is None  # expired
    assert _claims(token_with({"roles": ["resident"], "exp": later})) is None  # nobody
    assert _claims("not-a-token") is None
    assert _claims("a.%%%.c") is None
    assert _claims(token_with([1, 2])) is None  # type: ignore[arg-type]
