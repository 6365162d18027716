"""The reliable consumer on the real broker: records that arrive while a batch is handled
join the next batch whole, instead of waiting behind the consumer's prefetch for one more
handling, and the commit after the handler covers them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from shared.consumer import DeadLetter, InboundRecord, ReliableConsumer, subscribe
from shared.kafka import make_broker
from shared.settings import Settings
from tests.support.kafka import committed_offsets, fresh_partition, produce
from tests.support.waiting import eventually

LATER = 5  # records produced while the first batch is handled, after the first one


async def batches_seen(settings: Settings) -> tuple[list[list[int]], int | None]:
    """Run one subscriber; while it handles its first batch, produce one record, let the
    consumer's prefetch fetch it, then produce LATER more. Returns the offsets of each
    batch handled and the offset committed afterwards."""
    tp = await fresh_partition(settings, "topup")
    topic, bootstrap = tp.topic, settings.kafka_bootstrap_servers
    broker = make_broker(settings)
    batches: list[list[int]] = []
    first_taken = asyncio.Event()
    release_first = asyncio.Event()

    async def handle(records: Sequence[InboundRecord]) -> list[DeadLetter]:
        batches.append([r.offset for r in records])
        if len(batches) == 1:
            first_taken.set()
            await release_first.wait()
        return []

    subscribe(broker, ReliableConsumer(broker, settings), topic, handle, settings)
    await broker.start()
    try:
        await produce(bootstrap, topic, [(b"k", b"0")])
        await asyncio.wait_for(first_taken.wait(), 30)
        (kafka_subscriber,) = broker.subscribers
        kafka_consumer = kafka_subscriber.consumer  # type: ignore[attr-defined]
        await produce(bootstrap, topic, [(b"k", b"1")])
        # The prefetch has fetched record 1 once the consumer knows of it.
        await eventually(lambda: kafka_consumer.highwater(tp) == 2, message="the prefetch")
        await produce(bootstrap, topic, [(b"k", str(i).encode()) for i in range(2, 2 + LATER)])
        release_first.set()
        await eventually(lambda: sum(map(len, batches)) == 2 + LATER, message="every record")
    finally:
        await broker.stop()

    committed = (await committed_offsets(bootstrap, settings.group_id, [tp]))[tp]
    return batches, committed


async def test_what_arrived_during_a_handling_is_handled_in_the_next_batch(
        settings_for: Callable[..., Settings]) -> None:
    settings = settings_for("topup", kafka_fetch_top_up_ms=2000, kafka_partitions=1)
    batches, committed = await batches_seen(settings)
    assert batches == [[0], list(range(1, 2 + LATER))]
    assert committed == 2 + LATER


async def test_without_the_top_up_they_wait_one_more_handling(
        settings_for: Callable[..., Settings]) -> None:
    """Why it exists: the prefetch brought only record 1; the rest waited a batch more."""
    settings = settings_for("topup", kafka_fetch_top_up_ms=0, kafka_partitions=1)
    batches, committed = await batches_seen(settings)
    assert batches == [[0], [1], list(range(2, 2 + LATER))]
    assert committed == 2 + LATER
