"""The shapes of the notifier's answers."""

from __future__ import annotations

from fourlinks_notifications.projections.outbox import notices
from fourlinks_runtime.answers import page_of, row_model

NoticeItem = row_model(
    "NoticeItem",
    notices,
    doc="A notice: for whom (a member, a unit's secretaries, a household or enterprise by id), what it "
    "says (its kind and parameters), and how sending went (pending, sent, dead: given up after its "
    "attempts).",
    exclude=frozenset({"params", "correlation_id", "fresh_since"}),
    fields={"params": dict[str, str]},
)
NoticePage = page_of(NoticeItem)
