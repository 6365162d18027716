"""Reading a backlog of two topics on the real broker: with a lead topic, no record of the
other topic is handled before the lead record that came before it, and every record is
handled once and committed.

The broker answers a fetch with each partition's whole backlog, in an order that varies
from run to run (in probes of the subscriber without a lead topic, status came first in
half the runs or more, and then every status change came before its complaint: what made
the notifier defer three in four routed events at full load). The subscriber's test holds
whatever the order; the plain consumer's tests make the status-first order certain."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import TopicPartition

from shared.consumer import DeadLetter, InboundRecord, ReliableConsumer, subscribe
from shared.kafka import ensure_topics, make_broker
from shared.lead_topic import LeadOrder, in_lead_order
from shared.settings import Settings
from tests.support.kafka import committed_offsets
from tests.support.waiting import eventually

N = 1500
BIG = b"x" * 1500  # a complaint with its text and reporter
SMALL = b"s" * 300  # a status change
BASE = 1_700_000_000_000  # the backlog's first timestamp (ms)


Handled = list[list[tuple[str, str]]]  # (topic, key) per record, per batch


def early(batches: Handled) -> int:
    """Status changes handled before their complaint: in an earlier batch than it (a
    batch is handled as a whole, as the notifier does)."""
    seen: set[str] = set()
    count = 0
    for batch in batches:
        seen.update(key for topic, key in batch if topic == "received")
        count += sum(1 for topic, key in batch if topic == "status" and key not in seen)
    return count


def records(batches: Handled) -> list[tuple[str, str]]:
    return [record for batch in batches for record in batch]


async def produce_backlog(bootstrap: str, lead: str, other: str, n: int) -> None:
    """Complaint i, then its status change, then complaint i+1...: timestamps as they
    happened (set, so that no two records share a millisecond)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20)
    await producer.start()
    try:
        sent = []
        for i in range(n):
            key = f"case-{i}".encode()
            sent.append(await producer.send(lead, BIG, key=key, partition=0,
                                            timestamp_ms=BASE + 2 * i))
            if i >= n // 3:  # the first third of the complaints has no status change
                sent.append(await producer.send(other, SMALL, key=key, partition=0,
                                                timestamp_ms=BASE + 2 * i + 1))
        for future in sent:
            await future
    finally:
        await producer.stop()


async def read_backlog(settings: Settings) -> tuple[Handled, dict[str, int | None]]:
    """Start a subscriber, let it take a first complaint, then pause it while the
    backlog is produced (so that one fetch finds all of it), and read it."""
    lead, other = f"{settings.topic_prefix}received", f"{settings.topic_prefix}status"
    await ensure_topics(settings, [lead, other])
    bootstrap = settings.kafka_bootstrap_servers
    handled: Handled = []

    async def handle(batch: Sequence[InboundRecord]) -> list[DeadLetter]:
        handled.append([(name(r.topic), r.key_text or "") for r in batch])
        return []

    def name(topic: str) -> str:
        return "received" if topic == lead else "status"

    partitions = (TopicPartition(lead, 0), TopicPartition(other, 0))
    broker = make_broker(settings)
    subscribe(broker, ReliableConsumer(broker, settings), (lead, other), handle, settings,
              lead_topic=lead, max_records=200)
    await broker.start()
    try:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
        await producer.start()
        try:
            await producer.send_and_wait(lead, BIG, key=b"first", timestamp_ms=BASE - 1)
        finally:
            await producer.stop()
        await eventually(lambda: len(records(handled)) == 1, timeout=30,
                         message="the first record")
        (kafka_subscriber,) = broker.subscribers
        kafka_consumer = kafka_subscriber.consumer  # type: ignore[attr-defined]
        kafka_consumer.pause(*partitions)
        await produce_backlog(bootstrap, lead, other, N)
        kafka_consumer.resume(*partitions)
        await eventually(lambda: len(records(handled)) >= 1 + N + N - N // 3, timeout=60,
                         message="every record")
    finally:
        await broker.stop()
    offsets = await committed_offsets(bootstrap, settings.group_id, list(partitions))
    return handled, {name(tp.topic): offset for tp, offset in offsets.items()}


async def test_the_lead_topic_is_read_first_and_nothing_is_lost_or_repeated(
        settings_for: Callable[..., Settings]) -> None:
    settings = settings_for("lead", kafka_partitions=1)
    handled, committed = await read_backlog(settings)
    assert early(handled) == 0
    assert len(records(handled)) == len(set(records(handled))) == 1 + N + N - N // 3
    assert committed == {"received": 1 + N, "status": N - N // 3}


async def read_status_first(settings: Settings, ordered: bool) -> Handled:
    """A plain consumer reads the backlog, its first batch from the status topic only (the
    order the broker's answers often take, made certain), each batch through
    `in_lead_order` or not, committing after each. Returns what it handled, after checking
    that the committed offsets are the topics' ends."""
    lead, other = f"{settings.topic_prefix}received", f"{settings.topic_prefix}status"
    await ensure_topics(settings, [lead, other])
    bootstrap = settings.kafka_bootstrap_servers
    await produce_backlog(bootstrap, lead, other, N)
    partitions = lead_tp, other_tp = TopicPartition(lead, 0), TopicPartition(other, 0)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=settings.group_id,
                                enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    consumer.assign(list(partitions))
    order = LeadOrder(lead)
    handled: Handled = []
    only = [other_tp]
    try:
        async with asyncio.timeout(60):
            while len(records(handled)) < N + N - N // 3:
                fetched = await consumer.getmany(*only, timeout_ms=1000, max_records=200)
                batch = [r for rs in fetched.values() for r in rs]
                if batch:
                    only = []
                if ordered:
                    batch = await in_lead_order(order, consumer, batch, "test")
                handled.append([("received" if r.topic == lead else "status", r.key.decode())
                                for r in batch])
                await consumer.commit()
        assert await consumer.committed(lead_tp) == N
        assert await consumer.committed(other_tp) == N - N // 3
    finally:
        await consumer.stop()
    return handled


async def test_records_that_came_first_wait_for_the_lead(
        settings_for: Callable[..., Settings]) -> None:
    settings = settings_for("lead", kafka_partitions=1)
    handled = await read_status_first(settings, ordered=True)
    assert early(handled) == 0
    assert len(records(handled)) == len(set(records(handled))) == N + N - N // 3


async def test_without_the_lead_they_are_handled_before_their_complaint(
        settings_for: Callable[..., Settings]) -> None:
    """Why it exists."""
    settings = settings_for("lead", kafka_partitions=1)
    handled = await read_status_first(settings, ordered=False)
    assert early(handled) >= 200
