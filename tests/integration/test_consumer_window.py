"""A consumer with a batch window on the real broker: after a batch it rests with its
partitions paused, so records written one by one meanwhile come as one batch, fetched
once; the commit after that batch covers them all."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from shared.consumer import DeadLetter, InboundRecord, ReliableConsumer, subscribe
from shared.kafka import make_broker
from shared.settings import Settings
from tests.support.kafka import committed_offsets, fresh_partition, produce
from tests.support.waiting import eventually

WINDOW_MS = 4000
LATER = 5  # records written one by one while the consumer rests


async def test_records_written_while_the_consumer_rests_come_as_one_batch(
        settings_for: Callable[..., Settings]) -> None:
    settings = settings_for("window", kafka_partitions=1)
    tp = await fresh_partition(settings, "window")
    topic, bootstrap = tp.topic, settings.kafka_bootstrap_servers
    broker = make_broker(settings)
    batches: list[list[int]] = []

    async def handle(records: Sequence[InboundRecord]) -> list[DeadLetter]:
        batches.append([r.offset for r in records])
        return []

    subscribe(broker, ReliableConsumer(broker, settings), topic, handle, settings,
              batch_window_ms=WINDOW_MS)
    await broker.start()
    try:
        await produce(bootstrap, topic, [(b"k", b"0")])
        await eventually(lambda: batches == [[0]], message="the first batch")
        (kafka_subscriber,) = broker.subscribers
        kafka_consumer = kafka_subscriber.consumer  # type: ignore[attr-defined]
        # Resting: the partition is paused, so nothing written now is fetched yet.
        await eventually(lambda: kafka_consumer.paused() == {tp}, message="the rest")
        await produce(bootstrap, topic, [(b"k", str(i).encode()) for i in range(1, 1 + LATER)])
        assert batches == [[0]]
        await eventually(lambda: sum(map(len, batches)) == 1 + LATER, message="every record")
        await eventually(lambda: kafka_consumer.paused() == {tp}, message="the next rest")
    finally:
        await broker.stop()

    assert batches == [[0], list(range(1, 1 + LATER))]
    committed = (await committed_offsets(bootstrap, settings.group_id, [tp]))[tp]
    assert committed == 1 + LATER
