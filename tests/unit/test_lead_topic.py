"""The lead topic's records come first: which records wait, where their partitions resume,
and when they are read again."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiokafka.structs import TopicPartition

from shared.lead_topic import LeadOrder, in_lead_order

LEAD, OTHER = "received", "status"


@dataclass(frozen=True)
class Rec:
    topic: str
    partition: int
    offset: int
    timestamp: int


def behind(*numbers: int) -> Any:
    return lambda number: number in numbers


def test_a_later_record_of_another_topic_waits_while_the_lead_has_more() -> None:
    order = LeadOrder(LEAD)
    records = [Rec(LEAD, 0, 10, 100), Rec(LEAD, 0, 11, 105),
               Rec(OTHER, 0, 40, 103), Rec(OTHER, 0, 41, 106), Rec(OTHER, 0, 42, 104)]
    now, rewind = order.take(records, behind(0))
    # 41 is later than the last complaint taken (105); 42 stays behind it, in offset order.
    assert now == records[:3]
    assert rewind == {TopicPartition(OTHER, 0): 41}
    assert order.waiting == {TopicPartition(OTHER, 0): (41, 106)}


def test_records_of_a_waiting_partition_wait_too_and_it_goes_back_where_it_waited() -> None:
    """Not handed out while paused; should some come all the same, nothing is skipped."""
    order = LeadOrder(LEAD)
    order.take([Rec(LEAD, 0, 1, 100), Rec(OTHER, 0, 7, 200)], behind(0))
    now, rewind = order.take([Rec(LEAD, 0, 2, 150), Rec(OTHER, 0, 9, 120)], behind(0))
    assert now == [Rec(LEAD, 0, 2, 150)]
    assert rewind == {TopicPartition(OTHER, 0): 7}
    assert order.waiting == {TopicPartition(OTHER, 0): (7, 200)}


def test_nothing_waits_when_the_lead_has_nothing_left_to_read() -> None:
    order = LeadOrder(LEAD)
    records = [Rec(LEAD, 0, 10, 100), Rec(OTHER, 0, 40, 500), Rec(OTHER, 0, 41, 900)]
    now, rewind = order.take(records, behind())
    assert now == records
    assert rewind == {}


def test_with_no_lead_record_taken_yet_every_record_of_the_partition_waits() -> None:
    order = LeadOrder(LEAD)
    now, rewind = order.take([Rec(OTHER, 0, 0, 1), Rec(OTHER, 0, 1, 2)], behind(0))
    assert now == []
    assert rewind == {TopicPartition(OTHER, 0): 0}


def test_partitions_wait_for_the_lead_partition_of_their_own_number() -> None:
    order = LeadOrder(LEAD)
    records = [Rec(LEAD, 0, 5, 100), Rec(OTHER, 0, 7, 200), Rec(OTHER, 1, 3, 200),
               Rec("sla", 0, 9, 150)]
    now, rewind = order.take(records, behind(0))  # lead partition 1 has nothing left
    assert now == [records[0], records[2]]
    assert rewind == {TopicPartition(OTHER, 0): 7, TopicPartition("sla", 0): 9}


def test_the_lead_time_is_kept_from_batch_to_batch() -> None:
    order = LeadOrder(LEAD)
    order.take([Rec(LEAD, 0, 1, 300)], behind(0))
    now, rewind = order.take([Rec(OTHER, 0, 2, 250), Rec(OTHER, 0, 3, 301)], behind(0))
    assert [r.offset for r in now] == [2]
    assert rewind == {TopicPartition(OTHER, 0): 3}


def test_a_waiting_partition_is_ready_once_the_lead_caught_up_in_time_or_ran_out() -> None:
    order = LeadOrder(LEAD)
    order.take([Rec(LEAD, 0, 1, 100), Rec(OTHER, 0, 1, 200),
                Rec(LEAD, 1, 1, 100), Rec(OTHER, 1, 1, 200)], behind(0, 1))
    assert order.ready(behind(0, 1)) == []
    order.take([Rec(LEAD, 0, 2, 200)], behind(0, 1))  # caught up in time: 0 is ready
    assert order.ready(behind(0, 1)) == [TopicPartition(OTHER, 0)]
    assert order.ready(behind(1)) == []
    assert order.ready(behind()) == [TopicPartition(OTHER, 1)]  # lead 1 has nothing left
    assert order.waiting == {}


def test_the_partitions_to_check_include_the_waiting_ones() -> None:
    order = LeadOrder(LEAD)
    order.take([Rec(OTHER, 3, 0, 1)], behind(3))
    assert order.partitions_to_check([Rec(LEAD, 0, 0, 1), Rec(OTHER, 1, 0, 1)]) == {1, 3}


def test_a_rebalance_forgets_everything() -> None:
    order = LeadOrder(LEAD)
    order.take([Rec(LEAD, 0, 1, 100), Rec(OTHER, 0, 1, 200)], behind(0))
    order.forget()
    assert order.waiting == {}
    assert order.lead_time == {}


@dataclass
class Consumer:
    """What `in_lead_order` asks of an aiokafka consumer, in memory."""

    positions: dict[TopicPartition, int]
    highwaters: dict[TopicPartition, int]
    calls: list[tuple[str, Any]] = field(default_factory=list)

    def assignment(self) -> set[TopicPartition]:
        return set(self.positions)

    def highwater(self, tp: TopicPartition) -> int | None:
        return self.highwaters.get(tp)

    async def position(self, tp: TopicPartition) -> int:
        return self.positions[tp]

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.calls.append(("seek", (tp, offset)))

    def pause(self, *tps: TopicPartition) -> None:
        self.calls.append(("pause", tps))

    def resume(self, *tps: TopicPartition) -> None:
        self.calls.append(("resume", tps))


async def test_waiting_partitions_are_rewound_and_paused_then_resumed() -> None:
    lead, other = TopicPartition(LEAD, 0), TopicPartition(OTHER, 0)
    consumer = Consumer({lead: 2, other: 9}, {lead: 5, other: 9})  # 3 complaints unread
    order = LeadOrder(LEAD)
    records = [Rec(LEAD, 0, 1, 100), Rec(OTHER, 0, 7, 90), Rec(OTHER, 0, 8, 110)]
    assert await in_lead_order(order, consumer, records, "notifier") == records[:2]
    assert consumer.calls == [("seek", (other, 8)), ("pause", (other,))]
    consumer.calls.clear()
    consumer.positions[lead] = 5  # the rest of the complaints taken
    assert await in_lead_order(order, consumer, [Rec(LEAD, 0, 4, 105)], "notifier") == [
        Rec(LEAD, 0, 4, 105)]
    assert consumer.calls == [("resume", (other,))]


async def test_a_lead_partition_this_instance_does_not_own_holds_nothing_back() -> None:
    other = TopicPartition(OTHER, 0)
    consumer = Consumer({other: 9}, {other: 9})
    records = [Rec(OTHER, 0, 8, 110)]
    assert await in_lead_order(LeadOrder(LEAD), consumer, records, "notifier") == records
    assert consumer.calls == []


async def test_a_consumer_without_pause_gets_every_record() -> None:
    records = [Rec(OTHER, 0, 8, 110)]
    assert await in_lead_order(LeadOrder(LEAD), object(), records, "notifier") == records


async def test_a_new_assignment_makes_the_subscriber_forget_its_waits() -> None:
    """aiokafka builds new partition states on assignment (no pauses left): the subscriber's
    listener empties the order's memory with them."""
    from shared.consumer import LagCleaner

    order = LeadOrder(LEAD)
    order.take([Rec(LEAD, 0, 1, 100), Rec(OTHER, 0, 1, 200)], behind(0))
    listener = LagCleaner("notifier", order.forget)
    await listener.on_partitions_revoked([])
    assert order.waiting  # revoking alone changes nothing: the assignment follows
    await listener.on_partitions_assigned([TopicPartition(LEAD, 0)])
    assert order.waiting == {} and order.lead_time == {}
    await LagCleaner("router").on_partitions_assigned([])  # no order: nothing to forget


