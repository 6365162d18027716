"""The reliable consumer's pure parts: event ids derived from a record's position (the same
for a redelivery, distinct otherwise), the bounds of taking what arrived meanwhile, and
the rest between batches of a consumer with a batch window."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from aiokafka.errors import ConsumerStoppedError, GroupAuthorizationFailedError
from aiokafka.structs import TopicPartition

from shared.consumer import InboundRecord, caught_up, rest_for_window, take_what_arrived


def record(offset: int, partition: int = 0) -> InboundRecord:
    return InboundRecord("complaints.submitted", partition, offset, b"k", b"{}")


def test_a_redelivered_record_derives_the_same_event_id() -> None:
    assert record(7).derived_event_id("received") == record(7).derived_event_id("received")


def test_position_and_purpose_each_change_the_id() -> None:
    ids = {record(7).derived_event_id("received"), record(7).derived_event_id("rejected"),
           record(8).derived_event_id("received"),
           record(7, partition=1).derived_event_id("received")}
    assert len(ids) == 4


class StubConsumer:
    """Only getmany, answering as told (the real broker is in the integration tests)."""

    def __init__(self, answer: object = None, *, raises: BaseException | None = None,
                 hangs: bool = False) -> None:
        self.answer = answer if answer is not None else {}
        self.raises = raises
        self.hangs = hangs
        self.calls: list[dict[str, int]] = []

    async def getmany(self, *, timeout_ms: int, max_records: int) -> object:
        self.calls.append({"timeout_ms": timeout_ms, "max_records": max_records})
        if self.raises is not None:
            raise self.raises
        if self.hangs:
            await asyncio.Event().wait()
        return self.answer


async def test_takes_what_the_fetch_brought_within_the_wait_and_the_batch_limit() -> None:
    consumer = StubConsumer({"tp0": ["a", "b"], "tp1": ["c"]})
    assert await take_what_arrived(consumer, 4, 7) == ["a", "b", "c"]
    assert consumer.calls == [{"timeout_ms": 4, "max_records": 7}]


async def test_a_consumer_without_getmany_adds_nothing() -> None:
    assert await take_what_arrived(object(), 4, 7) == []


@pytest.mark.parametrize("error", [GroupAuthorizationFailedError(), ConsumerStoppedError()])
async def test_a_coordination_error_or_a_stopped_consumer_leaves_the_batch_as_it_is(
        error: BaseException) -> None:
    assert await take_what_arrived(StubConsumer(raises=error), 4, 7) == []


async def test_a_getmany_stuck_in_a_rebalance_is_given_up() -> None:
    assert await take_what_arrived(StubConsumer(hangs=True), 1, 7) == []


def test_decode_events_keeps_its_kinds_and_dead_letters_what_is_no_event() -> None:
    from datetime import UTC, datetime

    from shared.codec import encode
    from shared.consumer import decode_events
    from shared.contract import Actor, ActorType, ComplaintStatusChanged, SlaWarning, Status

    now = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    status = ComplaintStatusChanged(occurred_at=now, tracking_id="ABCD-EFGH-J",
                                    status=Status.ASSIGNED, agency_id="kutim-pupr",
                                    actor=Actor(type=ActorType.SYSTEM, id="router"))
    warning = SlaWarning(occurred_at=now, tracking_id="ABCD-EFGH-J", stage="response",
                         threshold=0.5, due_at=now)
    records = [InboundRecord("complaints.status", 0, offset, None, value) for offset, value in
               enumerate([encode(status), b"not json", encode(warning),
                          b'{"event_type": "complaint.unknown"}'])]
    events, dead = decode_events(records, ComplaintStatusChanged)
    assert [(record.offset, type(event)) for record, event in events] == [
        (0, ComplaintStatusChanged)]  # the warning is not this handler's: skipped, not dead
    assert [(letter.record.offset, letter.error_type) for letter in dead] == [
        (1, "invalid_event"), (3, "invalid_event")]
    assert "not JSON" in dead[0].error and "complaint.unknown" in dead[1].error


class PausingConsumer:
    """Assignment, pause/resume and the high watermarks of the last fetch, as aiokafka's."""

    def __init__(self, highwater: dict[int, int], assigned: set[int] | None = None) -> None:
        self.watermarks = highwater
        self.assigned = {TopicPartition(TOPIC, p) for p in (assigned or set(highwater))}
        self.paused: set[TopicPartition] = set()
        self.log: list[str] = []

    def assignment(self) -> set[TopicPartition]:
        return set(self.assigned)

    def highwater(self, tp: TopicPartition) -> int | None:
        return self.watermarks.get(tp.partition)

    def pause(self, *tps: TopicPartition) -> None:
        self.paused |= set(tps)
        self.log.append(f"pause {sorted(tp.partition for tp in tps)}")

    def resume(self, *tps: TopicPartition) -> None:
        assert set(tps) <= self.assigned, "aiokafka raises for a partition not assigned"
        self.paused -= set(tps)
        self.log.append(f"resume {sorted(tp.partition for tp in tps)}")


