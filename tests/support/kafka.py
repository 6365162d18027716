"""Plain aiokafka clients for tests: publish like a channel adapter, read like an agency."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import TopicPartition

from shared.kafka import ensure_topics
from shared.settings import Settings


async def produce(bootstrap: str, topic: str, items: list[tuple[bytes | None, bytes]],
                  headers: list[tuple[str, bytes]] | None = None) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for key, value in items:
            await producer.send_and_wait(topic, value, key=key, headers=headers)
    finally:
        await producer.stop()


async def fresh_partition(settings: Settings, name: str) -> TopicPartition:
    """Create this test's own topic (the settings' prefix and `name`); its first partition."""
    topic = f"{settings.topic_prefix}{name}"
    await ensure_topics(settings, [topic])
    return TopicPartition(topic, 0)


async def committed_offsets(bootstrap: str, group_id: str, partitions: list[TopicPartition]
                            ) -> dict[TopicPartition, int | None]:
    """What a consumer group has committed for these partitions (read by a plain consumer
    of the group that joins nothing)."""
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group_id,
                              enable_auto_commit=False)
    await reader.start()
    try:
        return {tp: await reader.committed(tp) for tp in partitions}
    finally:
        await reader.stop()


def submission_bytes(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).encode()


class TopicReader:
    """Reads a topic from the beginning (all partitions, no group) and keeps what it saw."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.records: list[Any] = []
        self._consumer: AIOKafkaConsumer | None = None

    async def start(self) -> TopicReader:
        self._consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap,
                                          enable_auto_commit=False,
                                          auto_offset_reset="earliest")
        await self._consumer.start()
        partitions = self._consumer.partitions_for_topic(self.topic)
        deadline = time.monotonic() + 10
        while not partitions and time.monotonic() < deadline:
            await self._consumer.client.force_metadata_update()
            partitions = self._consumer.partitions_for_topic(self.topic)
            if not partitions:
                await asyncio.sleep(0.1)
        tps = [TopicPartition(self.topic, p) for p in sorted(partitions or [])]
        self._consumer.assign(tps)
        await self._consumer.seek_to_beginning(*tps)
        return self

    async def poll(self, timeout: float = 0.2) -> None:
        assert self._consumer is not None
        batches = await self._consumer.getmany(timeout_ms=int(timeout * 1000))
        for records in batches.values():
            self.records.extend(records)

    def values(self) -> list[dict[str, Any]]:
        return [json.loads(r.value) for r in self.records]

    async def wait_records(self, count: int, timeout: float = 30.0) -> list[Any]:
        """For topics whose values need not be JSON (dead-letter topics)."""
        deadline = time.monotonic() + timeout
        while len(self.records) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out on {self.topic}; saw {len(self.records)}")
            await self.poll()
        return self.records

    async def wait_for(self, predicate: Callable[[list[dict[str, Any]]], bool],
                       timeout: float = 30.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            await self.poll()
            values = self.values()
            if predicate(values):
                return values
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out on {self.topic}; saw {len(values)}: "
                                     f"{values[-3:]}")

    async def wait_count(self, count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
        return await self.wait_for(lambda values: len(values) >= count, timeout)

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()

    async def __aenter__(self) -> TopicReader:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


def produce_sync(bootstrap: str, topic: str, items: list[tuple[bytes | None, bytes]]) -> None:
    asyncio.run(produce(bootstrap, topic, items))