async def test_a_lead_position_not_known_yet_holds_nothing_back(monkeypatch: Any) -> None:
    """Just after an assignment the position waits for the committed offset: the batch is
    not held up for it."""
    import asyncio

    import shared.lead_topic as lead_topic

    class Resetting(Consumer):
        async def position(self, tp: TopicPartition) -> int:
            await asyncio.Event().wait()  # never known
            return 0

    monkeypatch.setattr(lead_topic, "POSITION_WAIT_SECONDS", 0.01)
    lead, other = TopicPartition(LEAD, 0), TopicPartition(OTHER, 0)
    consumer = Resetting({lead: 0, other: 9}, {lead: 5, other: 9})
    records = [Rec(OTHER, 0, 8, 110)]
    assert await in_lead_order(LeadOrder(LEAD), consumer, records, "notifier") == records
    assert consumer.calls == []


async def test_a_step_the_consumer_refuses_hands_out_every_record_and_pauses_none() -> None:
    """A partition taken away during the batch: order is lost for once, no record is, and
    no partition stays paused."""
    from aiokafka.errors import IllegalStateError

    class Refusing(Consumer):
        def seek(self, tp: TopicPartition, offset: int) -> None:
            if tp.partition == 1:
                raise IllegalStateError("No current assignment for partition")
            super().seek(tp, offset)

    lead0, lead1 = TopicPartition(LEAD, 0), TopicPartition(LEAD, 1)
    other0, other1 = TopicPartition(OTHER, 0), TopicPartition(OTHER, 1)
    consumer = Refusing({lead0: 1, lead1: 1, other0: 9, other1: 9},
                        {lead0: 5, lead1: 5, other0: 9, other1: 9})
    order = LeadOrder(LEAD)
    records = [Rec(OTHER, 0, 8, 110), Rec(OTHER, 1, 8, 110)]
    assert await in_lead_order(order, consumer, records, "notifier") == records
    assert ("pause", (other0,)) in consumer.calls
    name, resumed = consumer.calls[-1]
    assert name == "resume" and other0 in resumed  # every waiting one still assigned
    assert order.waiting == {}
