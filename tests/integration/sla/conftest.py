"""The in-process sla rig of a test's own tenant (see rig.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.sla.adapters.clocks import INDEXES, ClockStore
from shared.kafka import ensure_topics
from shared.mongo import ensure_indexes
from shared.service import ServiceRuntime

from .rig import Rig
from .support import HOURS_POLICY, write_policy


@pytest.fixture
async def rig(settings_for, tmp_path: Path) -> AsyncIterator[Rig]:
    """Set up as the service starts: indexes, the open-clock tally and the due hints
    (empty)."""
    settings = settings_for("sla", sla_policy_file=write_policy(tmp_path, HOURS_POLICY))
    runtime = ServiceRuntime("sla", settings)
    await ensure_topics(settings)
    await ensure_indexes(runtime.db, INDEXES)
    assert await ClockStore(runtime.db).establish_tally()
    assert await ClockStore(runtime.db).establish_hints()
    await runtime.broker.start()
    try:
        yield Rig(runtime, settings.sla_policy_file)
    finally:
        await runtime.broker.stop()
