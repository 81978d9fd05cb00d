"""Event contracts: versioned pydantic models with stable type names, and their upcasters."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from fourlinks_kernel.errors import UnknownEventType, UnsupportedSchemaVersion
from fourlinks_kernel.instants import FROM_THE_LOG

JsonDict = dict[str, Any]
Upcaster = Callable[[JsonDict], JsonDict]


class DomainEvent(BaseModel):
    """Base of every event contract.

    `event_type` is the stable name stored in history (never a Python path); `schema_version`
    is bumped on a breaking change, with an upcaster from the previous version. Fields named in
    `personal_fields` are encrypted with the key of the person whose id is in `data_subject_field`.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_type: ClassVar[str] = ""
    schema_version: ClassVar[int] = 1
    personal_fields: ClassVar[tuple[str, ...]] = ()
    data_subject_field: ClassVar[str | None] = None
    # On an erasure event: the field naming the person whose key was destroyed (every process
    # that reads the event forgets any copy of that key it holds).
    erased_person_field: ClassVar[str | None] = None

    def data_subject_id(self) -> str | None:
        """The id of the person whose key protects this event's personal fields."""
        if self.data_subject_field is None:
            return None
        value = getattr(self, self.data_subject_field)
        return None if value is None else str(value)


@dataclass
class EventRegistry:
    """Maps stable type names to contract classes, and old schema versions to upcasters."""

    _types: dict[str, type[DomainEvent]] = field(default_factory=dict)
    _upcasters: dict[tuple[str, int], Upcaster] = field(default_factory=dict)

    def register(self, *classes: type[DomainEvent]) -> None:
        """Make contract classes known; a type name may be registered once."""
        for cls in classes:
            if not cls.event_type:
                raise ValueError(f"{cls.__name__} has no event_type")
            known = self._types.get(cls.event_type)
            if known is not None and known is not cls:
                raise ValueError(f"event type {cls.event_type} registered twice")
            self._types[cls.event_type] = cls

    def register_upcaster(self, event_type: str, from_version: int, upcaster: Upcaster) -> None:
        """Add a pure function turning version `from_version` data into `from_version + 1`."""
        self._upcasters[(event_type, from_version)] = upcaster

    def extend(self, other: EventRegistry) -> None:
        """Take every type and upcaster of another registry."""
        self.register(*other._types.values())
        self._upcasters.update(other._upcasters)

    def knows(self, event_type: str) -> bool:
        """Whether a contract exists for the type name."""
        return event_type in self._types

    def contract(self, event_type: str) -> type[DomainEvent]:
        """The contract class for a type name, or a clear error."""
        try:
            return self._types[event_type]
        except KeyError:
            raise UnknownEventType(
                f"no contract for event type {event_type!r}; is this service older than the writer?"
            ) from None

    def event_types(self) -> Iterable[str]:
        """Every registered type name."""
        return self._types.keys()

    def upcast(self, event_type: str, version: int, data: JsonDict) -> JsonDict:
        """Bring stored data of any older schema version up to the current contract."""
        current = self.contract(event_type).schema_version
        if version > current:
            raise UnsupportedSchemaVersion(
                f"{event_type} v{version} is newer than this service understands (v{current})"
            )
        while version < current:
            upcaster = self._upcasters.get((event_type, version))
            if upcaster is None:
                raise UnsupportedSchemaVersion(f"no upcaster for {event_type} v{version}")
            data = upcaster(data)
            version += 1
        return data

    def load(self, event_type: str, version: int, data: JsonDict) -> DomainEvent:
        """Validate stored data (after upcasting) into its contract; a naive instant of an old
        event is read as UTC."""
        data = self.upcast(event_type, version, data)
        return self.contract(event_type).model_validate(data, context=FROM_THE_LOG)
