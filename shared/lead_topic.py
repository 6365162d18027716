"""Several topics read in the order things happened: a lead topic's records come first.

A subscriber of several topics reads each partition at its own pace. A fetch brings up to
a megabyte of every partition, and the consumer hands out a partition's share before it
fetches that partition again; so where one topic's records are smaller, a consumer with a
backlog reads further ahead in time in that topic. The notifier reads `complaint.received`
(which carries the reporter's contacts) beside the status and SLA topics, whose events are a
third of the size: with a backlog (full load, or catching up after an outage) it read
three in four routed events before their complaint, and had to park each of them in the
database until the complaint came.

`LeadOrder` puts the lead topic first, as Kafka Streams' timestamp-synchronised processing
does. A record of another topic waits while two things hold: the lead's partition of the
same number (the topics are keyed alike, so a complaint's events share the partition
number) still has records to read, and the record is later than the last lead record
taken from it. Its partition is rewound to it and paused, so it is neither committed nor
fetched again meanwhile, and resumed as soon as the lead has caught up with it or has
nothing left to read. Timestamps decide nothing else: a record they misplace (clocks of
two hosts, a producer that sets its own) is handled by the service's own fallback for
events that come early, as before.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

import structlog
from aiokafka.errors import KafkaError
from aiokafka.structs import TopicPartition

from shared.metrics import CONSUMER_LEAD_WAITS


class Record(Protocol):
    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def timestamp(self) -> int: ...


R = TypeVar("R", bound=Record)

log = structlog.get_logger("lapor.consumer")
POSITION_WAIT_SECONDS = 0.5
LeadBehind = Callable[[int], bool]
"""Whether the lead topic's partition of this number has records not yet taken."""


class LeadOrder:
    """Which records of a batch to handle now; where the others' partitions resume."""

    def __init__(self, lead: str) -> None:
        self.lead = lead
        self.lead_time: dict[int, int] = {}  # partition -> timestamp of the last lead record
        # paused partition -> (offset it was rewound to, timestamp it waits for)
        self.waiting: dict[TopicPartition, tuple[int, int]] = {}

    def take(self, records: Sequence[R], lead_behind: LeadBehind
             ) -> tuple[list[R], dict[TopicPartition, int]]:
        """The records to handle now (in their order), and per other partition that must
        wait, the offset of its first record that waits (all after it wait too)."""
        for record in records:
            if record.topic == self.lead:
                last = self.lead_time.get(record.partition)
                if last is None or record.timestamp > last:
                    self.lead_time[record.partition] = record.timestamp
        now: list[R] = []
        rewind: dict[TopicPartition, int] = {}
        for record in records:
            tp = TopicPartition(record.topic, record.partition)
            if tp in rewind:
                continue
            if tp in self.waiting:
                # A paused partition's records are not handed out; should some come all the
                # same, they wait too, and the partition goes back to where it waited.
                rewind[tp] = min(self.waiting[tp][0], record.offset)
                continue
            if record.topic != self.lead and self._early(record, lead_behind):
                rewind[tp] = record.offset
                self.waiting[tp] = (record.offset, record.timestamp)
                continue
            now.append(record)
        return now, rewind

    def _early(self, record: Record, lead_behind: LeadBehind) -> bool:
        last = self.lead_time.get(record.partition)
        return (last is None or record.timestamp > last) and lead_behind(record.partition)

    def ready(self, lead_behind: LeadBehind) -> list[TopicPartition]:
        """The waiting partitions that may be read again (forgotten as waiting)."""
        done = [tp for tp, (_, timestamp) in self.waiting.items()
                if not lead_behind(tp.partition)
                or self.lead_time.get(tp.partition, timestamp - 1) >= timestamp]
        for tp in done:
            del self.waiting[tp]
        return done

    def partitions_to_check(self, records: Sequence[Record]) -> set[int]:
        """The partition numbers whose lead position `take` and `ready` will ask about."""
        numbers = {r.partition for r in records if r.topic != self.lead}
        return numbers | {tp.partition for tp in self.waiting}

    def forget(self) -> None:
        """After a rebalance: the consumer's pauses are gone with its old assignment."""
        self.lead_time.clear()
        self.waiting.clear()


async def _position(kafka_consumer: Any, tp: TopicPartition, otherwise: int) -> int:
    """The next offset to take from `tp` (the records just taken are counted). Known at
    once, except just after an assignment while the committed offset is looked up: after
    half a second `otherwise` (not behind: nothing waits, deferral covers it), rather than
    holding the batch up longer."""
    try:
        async with asyncio.timeout(POSITION_WAIT_SECONDS):
            return int(await kafka_consumer.position(tp))
    except TimeoutError:
        return otherwise


async def in_lead_order(order: LeadOrder, kafka_consumer: Any, records: list[R],
                        service: str) -> list[R]:
    """The records to handle now; the partitions that must wait are rewound to their first
    waiting record and paused (the commit after the batch then stops there too), and those
    whose wait is over are resumed. Should the consumer refuse a step (a partition taken
    away meanwhile), every record is handled now: order is lost for once, no record is."""
    if not hasattr(kafka_consumer, "pause"):  # FastStream's stand-in consumer in unit tests
        return records
    try:
        return await _in_lead_order(order, kafka_consumer, records, service)
    except (KafkaError, AssertionError) as exc:
        log.warning("could not hold records back for the lead topic",
                    error_type=type(exc).__name__)
        waiting = list(order.waiting)
        order.forget()
        with contextlib.suppress(KafkaError, AssertionError):  # none stays paused for good
            assigned = kafka_consumer.assignment()
            kafka_consumer.resume(*[tp for tp in waiting if tp in assigned])
        return records


async def _in_lead_order(order: LeadOrder, kafka_consumer: Any, records: list[R],
                         service: str) -> list[R]:
    assigned = kafka_consumer.assignment()
    behind: dict[int, bool] = {}
    for number in order.partitions_to_check(records):
        lead = TopicPartition(order.lead, number)
        highwater = kafka_consumer.highwater(lead) if lead in assigned else None
        behind[number] = highwater is not None and highwater > await _position(kafka_consumer,
                                                                                lead, highwater)
    now, rewind = order.take(records, behind.__getitem__)
    for tp, offset in rewind.items():
        kafka_consumer.seek(tp, offset)
        kafka_consumer.pause(tp)
        CONSUMER_LEAD_WAITS.labels(service, tp.topic).inc()
    ready = [tp for tp in order.ready(behind.__getitem__) if tp in assigned]
    if ready:
        kafka_consumer.resume(*ready)
    return now
