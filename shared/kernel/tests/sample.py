"""A tiny domain for testing the kernel: a notebook with notes and an owner's phone."""

from __future__ import annotations

from typing import ClassVar

from fourlinks_kernel.aggregate import Aggregate
from fourlinks_kernel.errors import StateConflict
from fourlinks_kernel.events import DomainEvent, EventRegistry


class NotebookOpened(DomainEvent):
    event_type: ClassVar[str] = "NotebookOpened"
    personal_fields: ClassVar[tuple[str, ...]] = ("owner_phone",)
    data_subject_field: ClassVar[str | None] = "owner_id"
    notebook_id: str
    owner_id: str
    owner_phone: str | None
    title: str


class NoteAdded(DomainEvent):
    event_type: ClassVar[str] = "NoteAdded"
    schema_version: ClassVar[int] = 2
    notebook_id: str
    text: str
    priority: int


def note_v1_to_v2(data: dict[str, object]) -> dict[str, object]:
    """v1 had no priority; old notes are normal priority."""
    return {**data, "priority": 1}


def sample_registry() -> EventRegistry:
    registry = EventRegistry()
    registry.register(NotebookOpened, NoteAdded)
    registry.register_upcaster("NoteAdded", 1, note_v1_to_v2)
    return registry


class Notebook(Aggregate):
    context: ClassVar[str] = "sample"
    aggregate_type: ClassVar[str] = "notebook"

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.notes: list[str] = []
        self.title = ""

    def open(self, *, owner_id: str, phone: str, title: str) -> None:
        if self.exists:
            raise StateConflict("already open")
        self._record(NotebookOpened(notebook_id=self.id, owner_id=owner_id, owner_phone=phone, title=title))

    def add(self, text: str, priority: int = 1) -> None:
        self._record(NoteAdded(notebook_id=self.id, text=text, priority=priority))

    def apply(self, event: DomainEvent) -> None:
        match event:
            case NotebookOpened(title=title):
                self.title = title
            case NoteAdded(text=text):
                self.notes.append(text)