TOPIC = "complaints.submitted"


def batch(*offsets: tuple[int, int]) -> list[InboundRecord]:
    return [InboundRecord(TOPIC, partition, offset, b"k", b"{}") for partition, offset in offsets]


class Sleeps:
    def __init__(self, during: Callable[[], None] = lambda: None) -> None:
        self.seconds: list[float] = []
        self.during = during

    async def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)
        self.during()


async def test_a_caught_up_consumer_rests_for_the_window_with_its_partitions_paused() -> None:
    consumer = PausingConsumer({0: 10, 1: 4})
    paused_while_asleep: list[set[TopicPartition]] = []
    sleeps = Sleeps(lambda: paused_while_asleep.append(set(consumer.paused)))
    assert await rest_for_window(consumer, 0.8, batch((0, 8), (0, 9), (1, 3)), 500, sleeps)
    assert sleeps.seconds == [0.8]
    assert paused_while_asleep == [{TopicPartition(TOPIC, 0), TopicPartition(TOPIC, 1)}]
    assert consumer.paused == set()


@pytest.mark.parametrize(("records", "limit", "seconds"), [
    (batch((0, 8), (1, 3)), 500, 0.8),   # partition 0 held 10 records, the batch took 9
    (batch((0, 9), (1, 3)), 2, 0.8),     # a full batch: more may be waiting
    (batch((0, 9), (1, 3)), 500, 0.0),   # the handling took the whole window
])
async def test_a_consumer_that_is_behind_or_out_of_time_takes_the_next_batch_at_once(
        records: list[InboundRecord], limit: int, seconds: float) -> None:
    consumer, sleeps = PausingConsumer({0: 10, 1: 4}), Sleeps()
    assert not await rest_for_window(consumer, seconds, records, limit, sleeps)
    assert sleeps.seconds == [] and consumer.log == []


async def test_partitions_lost_in_a_rebalance_while_resting_are_not_resumed() -> None:
    consumer = PausingConsumer({0: 10, 1: 4})
    sleeps = Sleeps(lambda: consumer.assigned.discard(TopicPartition(TOPIC, 1)))
    assert await rest_for_window(consumer, 0.5, batch((0, 9)), 500, sleeps)
    assert consumer.log == ["pause [0, 1]", "resume [0]"]


async def test_a_cancelled_rest_resumes_the_partitions() -> None:
    consumer = PausingConsumer({0: 10})

    async def cancelled(seconds: float) -> None:
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await rest_for_window(consumer, 0.5, batch((0, 9)), 500, cancelled)
    assert consumer.paused == set() and consumer.log == ["pause [0]", "resume [0]"]


async def test_a_consumer_that_cannot_pause_does_not_rest() -> None:
    sleeps = Sleeps()
    assert not await rest_for_window(object(), 0.5, batch((0, 9)), 500, sleeps)
    assert sleeps.seconds == []


def test_unknown_watermarks_count_as_caught_up() -> None:
    assert caught_up(PausingConsumer({}), batch((0, 9)))
    assert caught_up(object(), batch((0, 9)))
    assert not caught_up(PausingConsumer({0: 12}), batch((0, 9), (0, 10)))
