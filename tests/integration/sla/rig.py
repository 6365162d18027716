"""The in-process sla rig: one tenant's runtime (real broker producer, real database), a
ManualClock, and as many watchers (sla instances) as a test wants. The `rig` fixture is in
conftest.py."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from services.sla.adapters.clocks import COLLECTION, ClockStore
from services.sla.domain import load_policy
from services.sla.handlers import SlaWatcher
from shared.agencies import load_agencies
from shared.clock import ManualClock
from shared.service import ServiceRuntime
from tests.support.kafka import TopicReader

from .support import record

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


def hours(value: float) -> datetime:
    return T0 + timedelta(hours=value)


class Rig:
    """One tenant: a runtime (real broker producer, real database), a ManualClock, and as
    many watchers (sla instances) as a test wants, all sharing the clock store."""

    def __init__(self, runtime: ServiceRuntime, policy_path: Path) -> None:
        self.runtime = runtime
        self.clock = ManualClock(T0)
        self.policy = load_policy(policy_path)
        self.agencies = load_agencies(runtime.settings.agencies_file)
        self.offset = 0

    def watcher(self, store: ClockStore | None = None, publish_all: Any = None,
                scan_batch: int = 1000) -> SlaWatcher:
        return SlaWatcher(store=store or ClockStore(self.runtime.db),
                          publish_all=publish_all or self.runtime.publish_all,
                          topics=self.runtime.topics, policy=self.policy,
                          agencies=self.agencies, clock=self.clock, scan_batch=scan_batch)

    def records(self, *events: Any) -> list[Any]:
        """The inbound records of `events`, at the next offsets."""
        records = []
        for event in events:
            self.offset += 1
            records.append(record(event, self.offset))
        return records

    async def feed(self, watcher: SlaWatcher, *events: Any) -> None:
        assert await watcher.handle_events(self.records(*events)) == []

    async def sla_events(self, expected: int, settle: float = 0.3) -> list[dict[str, Any]]:
        """Everything on complaints.sla once `expected` arrived (and a moment more, so a
        duplicate would show)."""
        async with TopicReader(self.runtime.settings.kafka_bootstrap_servers,
                               self.runtime.topics.sla) as reader:
            await reader.wait_count(expected, timeout=30)
            await asyncio.sleep(settle)
            await reader.poll()
            return reader.values()

    async def stored(self, clock_id: str) -> dict[str, Any]:
        """One clock's record, from its case's document."""
        tracking_id, stage = clock_id.rsplit(":", 1)
        case = await self.runtime.db[COLLECTION].find_one({"_id": tracking_id})
        assert case is not None, tracking_id
        return next(clock for clock in case["clocks"] if clock["stage"] == stage)
