"""A service's publishing on the real broker: many events handed over at once arrive
whole, once each, in order per key, with their keys and headers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from shared.codec import CONTENT_TYPE, encode
from shared.contract import Actor, ActorType, ComplaintStatusChanged, SlaWarning, Status
from shared.kafka import ensure_topics
from shared.metrics import EVENTS_PUBLISHED
from shared.service import ServiceRuntime
from shared.settings import Settings
from tests.support.kafka import TopicReader

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
STATUSES = [Status.ASSIGNED, Status.IN_PROGRESS, Status.RESOLVED]


def lifecycle(tracking_id: str) -> list[ComplaintStatusChanged]:
    return [ComplaintStatusChanged(occurred_at=NOW, tracking_id=tracking_id, status=status,
                                   agency_id="kutim-pupr",
                                   actor=Actor(type=ActorType.SYSTEM, id="router"))
            for status in STATUSES]


async def test_a_batch_of_events_arrives_whole_in_order_per_key_with_its_ids(
        settings_for: Callable[..., Settings]) -> None:
    settings = settings_for("router", kafka_partitions=3)
    runtime = ServiceRuntime("router", settings)
    topics = runtime.topics
    await ensure_topics(settings, [topics.status, topics.sla])
    tracking_ids = [f"PUBL-ISH{n:02d}-K" for n in range(40)]
    events = [e for tid in tracking_ids for e in lifecycle(tid)]
    warning = SlaWarning(occurred_at=NOW, tracking_id=tracking_ids[0], stage="response",
                         threshold=0.5, due_at=NOW)
    counted = EVENTS_PUBLISHED.labels("router", topics.status)._value.get()
    await runtime.broker.start()
    try:
        await runtime.publish_all([(e, topics.status) for e in events]
                                  + [(warning, topics.sla)])
        # Returned: every event is acknowledged, so it is there to read now.
        async with TopicReader(settings.kafka_bootstrap_servers, topics.status) as reader:
            await reader.poll(timeout=1.0)
            while len(reader.records) < len(events):
                await reader.poll(timeout=1.0)
            records = list(reader.records)
    finally:
        await runtime.broker.stop()

    assert sorted(r.value for r in records) == sorted(encode(e)
                                                      for e in events)  # once each
    for tracking_id in tracking_ids:
        mine = [r for r in records if r.key == tracking_id.encode()]
        assert [r.value for r in sorted(mine, key=lambda r: r.offset)] == [
            encode(e) for e in events if e.tracking_id == tracking_id]  # in order
        assert len({r.partition for r in mine}) == 1
    by_value = {encode(e): e for e in events}
    for record in records:
        headers = dict(record.headers)
        assert headers["content-type"] == CONTENT_TYPE.encode()
        assert headers["correlation_id"] == by_value[record.value].event_id.encode()
    assert EVENTS_PUBLISHED.labels("router", topics.status)._value.get() == counted + len(events)
