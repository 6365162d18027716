"""The SLA watcher's lifecycle batches: gathered for a window, and taken whole."""

from __future__ import annotations

import pytest

from services.sla.app import create_app
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
