"""ISO 8601 durations (calendar time) and working-day durations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.sla.domain.calendar import WIB, WorkingCalendar
from services.sla.domain.durations import Duration, format_iso_duration, parse_iso_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PT30S", timedelta(seconds=30)),
        ("PT0.25S", timedelta(milliseconds=250)),
        ("PT1,5S", timedelta(seconds=1.5)),
        ("PT2M", timedelta(minutes=2)),
        ("PT1H", timedelta(hours=1)),
        ("P2D", timedelta(days=2)),
        ("P1W", timedelta(weeks=1)),
        ("P1DT2H3M4.5S", timedelta(days=1, hours=2, minutes=3, seconds=4.5)),
        ("PT0S", timedelta(0)),
    ],
)
def test_parses_days_and_smaller_units(text: str, expected: timedelta) -> None:
    assert parse_iso_duration(text) == expected


@pytest.mark.parametrize("text", ["P1M", "P1Y", "P1Y2D", "P1MT1H"])
def test_refuses_months_and_years(text: str) -> None:
    with pytest.raises(ValueError, match="months and years"):
        parse_iso_duration(text)


@pytest.mark.parametrize("text", ["", "P", "PT", "P1DT", "30S", "P-1D", "PT1.5M", "PT1S2H", "1H"])
def test_refuses_what_is_not_a_duration(text: str) -> None:
    with pytest.raises(ValueError):
        parse_iso_duration(text)


def test_calendar_time_ignores_the_working_calendar() -> None:
    saturday = datetime(2026, 3, 7, 3, 0, tzinfo=UTC)
    duration = Duration.of_calendar_time("PT30S")
    calendar = WorkingCalendar(WIB)
    assert duration.deadline(saturday, calendar) == saturday + timedelta(seconds=30)
    assert duration.after(saturday, calendar) == saturday + timedelta(seconds=30)
    assert not duration.in_working_days


def test_working_days_use_the_deadline_rule_and_working_time_after() -> None:
    calendar = WorkingCalendar(WIB)
    two = Duration.of_working_days(2)
    monday = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)
    assert two.deadline(monday, calendar) == datetime(2026, 3, 4, 17, 0, tzinfo=UTC)
    # From a deadline at the end of Friday, two working days later is the end of Tuesday.
    end_of_friday = datetime(2026, 3, 6, 17, 0, tzinfo=UTC)
    assert two.after(end_of_friday, calendar) == datetime(2026, 3, 10, 17, 0, tzinfo=UTC)


def test_a_duration_is_exactly_one_thing() -> None:
    with pytest.raises(ValueError):
        Duration()
    with pytest.raises(ValueError):
        Duration(working_days=1, calendar_time=timedelta(1))
    with pytest.raises(ValueError):
        Duration.of_working_days(-1)


def test_descriptions() -> None:
    assert Duration.of_working_days(1).describe() == "1 working day"
    assert Duration.of_working_days(14).describe() == "14 working days"
    assert format_iso_duration(parse_iso_duration("P1DT2H3M4.5S")) == "P1DT2H3M4.5S"
    assert format_iso_duration(timedelta(0)) == "PT0S"
