"""At-least-once consumption with one retry and dead-letter mechanism for every service.

A subscriber hands a batch of raw records to a service's batch handler. The handler returns
the records it could never process (`DeadLetter`: bad bytes, failed validation); they go to
`<topic>.dlq` with the CONTRACT.md section 2 headers. Only after the handler and every
publish finished is the offset committed (manual acknowledgement): a crash at any point
means redelivery, never loss, so handlers must be idempotent. A handler that keeps records
back for a later batch has its partitions committed only up to the earliest of them.

Failures that the handler raises are retried in place with capped exponential backoff:
- infrastructure errors (database or broker unreachable) are retried until they heal, since
  no message can make progress meanwhile and dead-lettering would lose the whole backlog;
- any other error is retried `retry_max_attempts` times; then the batch is split and each
  record gets its own attempts, so one poison message is dead-lettered alone and the
  partition moves on.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from aiokafka import ConsumerRebalanceListener
from aiokafka.errors import (
    ConsumerStoppedError,
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    NodeNotReadyError,
)
from aiokafka.errors import RequestTimedOutError as KafkaRequestTimedOut
from aiokafka.structs import ConsumerRecord, TopicPartition
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from pydantic import ValidationError
from pymongo.errors import AutoReconnect, ConnectionFailure, NetworkTimeout

from shared.codec import NotAJsonObject, decode_event
from shared.lead_topic import LeadOrder, in_lead_order
from shared.logging import bind_event, redact_text, unbind_event
from shared.metrics import (
    CONSUMER_LAG,
    HANDLER_DURATION,
    HANDLER_RETRIES,
    MESSAGES_CONSUMED,
    MESSAGES_DEAD_LETTERED,
)
from shared.name_ids import name_based_id
from shared.settings import Settings
from shared.topics import dlq

log = structlog.get_logger("lapor.consumer")
_DERIVED_EVENT_NAMESPACE = uuid.UUID("7b0e4c36-5f0c-4d3e-9a49-6c1f6f0a1a11")

INFRASTRUCTURE_ERRORS: tuple[type[BaseException], ...] = (
    ConnectionFailure, AutoReconnect, NetworkTimeout,
    KafkaConnectionError, KafkaTimeoutError, NodeNotReadyError, KafkaRequestTimedOut,
    ConnectionError, TimeoutError,
)


@dataclass(frozen=True)
class InboundRecord:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()

    @property
    def key_text(self) -> str | None:
        return self.key.decode("utf-8", "replace") if self.key is not None else None

    def derived_event_id(self, purpose: str) -> str:
        """An event id fixed by this record's position: a redelivered record re-publishes
        the very same event (same event_id), so consumers can drop the repeat."""
        name = f"{self.topic}/{self.partition}/{self.offset}/{purpose}"
        return name_based_id(_DERIVED_EVENT_NAMESPACE, name)


@dataclass(frozen=True)
class DeadLetter:
    record: InboundRecord
    error: str
    error_type: str
    attempts: int = 1


class PermanentError(Exception):
    """This message can never be processed: dead-letter it without retrying."""

    def __init__(self, message: str, error_type: str = "invalid_message") -> None:
        super().__init__(message)
        self.error_type = error_type


BatchHandler = Callable[[Sequence[InboundRecord]], Awaitable[Sequence[DeadLetter]]]
RecordHandler = Callable[[InboundRecord], Awaitable[None]]


def decode_events(records: Sequence[InboundRecord], kinds: Any
                  ) -> tuple[list[tuple[InboundRecord, Any]], list[DeadLetter]]:
    """The records' events of the given kinds (a type or a union; other events are not
    this handler's), each with its record, and a dead letter for every record that is not
    a valid event."""
    events: list[tuple[InboundRecord, Any]] = []
    dead: list[DeadLetter] = []
    for record in records:
        try:
            event = decode_event(record.value)
        except (NotAJsonObject, ValidationError, ValueError) as exc:
            dead.append(DeadLetter(record, str(exc)[:500], "invalid_event"))
            continue
        if isinstance(event, kinds):
            events.append((record, event))
    return events, dead


def one_by_one(handler: RecordHandler) -> BatchHandler:
    """Adapt a single-record handler: records run in order, PermanentError -> dead letter."""

    async def handle(records: Sequence[InboundRecord]) -> list[DeadLetter]:
        dead: list[DeadLetter] = []
        for record in records:
            try:
                await handler(record)
            except PermanentError as exc:
                dead.append(DeadLetter(record, str(exc), exc.error_type))
            finally:
                unbind_event()
        return dead

    return handle


def dlq_headers(letter: DeadLetter, service: str) -> dict[str, str]:
    record = letter.record
    headers = {k: v.decode("utf-8", "replace") for k, v in record.headers
               if not k.startswith("lapor-")}
    headers.update({
        "lapor-error": redact_text(letter.error)[:1000],
        "lapor-error-type": letter.error_type,
        "lapor-source-topic": record.topic,
        "lapor-source-partition": str(record.partition),
        "lapor-source-offset": str(record.offset),
        "lapor-attempts": str(letter.attempts),
        "lapor-service": service,
    })
    return headers


class ReliableConsumer:
    """Runs batch handlers with retries, splitting and dead-lettering (see module doc)."""

    def __init__(self, broker: KafkaBroker, settings: Settings,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.broker = broker
        self.settings = settings
        self.service = settings.service_name
        self.sleep = sleep

    def _backoff(self, attempt: int) -> float:
        base = self.settings.retry_backoff_seconds * (2 ** max(attempt - 1, 0))
        return random.uniform(0, min(base, self.settings.retry_backoff_max_seconds))  # noqa: S311

    async def process(self, topic: str, records: Sequence[InboundRecord],
                      handler: BatchHandler) -> None:
        started = time.perf_counter()
        dead = await self._run(topic, records, handler)
        await self.dead_letter(dead)
        for record_topic, count in Counter(r.topic for r in records).items():
            MESSAGES_CONSUMED.labels(self.service, record_topic).inc(count)
        HANDLER_DURATION.labels(self.service, topic).observe(time.perf_counter() - started)

    async def _run(self, topic: str, records: Sequence[InboundRecord],
                   handler: BatchHandler) -> list[DeadLetter]:
        attempt = 0
        while True:
            attempt += 1
            try:
                return list(await handler(records))
            except asyncio.CancelledError:
                raise
            except INFRASTRUCTURE_ERRORS as exc:
                HANDLER_RETRIES.labels(self.service, topic, "infrastructure").inc()
                log.warning("dependency unavailable, retrying", topic=topic,
                            error=redact_text(str(exc))[:300], attempt=attempt)
                await self.sleep(max(self._backoff(attempt), 0.05))
            except Exception as exc:
                if attempt < self.settings.retry_max_attempts:
                    HANDLER_RETRIES.labels(self.service, topic, "error").inc()
                    log.warning("handler failed, retrying", topic=topic, attempt=attempt,
                                error_type=type(exc).__name__)
                    await self.sleep(self._backoff(attempt))
                    continue
                if len(records) > 1:
                    # Isolate the poison: each record gets its own attempts.
                    dead: list[DeadLetter] = []
                    for record in records:
                        dead += await self._run(topic, [record], handler)
                    return dead
                log.error("giving up on message", topic=topic, attempts=attempt,
                          error_type=type(exc).__name__, exc_info=True)
                return [DeadLetter(records[0], f"{type(exc).__name__}: {exc}",
                                   "handler_error", attempt)]

    async def dead_letter(self, letters: Sequence[DeadLetter]) -> None:
        for letter in letters:
            record = letter.record
            attempt = 0
            while True:  # the DLQ write must succeed before the offset is committed
                attempt += 1
                try:
                    await self.broker.publish(
                        record.value, dlq(record.topic), key=record.key,
                        headers=dlq_headers(letter, self.service))
                    break
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.warning("dead-letter publish failed, retrying",
                                error_type=type(exc).__name__, attempt=attempt)
                    await self.sleep(max(self._backoff(attempt), 0.05))
            MESSAGES_DEAD_LETTERED.labels(self.service, record.topic, letter.error_type).inc()
            log.warning("message dead-lettered", topic=record.topic,
                        partition=record.partition, offset=record.offset,
                        error_type=letter.error_type, error=redact_text(letter.error)[:300])


async def take_what_arrived(kafka_consumer: Any, wait_ms: int, max_records: int
                            ) -> list[ConsumerRecord[bytes, bytes]]:
    """The records the broker has now, to handle with the batch just taken.

    A batch comes from the consumer's prefetch: the fetch sent when the previous batch was
    taken, which brought what had arrived by then. What arrived while that batch was
    handled is still at the broker, and would wait for the next batch, a whole handling
    later. Taking the batch sent a new fetch: its answer, awaited here for at most
    `wait_ms`, holds those records, so a record waits for at most one handling instead of
    two. When nothing arrived the wait is spent for nothing, on a consumer that has no
    backlog. Offsets stay in order (the fetch starts where the batch ended), and the
    commit after the handler covers these records too (it commits the consumer's
    position)."""
    getmany = getattr(kafka_consumer, "getmany", None)
    if getmany is None:  # FastStream's stand-in consumer in unit tests
        return []
    try:
        # Bounded: during a rebalance getmany would wait for the new assignment.
        async with asyncio.timeout(wait_ms / 1000 + 0.05):
            fetched = await getmany(timeout_ms=wait_ms, max_records=max_records)
    except TimeoutError:
        return []
    except (KafkaError, ConsumerStoppedError) as exc:  # the batch is handled as it is
        log.warning("could not take the records that arrived meanwhile",
                    error_type=type(exc).__name__, error=redact_text(str(exc))[:300])
        return []
    return [record for records in fetched.values() for record in records]


def caught_up(kafka_consumer: Any, records: Sequence[InboundRecord]) -> bool:
    """Whether the batch took everything its partitions held when they were fetched (by the
    high watermark that fetch reported; a partition with no record in the batch had none)."""
    last: dict[tuple[str, int], int] = {}
    for record in records:
        last[(record.topic, record.partition)] = record.offset
    highwater_of = getattr(kafka_consumer, "highwater", None)
    if highwater_of is None:
        return True
    for (topic, partition), offset in last.items():
        highwater = highwater_of(TopicPartition(topic, partition))
        if highwater is not None and highwater > offset + 1:
            return False
    return True


async def rest_for_window(kafka_consumer: Any, seconds: float,
                          records: Sequence[InboundRecord], limit: int,
                          sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> bool:
    """Let the next batch gather for `seconds` before it is fetched: the consumer's
    partitions are paused meanwhile, so the broker sees one fetch per window. Not when the
    consumer is behind (a full batch, or records left at the broker when it was fetched):
    it then takes the next batch at once. Returns whether it rested.

    A fetch held at the broker (`fetch_min_bytes` with a long `fetch_max_wait_ms`) would
    gather the same batch, but the embedded broker lists every stored batch of the
    partition again on each write while it holds the fetch (`benchmarks.broker_fetch_cost`:
    45 % of a core against 10 % paced here, at 10,000 stored batches and 200 writes/s)."""
    if seconds <= 0 or len(records) >= limit or not caught_up(kafka_consumer, records):
        return False
    if not all(hasattr(kafka_consumer, name) for name in ("pause", "resume", "assignment")):
        return False  # FastStream's stand-in consumer in unit tests
    paused = set(kafka_consumer.assignment())
    kafka_consumer.pause(*paused)
    try:
        await sleep(seconds)
    finally:
        # A rebalance meanwhile may have taken partitions away (resuming those would
        # raise) and given new ones, which start unpaused.
        kafka_consumer.resume(*(paused & set(kafka_consumer.assignment())))
    return True


def record_lag(kafka_consumer: Any, service: str, records: Sequence[InboundRecord]) -> None:
    """Lag per partition from the high watermark the last fetch reported (no extra request)."""
    last: dict[tuple[str, int], int] = {}
    for record in records:
        last[(record.topic, record.partition)] = record.offset
    highwater_of = getattr(kafka_consumer, "highwater", None)
    if highwater_of is None:  # FastStream's stand-in consumer: no figure
        return
    for (topic, partition), offset in last.items():
        highwater = highwater_of(TopicPartition(topic, partition))
        if highwater is not None:
            CONSUMER_LAG.labels(service, topic, str(partition)).set(max(highwater - offset - 1, 0))


OnRevoked = Callable[[set[tuple[str, int]]], Awaitable[None]]
"""Told the `(topic, partition)`s this instance is about to lose."""


class LagCleaner(ConsumerRebalanceListener):  # type: ignore[misc]
    """Forget the lag of partitions this instance no longer owns: another replica reports
    them now, and a stale figure here would look like a stuck consumer. Tells the handler
    which partitions went (`on_revoked`), and a lead order that the assignment changed."""

    def __init__(self, service: str, on_assigned: Callable[[], None] | None = None,
                 on_revoked: OnRevoked | None = None) -> None:
        self.service = service
        self.on_assigned = on_assigned
        self.on_revoked = on_revoked

    async def on_partitions_revoked(self, revoked: Any) -> None:
        for tp in revoked:
            with contextlib.suppress(KeyError):
                CONSUMER_LAG.remove(self.service, tp.topic, str(tp.partition))
        if self.on_revoked is not None and revoked:
            await self.on_revoked({(tp.topic, tp.partition) for tp in revoked})

    async def on_partitions_assigned(self, assigned: Any) -> None:
        if self.on_assigned is not None:
            self.on_assigned()


async def _raw_body(msg: Any) -> bytes:
    return msg.body  # type: ignore[no-any-return]  # never let FastStream decode: bad bytes are ours


Holds = Callable[[], Mapping[tuple[str, int], int]]
"""Per `(topic, partition)`, the offset of the earliest record a handler took but holds
back, not yet done with (see `commit_short_of`)."""


async def commit_short_of(kafka_consumer: Any, held: Mapping[tuple[str, int], int]) -> bool:
    """Commit the consumer's position on every assigned partition, except that a partition
    with records still held is committed only up to its earliest held record: a restart or
    a new owner of the partition reads them again, so a held record is never lost.
    Returns False, committing nothing, when nothing is held or the consumer cannot be told
    offsets (FastStream's stand-in consumer in unit tests): the caller then commits as
    usual (the consumed positions, with no lookup per partition)."""
    if not held or not hasattr(kafka_consumer, "assignment"):
        return False
    offsets: dict[TopicPartition, int] = {}
    for tp in kafka_consumer.assignment():
        position = int(await kafka_consumer.position(tp))
        offsets[tp] = min(position, held.get((tp.topic, tp.partition), position))
    if offsets:
        await kafka_consumer.commit(offsets)
    return True


def subscribe(broker: KafkaBroker, consumer: ReliableConsumer, topic: str | Sequence[str],
              handler: BatchHandler, settings: Settings, *, max_records: int | None = None,
              batch_window_ms: int | None = None, lead_topic: str | None = None,
              holds: Holds | None = None, on_revoked: OnRevoked | None = None,
              title: str | None = None, description: str | None = None) -> Any:
    """Register a batch subscriber with manual commit after `handler` and its publishes.

    Several topics make one subscriber, so one group member per process: a batch then mixes
    the topics' records (each keeps its own topic, for dead letters and metrics), and a
    restarted process joins its group once instead of once per topic (every join
    rebalances the whole group).

    `batch_window_ms` trades latency for batch size: after a batch the consumer rests until
    that long has passed since it started, its partitions paused (`rest_for_window`), unless
    it is behind; for a consumer whose work is cheaper per record in bigger batches and off
    the latency-critical path.

    `holds`: a handler that keeps some records back for a later batch (the SLA watcher,
    waiting for a case's next event) names the earliest of them per partition; the commit
    after each batch stops there (`commit_short_of`). `on_revoked` is told which
    partitions this instance is losing, before they go, so that the handler finishes what
    it held of them."""
    from shared.kafka import subscriber_kwargs

    kwargs = subscriber_kwargs(settings)

    topics = [topic] if isinstance(topic, str) else list(topic)
    label = ",".join(topics)  # the batch's label in logs and the handler-duration metric
    limit = max_records or settings.kafka_max_batch
    # A consumer that gathers batches in a window wants them big, not fresh.
    top_up_ms = 0 if batch_window_ms else settings.kafka_fetch_top_up_ms
    order = LeadOrder(lead_topic) if lead_topic else None

    @broker.subscriber(
        *topics, batch=True, max_records=limit,
        ack_policy=AckPolicy.MANUAL, decoder=_raw_body, title=title,
        listener=LagCleaner(settings.service_name, order.forget if order else None,
                            on_revoked),
        description=description, **kwargs)
    async def consume(body: list[bytes], msg: KafkaMessage) -> None:
        started = time.monotonic()
        raw = list(msg.raw_message)  # type: ignore[arg-type]
        if top_up_ms and len(raw) < limit:
            raw += await take_what_arrived(msg.consumer, top_up_ms, limit - len(raw))
        if order is not None:
            raw = await in_lead_order(order, msg.consumer, raw, settings.service_name)
        records = [
            InboundRecord(r.topic, r.partition, r.offset, r.key, r.value or b"",
                          tuple(r.headers or ()))
            for r in raw
        ]
        if records:
            await consumer.process(label, records, handler)
        if holds is None or not await commit_short_of(msg.consumer, holds()):
            await msg.ack()
        record_lag(msg.consumer, settings.service_name, records)
        if batch_window_ms:
            await rest_for_window(msg.consumer,
                                  batch_window_ms / 1000 - (time.monotonic() - started),
                                  records, limit)

    return consume


__all__ = [
    "INFRASTRUCTURE_ERRORS", "BatchHandler", "DeadLetter", "InboundRecord", "PermanentError",
    "RecordHandler", "ReliableConsumer", "bind_event", "one_by_one", "subscribe",
]
