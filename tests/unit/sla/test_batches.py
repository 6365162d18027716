"""The SLA watcher's lifecycle batches: gathered for a window, and taken whole."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.sla.app import create_app
from services.sla.domain.calendar import national_closed_days
from shared.clock import ManualClock
from shared.settings import Settings


def test_a_batch_takes_everything_a_window_gathers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAPOR_SLA_MAX_BATCH", "7000")
    runtime, _ = create_app()
    (lifecycle,) = runtime.broker.subscribers
    assert lifecycle.max_records == 7000
    # The default is well above what one window gathers at the benchmark's 200/s (about
    # 400 events), and above the other services' batches.
    default = Settings.model_fields["sla_max_batch"].default
    assert default >= 2000 and default >= 10 * Settings.model_fields["kafka_max_batch"].default



async def test_start_up_builds_the_calendar_years_of_the_clock() -> None:
    runtime, _ = create_app(clock=ManualClock(datetime(2030, 6, 1, tzinfo=UTC)))
    (warm,) = [hook for hook in runtime._startup if hook.__name__ == "warm_calendar"]
    national_closed_days.cache_clear()
    await warm()
    built = national_closed_days.cache_info()
    national_closed_days(2030)
    national_closed_days(2031)
    assert built.currsize == 2 and national_closed_days.cache_info().misses == built.misses
