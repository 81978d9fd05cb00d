"""Text bound for a spreadsheet: a cell a person typed is shown, never run as a formula."""

from __future__ import annotations

from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")
"""What a spreadsheet program reads as the start of a formula (or slips past its check)."""


def is_formula_like(value: Any) -> bool:
    """Whether a spreadsheet would take this text for a formula."""
    return isinstance(value, str) and value.startswith(FORMULA_STARTS)


def inert(value: Any) -> Any:
    """The value for a CSV cell: formula-like text gets a leading apostrophe (shown, not run)."""
    return f"'{value}" if is_formula_like(value) else value
