"""The Indonesian working calendar that SLA deadlines are counted in.

A *working day* is a Monday to Friday, judged in the agency's local time zone
(WIB ``Asia/Jakarta``, WITA ``Asia/Makassar``, WIT ``Asia/Jayapura``), that is
neither a national holiday nor a *cuti bersama* (joint leave day) listed by the
``holidays`` package (country ``ID``, categories ``public`` and ``government``),
nor one of the policy's extra closed days.

Deadline rule (``add_working_days``)
    A deadline of N working days from moment t is the end (24:00 local time,
    i.e. 00:00 of the following day) of the N-th working day strictly after the
    local date of t. A complaint received at any time on a Monday with N=1 is
    due at the end of Tuesday (when Tuesday is a working day); received on a
    Saturday, N=1, it is due at the end of Monday. N=0 means the end of the
    local date of t itself, working day or not.

Working time (``add_working_time``, ``working_time_between``)
    Every instant of a working day (all 24 hours) is working time; every instant
    of a closed day is not. Pauses and escalation intervals are measured in it,
    so a weekend in the middle of a pause does not lengthen a deadline.

Every moment returned is an aware datetime in UTC.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import holidays

WIB = "Asia/Jakarta"
WITA = "Asia/Makassar"
WIT = "Asia/Jayapura"
DEFAULT_TIMEZONE = WIB

_ONE_DAY = timedelta(days=1)
MEMO_SIZE = 4096
"""Answers a calendar keeps (then it starts afresh): deadlines depend on a start's local
date only, and escalation levels are counted from deadlines, which fall on day
boundaries, so the same few questions come again for every case of a day."""
_SATURDAY = 5


@cache
def national_closed_days(year: int) -> frozenset[date]:
    """National holidays and cuti bersama of one year (cached: the package builds them slowly)."""
    days = holidays.country_holidays("ID", years=year, categories=("public", "government"))
    return frozenset(days.keys())


def warm_up(today: date) -> None:
    """Build this year's and next year's closed days now (at start-up): building one year
    takes the `holidays` package about 75 ms, which the first complaints' clocks would
    otherwise wait for (4.8 % of the SLA watcher's CPU in a full-load run of 10,000)."""
    for year in (today.year, today.year + 1):
        national_closed_days(year)


def _require_aware(moment: datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"a naive datetime has no place on a calendar: {moment!r}")


class WorkingCalendar:
    """Working days of one time zone; see the module docstring for the exact rules."""

    def __init__(self, timezone: str, extra_closed_days: Iterable[date] = ()) -> None:
        self.timezone = timezone
        self._zone = ZoneInfo(timezone)
        self._extra_closed = frozenset(extra_closed_days)
        self._memo: dict[tuple[object, object], datetime] = {}

    def _remember(self, key: tuple[object, object], answer: datetime) -> datetime:
        if len(self._memo) >= MEMO_SIZE:
            self._memo.clear()
        self._memo[key] = answer
        return answer

    def __repr__(self) -> str:
        return f"WorkingCalendar({self.timezone!r}, extra_closed_days={len(self._extra_closed)})"

    def is_working_day(self, day: date) -> bool:
        if day.weekday() >= _SATURDAY or day in self._extra_closed:
            return False
        return day not in national_closed_days(day.year)

    def local_date(self, moment: datetime) -> date:
        _require_aware(moment)
        return moment.astimezone(self._zone).date()

    def start_of(self, day: date) -> datetime:
        """00:00 local time of `day`, in UTC."""
        return datetime.combine(day, time(), tzinfo=self._zone).astimezone(UTC)

    def end_of(self, day: date) -> datetime:
        """24:00 local time of `day` (00:00 of the next day), in UTC."""
        return self.start_of(day + _ONE_DAY)

    def add_working_days(self, start: datetime, n: int) -> datetime:
        """The end of the n-th working day strictly after the local date of `start`."""
        if n < 0:
            raise ValueError("a number of working days cannot be negative")
        day = self.local_date(start)
        known = self._memo.get((day, n))
        if known is not None:
            return known
        key, left = (day, n), n
        while left > 0:
            day += _ONE_DAY
            if self.is_working_day(day):
                left -= 1
        return self._remember(key, self.end_of(day))

    def add_working_time(self, start: datetime, amount: timedelta) -> datetime:
        """The earliest moment by which `amount` of working time has passed since `start`."""
        _require_aware(start)
        if amount < timedelta(0):
            raise ValueError("an amount of working time cannot be negative")
        cursor = start.astimezone(UTC)
        if amount == timedelta(0):
            return cursor
        key = (cursor, amount)
        known = self._memo.get(key)
        if known is not None:
            return known
        day = self.local_date(cursor)
        remaining = amount
        while True:
            day_end = self.end_of(day)
            if self.is_working_day(day):
                available = day_end - cursor
                if remaining <= available:
                    return self._remember(key, cursor + remaining)
                remaining -= available
            cursor, day = day_end, day + _ONE_DAY

    def working_time_between(self, start: datetime, end: datetime) -> timedelta:
        """How much working time lies between two moments (zero when `end` is not later)."""
        _require_aware(start)
        _require_aware(end)
        cursor, end = start.astimezone(UTC), end.astimezone(UTC)
        total = timedelta(0)
        day = self.local_date(cursor)
        while cursor < end:
            day_end = min(self.end_of(day), end)
            if self.is_working_day(day):
                total += day_end - cursor
            cursor, day = day_end, day + _ONE_DAY
        return total


class Calendars:
    """One WorkingCalendar per time zone, all sharing the policy's extra closed days."""

    def __init__(self, extra_closed_days: Iterable[date] = ()) -> None:
        self._extra_closed = frozenset(extra_closed_days)
        self._by_zone: dict[str, WorkingCalendar] = {}

    def __call__(self, timezone: str) -> WorkingCalendar:
        calendar = self._by_zone.get(timezone)
        if calendar is None:
            calendar = self._by_zone[timezone] = WorkingCalendar(timezone, self._extra_closed)
        return calendar
