"""The router marks a batch's published case versions (and counts them in the tally) after
the batch, in the background, while the next batch is fetched: the batch's records stay
uncommitted until the marking landed, one marking runs at a time, and markers are read
only once every published version is marked."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import BaseModel

from services.router.domain.rules import RoutingRule
from services.router.handlers import Router
from shared.agencies import AgencyRegistry
from shared.clock import ManualClock
from shared.codec import encode
from shared.consumer import InboundRecord
from shared.contract import Channel, ComplaintReceived
from shared.topics import Topics

NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
TOPICS = Topics("t.")


class Cases:
    """The case store in memory; its marking waits at a gate and can fail."""

    def __init__(self, steps: list[str]) -> None:
        self.steps = steps
        self.stored: dict[str, dict[str, Any]] = {}
        self.marked: set[str] = set()
        self.gate = asyncio.Event()
        self.gate.set()
        self.failures = 0

    async def insert_new(self, documents: Sequence[dict[str, Any]]) -> set[str]:
        clashed = {d["_id"] for d in documents if d["_id"] in self.stored}
        self.stored.update((d["_id"], d) for d in documents if d["_id"] not in clashed)
        self.steps.append("insert")
        return clashed

    async def get_many(self, tracking_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        return {tid: self.stored[tid] for tid in tracking_ids}

    async def unpublished(self, documents: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        if documents:  # as the store: no query for nothing
            self.steps.append("markers read")
        return [d for d in documents if d["_id"] not in self.marked]

    async def mark_published(self, documents: Sequence[dict[str, Any]]) -> None:
        await self.gate.wait()
        if self.failures:
            self.failures -= 1
            raise ConnectionError("database away")
        self.marked.update(d["_id"] for d in documents)
        self.steps.append("marked " + ",".join(sorted(d["_id"] for d in documents)))


def received(tracking_id: str, offset: int, partition: int = 0) -> InboundRecord:
    event = ComplaintReceived(
        tracking_id=tracking_id, occurred_at=NOW - timedelta(seconds=1),
        channel=Channel.WEB, channel_ref=f"web-{tracking_id}",
        category="infrastructure.roads", region_code="64.08.04",
        body="Jalan poros Sangatta berlubang besar.",
        submitted_at=NOW - timedelta(minutes=1), citizen_secret="APG2D-6CK6Y")
    return InboundRecord(TOPICS.received, partition, offset, b"k", encode(event))


@pytest.fixture
def steps() -> list[str]:
    return []


@pytest.fixture
def cases(steps: list[str]) -> Cases:
    return Cases(steps)


@pytest.fixture
def router(cases: Cases, steps: list[str], shipped_rules: list[RoutingRule],
           shipped_agencies: AgencyRegistry) -> Router:
    async def publish_all(items: Sequence[tuple[BaseModel, str]]) -> None:
        steps.append("published " + ",".join(sorted({e.tracking_id for e, _ in items})))

    return Router(store=cases, publish_all=publish_all,  # type: ignore[arg-type]
                  topics=TOPICS, rules=shipped_rules, agencies=shipped_agencies,
                  clock=ManualClock(NOW), on_change=lambda: steps.append("sampler woken"))


async def test_a_batch_returns_before_its_marking_and_its_records_wait_for_it(
        router: Router, cases: Cases, steps: list[str]) -> None:
    cases.gate.clear()
    batch = [received("AAAA-AAAA-A", 10), received("BBBB-BBBB-B", 4, partition=1),
             received("CCCC-CCCC-C", 11)]
    assert await router.handle(batch) == []
    assert steps == ["insert", "published AAAA-AAAA-A,BBBB-BBBB-B,CCCC-CCCC-C"]
    held = {(TOPICS.received, 0): 10, (TOPICS.received, 1): 4}
    assert router.holds() == held  # not committed while the marking is under way
    cases.gate.set()
    await asyncio.sleep(0)
    assert steps[-2:] == ["marked AAAA-AAAA-A,BBBB-BBBB-B,CCCC-CCCC-C", "sampler woken"]
    assert router.holds() == held  # until the next batch has seen it done

    assert await router.handle([received("DDDD-DDDD-D", 12)]) == []
    assert router.holds() == {(TOPICS.received, 0): 12}
    await router.settle()
    assert router.holds() == {}
    assert cases.marked == {"AAAA-AAAA-A", "BBBB-BBBB-B", "CCCC-CCCC-C", "DDDD-DDDD-D"}


async def test_one_marking_at_a_time_the_next_batch_waits_for_the_previous(
        router: Router, cases: Cases, steps: list[str]) -> None:
    cases.gate.clear()
    await router.handle([received("AAAA-AAAA-A", 1)])
    second = asyncio.create_task(router.handle([received("BBBB-BBBB-B", 2)]))
    for _ in range(5):
        await asyncio.sleep(0)
    assert not second.done()  # published, then waiting for the first marking
    assert steps == ["insert", "published AAAA-AAAA-A", "insert", "published BBBB-BBBB-B"]
    cases.gate.set()
    await second
    await router.settle()
    marks = [s for s in steps if s.startswith("marked")]
    assert marks == ["marked AAAA-AAAA-A", "marked BBBB-BBBB-B"]


async def test_a_failed_marking_is_done_again_and_its_records_stay_held_until_then(
        router: Router, cases: Cases, steps: list[str]) -> None:
    cases.failures = 2  # the background marking fails, and the next batch's first try
    await router.handle([received("AAAA-AAAA-A", 1)])
    await asyncio.sleep(0)
    with pytest.raises(ConnectionError):
        await router.handle([received("BBBB-BBBB-B", 2)])  # retried by the consumer
    assert router.holds() == {(TOPICS.received, 0): 1}
    assert cases.marked == set()
    assert await router.handle([received("BBBB-BBBB-B", 2)]) == []  # the retry
    assert cases.marked == {"AAAA-AAAA-A", "BBBB-BBBB-B"}  # both, before markers are read
    assert router.holds() == {}
    assert [s for s in steps if s.startswith("published")] == [
        "published AAAA-AAAA-A", "published BBBB-BBBB-B"]  # nothing published twice


async def test_markers_are_read_only_once_every_published_version_is_marked(
        router: Router, cases: Cases, steps: list[str]) -> None:
    cases.gate.clear()
    await router.handle([received("AAAA-AAAA-A", 1)])
    redelivered = asyncio.create_task(router.handle([received("AAAA-AAAA-A", 1)]))
    for _ in range(5):
        await asyncio.sleep(0)
    assert "markers read" not in steps  # the clash waits for the marking in flight
    cases.gate.set()
    assert await redelivered == []
    assert steps.index("marked AAAA-AAAA-A") < steps.index("markers read")
    assert [s for s in steps if s.startswith("published")] == ["published AAAA-AAAA-A"]


async def test_before_going_the_marking_lands_and_a_failure_is_only_logged(
        router: Router, cases: Cases) -> None:
    cases.failures = 2  # the background marking, and the first try before going
    await router.handle([received("AAAA-AAAA-A", 1)])
    await router.settle_before_going({(TOPICS.received, 0)})
    assert cases.marked == set() and router.holds() == {(TOPICS.received, 0): 1}
    await router.settle_before_going()
    assert cases.marked == {"AAAA-AAAA-A"} and router.holds() == {}
