"""SLA durations: whole working days, or an ISO 8601 duration in calendar time.

Calendar-time durations exist for tests and drills ("PT30S"): they ignore the
working calendar. Only days and smaller units are accepted (``PnW`` and
``PnDTnHnMnS``, fractional seconds allowed); months and years are refused
because their length depends on the start date.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from .calendar import WorkingCalendar

_ISO_DURATION = re.compile(
    r"P(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:[.,]\d+)?)S)?)?"
)
_MONTHS_OR_YEARS = re.compile(r"P(?:[^T]*[YM])")


def parse_iso_duration(text: str) -> timedelta:
    """Parse `PnW`, `PnDTnHnMnS` (any part optional, fractional seconds) into a timedelta."""
    if not isinstance(text, str):
        raise ValueError("an ISO 8601 duration must be a string such as 'PT30S'")
    value = text.strip().upper()
    if _MONTHS_OR_YEARS.match(value):
        raise ValueError(f"{text!r}: months and years are not allowed (their length varies)")
    match = _ISO_DURATION.fullmatch(value)
    if match is None or value in ("P", "PT") or value.endswith("T"):
        raise ValueError(f"{text!r} is not an ISO 8601 duration like 'PT30S' or 'P1DT2H'")
    parts = {name: float((raw or "0").replace(",", ".")) for name, raw in match.groupdict().items()}
    return timedelta(**parts)


def format_iso_duration(delta: timedelta) -> str:
    total = delta.total_seconds()
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    units = ((hours, "H"), (minutes, "M"), (seconds, "S"))
    time_part = "".join(f"{value:g}{unit}" for value, unit in units if value)
    text = "P" + (f"{days:g}D" if days else "") + (f"T{time_part}" if time_part else "")
    return text if text != "P" else "PT0S"


@dataclass(frozen=True)
class Duration:
    """Exactly one of `working_days` and `calendar_time` is set."""

    working_days: int | None = None
    calendar_time: timedelta | None = None

    def __post_init__(self) -> None:
        if (self.working_days is None) == (self.calendar_time is None):
            raise ValueError("a Duration is either working days or calendar time")
        if self.working_days is not None and self.working_days < 0:
            raise ValueError("working days cannot be negative")
        if self.calendar_time is not None and self.calendar_time < timedelta(0):
            raise ValueError("a duration cannot be negative")

    @classmethod
    def of_working_days(cls, days: int) -> Duration:
        return cls(working_days=days)

    @classmethod
    def of_calendar_time(cls, delta: timedelta | str) -> Duration:
        return cls(calendar_time=parse_iso_duration(delta) if isinstance(delta, str) else delta)

    @property
    def in_working_days(self) -> bool:
        return self.working_days is not None

    def deadline(self, start: datetime, calendar: WorkingCalendar) -> datetime:
        """When a stage started at `start` falls due (see calendar.py for the working-day rule)."""
        if self.working_days is not None:
            return calendar.add_working_days(start, self.working_days)
        assert self.calendar_time is not None
        return start.astimezone(UTC) + self.calendar_time

    def after(self, moment: datetime, calendar: WorkingCalendar) -> datetime:
        """`moment` plus this much working (or calendar) time: how escalation levels are spaced.

        Unlike `deadline` this does not round to the end of a day: from a deadline at
        24:00 on Tuesday, two working days later is 24:00 on Thursday.
        """
        if self.working_days is not None:
            return calendar.add_working_time(moment, timedelta(days=self.working_days))
        assert self.calendar_time is not None
        return moment.astimezone(UTC) + self.calendar_time

    def describe(self) -> str:
        if self.working_days is not None:
            return f"{self.working_days} working day{'s' if self.working_days != 1 else ''}"
        assert self.calendar_time is not None
        return format_iso_duration(self.calendar_time)
