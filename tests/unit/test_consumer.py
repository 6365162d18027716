"""The reliable consumer's pure parts: event ids derived from a record's position (the same
for a redelivery, distinct otherwise), and the bounds of taking what arrived meanwhile."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka.errors import ConsumerStoppedError, GroupAuthorizationFailedError

from shared.consumer import InboundRecord, take_what_arrived


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
