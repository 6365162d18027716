"""The working calendar over real Indonesian dates (holidays package, 2025-2027)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from services.sla.domain.calendar import (
    WIB,
    WIT,
    WITA,
    Calendars,
    WorkingCalendar,
    national_closed_days,
    warm_up,
)

WIB_OFFSET = timezone(timedelta(hours=7))


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def wib(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=WIB_OFFSET)


@pytest.fixture(scope="module")
def jakarta() -> WorkingCalendar:
    return WorkingCalendar(WIB)


def test_idul_fitri_2025_and_its_cuti_bersama_are_closed(jakarta: WorkingCalendar) -> None:
    closed = [date(2025, 3, 28), date(2025, 3, 31), date(2025, 4, 1), date(2025, 4, 2),
              date(2025, 4, 3), date(2025, 4, 4), date(2025, 4, 7)]
    assert not any(jakarta.is_working_day(day) for day in closed)
    assert jakarta.is_working_day(date(2025, 4, 8))


def test_three_working_days_from_28_march_2025_end_on_10_april(jakarta: WorkingCalendar) -> None:
    # Fri 28 Mar is itself cuti bersama (Nyepi); then Idul Fitri 31 Mar-1 Apr, cuti bersama
    # 2-4 and 7 Apr: the working days after 28 Mar are 8, 9, 10 April.
    due = jakarta.add_working_days(wib(2025, 3, 28, 10, 0), 3)
    assert due == utc(2025, 4, 10, 17, 0)  # 24:00 WIB on Thursday 10 April


def test_idul_fitri_2026_dates_from_the_holidays_package(jakarta: WorkingCalendar) -> None:
    days = national_closed_days(2026)
    # Nyepi 18 (cuti bersama)-19 Mar, Idul Fitri 20 (cuti bersama), 21-22, 23-24 (cuti bersama).
    week = {date(2026, 3, d) for d in range(18, 25)}
    assert week <= days
    # Tuesday 17 March + 1 working day: the whole of 18-24 March is closed.
    assert jakarta.add_working_days(wib(2026, 3, 17, 10, 0), 1) == utc(2026, 3, 25, 17, 0)


def test_christmas_2025_with_cuti_bersama_on_26_december(jakarta: WorkingCalendar) -> None:
    assert not jakarta.is_working_day(date(2025, 12, 25))
    assert not jakarta.is_working_day(date(2025, 12, 26))
    start = wib(2025, 12, 24, 9, 0)
    assert jakarta.add_working_days(start, 1) == utc(2025, 12, 29, 17, 0)  # Mon 29 Dec
    assert jakarta.add_working_days(start, 3) == utc(2025, 12, 31, 17, 0)  # Wed 31 Dec
    assert jakarta.add_working_days(start, 4) == utc(2026, 1, 2, 17, 0)  # 1 Jan is closed


def test_christmas_2026_cuti_bersama_falls_on_24_december(jakarta: WorkingCalendar) -> None:
    # 26 Dec 2026 is a Saturday: the package puts the joint holiday on Thursday 24 Dec.
    assert {date(2026, 12, 24), date(2026, 12, 25)} <= national_closed_days(2026)
    assert jakarta.add_working_days(wib(2026, 12, 23, 15, 0), 1) == utc(2026, 12, 28, 17, 0)


def test_deadline_crosses_the_ascension_long_weekend_2025(jakarta: WorkingCalendar) -> None:
    # Thu 29 May Ascension, Fri 30 May cuti bersama, weekend with Pancasila Day on Sunday.
    due = jakarta.add_working_days(wib(2025, 5, 28, 16, 0), 2)
    assert due == utc(2025, 6, 3, 17, 0)  # end of Tuesday 3 June


def test_independence_day_2027_and_estimated_idul_fitri_2027(jakarta: WorkingCalendar) -> None:
    assert not jakarta.is_working_day(date(2027, 8, 17))
    # Fri 5 Mar 2027 + 1: Mon 8 (Nyepi), 9-12 (Idul Fitri + cuti bersama), Mon 15 closed.
    assert jakarta.add_working_days(wib(2027, 3, 5, 9, 0), 1) == utc(2027, 3, 16, 17, 0)


def test_monday_plus_one_is_end_of_tuesday_whatever_the_hour(jakarta: WorkingCalendar) -> None:
    for hour in (0, 8, 23):
        assert jakarta.add_working_days(wib(2026, 3, 2, hour, 0), 1) == utc(2026, 3, 3, 17, 0)


def test_saturday_plus_one_is_end_of_monday(jakarta: WorkingCalendar) -> None:
    assert jakarta.add_working_days(wib(2026, 3, 7, 11, 0), 1) == utc(2026, 3, 9, 17, 0)


def test_zero_working_days_is_the_end_of_the_same_local_day(jakarta: WorkingCalendar) -> None:
    assert jakarta.add_working_days(wib(2026, 3, 7, 11, 0), 0) == utc(2026, 3, 7, 17, 0)


def test_wita_agency_judges_the_day_in_its_own_time_zone() -> None:
    moment = utc(2026, 3, 2, 16, 30)  # Tue 3 Mar 00:30 WITA, still Mon 2 Mar 23:30 WIB
    makassar, jakarta = WorkingCalendar(WITA), WorkingCalendar(WIB)
    assert makassar.local_date(moment) == date(2026, 3, 3)
    assert jakarta.local_date(moment) == date(2026, 3, 2)
    assert makassar.add_working_days(moment, 1) == utc(2026, 3, 4, 16, 0)  # 24:00 WITA Wed
    assert jakarta.add_working_days(moment, 1) == utc(2026, 3, 3, 17, 0)  # 24:00 WIB Tue


def test_wit_and_wib_give_different_deadlines_for_the_same_instant() -> None:
    moment = utc(2026, 3, 2, 15, 30)  # Tue 00:30 WIT, Mon 22:30 WIB
    assert WorkingCalendar(WIT).add_working_days(moment, 1) == utc(2026, 3, 4, 15, 0)
    assert WorkingCalendar(WIB).add_working_days(moment, 1) == utc(2026, 3, 3, 17, 0)


def test_extra_closed_days_are_skipped() -> None:
    calendar = WorkingCalendar(WIB, extra_closed_days=[date(2026, 3, 3)])
    assert not calendar.is_working_day(date(2026, 3, 3))
    assert calendar.add_working_days(wib(2026, 3, 2, 9, 0), 1) == utc(2026, 3, 4, 17, 0)


def test_working_time_skips_weekends_and_holidays(jakarta: WorkingCalendar) -> None:
    friday_noon = wib(2026, 3, 6, 12, 0)
    assert jakarta.add_working_time(friday_noon, timedelta(hours=24)) == utc(2026, 3, 9, 5, 0)
    assert jakarta.working_time_between(friday_noon, wib(2026, 3, 9, 12, 0)) == timedelta(hours=24)
    # Ends exactly at the end of a working day: the earliest moment, not after the weekend.
    assert jakarta.add_working_time(friday_noon, timedelta(hours=12)) == utc(2026, 3, 6, 17, 0)
    assert jakarta.add_working_time(friday_noon, timedelta(0)) == utc(2026, 3, 6, 5, 0)
    assert jakarta.working_time_between(wib(2026, 3, 9), friday_noon) == timedelta(0)


def test_results_are_utc_and_naive_datetimes_are_refused(jakarta: WorkingCalendar) -> None:
    assert jakarta.add_working_days(wib(2026, 3, 2, 9, 0), 1).tzinfo is UTC
    with pytest.raises(ValueError, match="naive"):
        jakarta.add_working_days(datetime(2026, 3, 2, 9, 0), 1)
    with pytest.raises(ValueError):
        jakarta.add_working_days(wib(2026, 3, 2, 9, 0), -1)


def test_holiday_lookups_are_cached_per_year(jakarta: WorkingCalendar) -> None:
    national_closed_days(2026)
    hits = national_closed_days.cache_info().hits
    jakarta.add_working_days(wib(2026, 3, 17, 10, 0), 5)
    assert national_closed_days.cache_info().hits > hits
    assert national_closed_days(2026) is national_closed_days(2026)


def test_calendars_are_shared_per_time_zone() -> None:
    calendars = Calendars([date(2026, 3, 3)])
    assert calendars(WITA) is calendars(WITA)
    assert calendars(WITA).timezone == WITA
    assert not calendars(WIT).is_working_day(date(2026, 3, 3))


def test_remembered_answers_are_the_ones_a_fresh_calendar_gives(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Deadlines and escalation intervals are remembered per (local date, days) and per
    (moment, working time); asked again, in any order and past the memo's size, a calendar
    answers as one that never saw the question."""
    from services.sla.domain import calendar as module

    monkeypatch.setattr(module, "MEMO_SIZE", 50)
    remembering = WorkingCalendar("Asia/Makassar")
    start = datetime(2025, 3, 27, 15, 59, tzinfo=UTC)  # across Nyepi and Idul Fitri 2025
    moments = [start + timedelta(hours=7 * i, minutes=i) for i in range(120)]
    for _ in range(2):
        for index, moment in enumerate(moments):
            n = index % 5
            due = remembering.add_working_days(moment, n)
            assert due == WorkingCalendar("Asia/Makassar").add_working_days(moment, n)
            for amount in (timedelta(days=2), timedelta(hours=5 + index % 3)):
                assert remembering.add_working_time(due, amount) == WorkingCalendar(
                    "Asia/Makassar").add_working_time(due, amount)
                assert remembering.add_working_time(moment, amount) == WorkingCalendar(
                    "Asia/Makassar").add_working_time(moment, amount)
    assert len(remembering._memo) <= 50


def test_warm_up_builds_this_year_and_next_so_no_clock_waits_for_them() -> None:
    national_closed_days.cache_clear()
    warm_up(date(2026, 12, 1))
    assert national_closed_days.cache_info().currsize == 2
    WorkingCalendar(WIB).add_working_days(datetime(2026, 12, 30, 9, tzinfo=UTC), 5)
    info = national_closed_days.cache_info()
    assert (info.currsize, info.misses) == (2, 2)  # a deadline across the new year: built
    assert date(2027, 1, 1) in national_closed_days(2027)
