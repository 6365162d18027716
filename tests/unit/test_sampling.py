"""Gauges read from the database: every interval, and never more than 1 % of its time."""

from __future__ import annotations

import pytest

from shared.sampling import SampleSchedule


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_sample_is_due_every_interval_or_a_hundred_times_its_cost() -> None:
    clock = Clock()
    schedule = SampleSchedule(60.0, monotonic=clock)
    assert schedule.due()  # never sampled

    async def cheap() -> None:
        clock.now += 0.1

    async def dear() -> None:
        clock.now += 2.0

    await schedule.take(cheap)  # 0.1 s: the interval decides
    clock.now = 1000.0 + 59.9
    assert not schedule.due()
    clock.now = 1000.0 + 60.0
    assert schedule.due()
    await schedule.take(dear)  # 2 s: not again for 200 s
    assert schedule.cost_allows_at == 1060.0 + 200.0
    clock.now = 1060.0 + 199.0
    assert not schedule.due()
    clock.now = 1060.0 + 200.0
    assert schedule.due()


async def test_a_failed_sample_waits_like_any_other() -> None:
    clock = Clock()
    schedule = SampleSchedule(5.0, monotonic=clock)

    async def failing() -> None:
        clock.now += 0.5
        raise ConnectionError("database away")

    with pytest.raises(ConnectionError):
        await schedule.take(failing)
    clock.now = 1000.0 + 49.0
    assert not schedule.due()  # 100 x 0.5 s
    clock.now = 1000.0 + 50.0
    assert schedule.due()
