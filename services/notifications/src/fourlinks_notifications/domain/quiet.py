"""Quiet hours: no message goes out in them; what falls due waits for their end."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

_SPAN = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


@dataclass(frozen=True)
class QuietHours:
    """A daily span in local time, which may cross midnight ("22:00-07:00"); none when equal."""

    start: time
    end: time
    zone: ZoneInfo

    @classmethod
    def parse(cls, span: str, zone: str) -> QuietHours | None:
        """`HH:MM-HH:MM`, or an empty string for none; anything else is a configuration error."""
        if not span.strip():
            return None
        found = _SPAN.match(span)
        if found is None:
            raise ValueError(f"quiet hours {span!r}: write them as HH:MM-HH:MM, e.g. 22:00-07:00")
        h1, m1, h2, m2 = (int(part) for part in found.groups())
        if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
            raise ValueError(f"quiet hours {span!r}: hours are 00-23 and minutes 00-59")
        return cls(time(h1, m1), time(h2, m2), ZoneInfo(zone))

    def end_of(self, moment: datetime) -> datetime | None:
        """When the quiet hours holding `moment` end, or None if `moment` is outside them."""
        local = moment.astimezone(self.zone)
        clock = local.time().replace(tzinfo=None)
        if self.start == self.end:
            return None
        if self.start < self.end:
            inside = self.start <= clock < self.end
            day = local.date()
        else:
            inside = clock >= self.start or clock < self.end
            day = local.date() + timedelta(days=1) if clock >= self.start else local.date()
        if not inside:
            return None
        return datetime.combine(day, self.end, tzinfo=self.zone)
