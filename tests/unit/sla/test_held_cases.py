"""New cases kept back for the batch that brings their assignment: inserted once instead of
inserted and then replaced, never held past the moment a mark could fall due, never
committed while held. The store is an in-memory stand-in with the real store's
compare-and-set semantics; the real broker and database are in the integration tests."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

import pytest
from prometheus_client import REGISTRY

from services.sla.adapters.clocks import NEW, CaseClocks
from services.sla.handlers import SlaWatcher
from shared.agencies import load_agencies
from shared.clock import ManualClock
from shared.codec import encode, key_for
from shared.consumer import InboundRecord, commit_short_of
from shared.contract import ComplaintReceived, Status
from shared.settings import Settings
from shared.topics import Topics

from .builders import at, drill_policy, received_event, status_event

HOLD = timedelta(seconds=5)
SCAN = timedelta(seconds=5)


def waiting() -> float | None:
    """The `lapor_sla_cases_waiting` gauge."""
    return REGISTRY.get_sample_value("lapor_sla_cases_waiting")


class MemoryStore:
    """`for_cases` and `write` as ClockStore does them: a write is a compare-and-set on
    the version read, and a new case an insert that loses to one stored meanwhile."""

    def __init__(self) -> None:
        self.cases: dict[str, dict[str, Any]] = {}
        self.inserts = self.replaces = 0
        self.fail_next_write = False

    async def for_cases(self, tracking_ids: Iterable[str]) -> dict[str, CaseClocks]:
        found = {tid: CaseClocks(tid) for tid in tracking_ids}
        for tid in found:
            if tid in self.cases:
                found[tid] = CaseClocks.from_document(self.cases[tid])
        return found

    async def write(self, cases: Sequence[CaseClocks]) -> set[str]:
        if self.fail_next_write and cases:
            self.fail_next_write = False
            raise ConnectionError("database unreachable")
        lost = set()
        for case in cases:
            stored = self.cases.get(case.tracking_id)
            if (stored["version"] if stored else NEW) != case.version:
                lost.add(case.tracking_id)
                continue
            self.cases[case.tracking_id] = case.document()
            if case.version == NEW:
                self.inserts += 1
            else:
                self.replaces += 1
        return lost


async def _no_publish(messages: Any) -> None:
    return None


class Partition:
    """The records of one partition of each topic, at increasing offsets."""

    def __init__(self, number: int = 0) -> None:
        self.number = number
        self.offsets = {"complaints.received": 100, "complaints.status": 500}

    def records(self, *events: Any) -> list[InboundRecord]:
        out = []
        for event in events:
            topic = ("complaints.received" if isinstance(event, ComplaintReceived)
                     else "complaints.status")
            out.append(InboundRecord(topic, self.number, self.offsets[topic], key_for(event),
                                     encode(event)))
            self.offsets[topic] += 1
        return out


def watcher(store: MemoryStore, clock: ManualClock, hold: timedelta = HOLD,
            max_held: int = 10_000, **stages: str) -> SlaWatcher:
    return SlaWatcher(store=store, publish_all=_no_publish, topics=Topics(),  # type: ignore[arg-type]
                      policy=drill_policy(**stages),
                      agencies=load_agencies(Settings().agencies_file), clock=clock,
                      hold=hold, scan_interval=SCAN, max_held=max_held)


def received(case: str, when: datetime) -> ComplaintReceived:
    return received_event(when, tracking_id=case)


def assigned(case: str, when: datetime) -> Any:
    return status_event(Status.ASSIGNED, when, "kutim-pupr", tracking_id=case)


async def test_a_new_case_waits_for_its_assignment_and_is_inserted_once() -> None:
    store, clock, partition = MemoryStore(), ManualClock(at(0)), Partition()
    sla = watcher(store, clock)
    first = partition.records(received("CASE-1", at(0)))
    assert await sla.handle_events(first) == []
    assert store.cases == {}  # kept back: nothing written
    assert sla.holds() == {("complaints.received", 0): first[0].offset}  # nor committed
    assert waiting() == 1
    clock.advance(2)
    await sla.handle_events(partition.records(assigned("CASE-1", clock.now())))
    assert (store.inserts, store.replaces) == (1, 0)
    document = store.cases["CASE-1"]
    assert document["version"] == 0  # the first write of the case
    assert [c["stage"] for c in document["clocks"]] == ["routing", "response", "resolution"]
    assert [c["state"] for c in document["clocks"]] == ["stopped", "running", "running"]
    assert sla.holds() == {}
    assert waiting() == 0


async def test_without_holding_the_same_case_is_inserted_then_replaced() -> None:
    store, clock, partition = MemoryStore(), ManualClock(at(0)), Partition()
    sla = watcher(store, clock, hold=timedelta(0))
    await sla.handle_events(partition.records(received("CASE-1", at(0))))
    assert sla.holds() == {}
    clock.advance(2)
    await sla.handle_events(partition.records(assigned("CASE-1", clock.now())))
    assert (store.inserts, store.replaces) == (1, 1)
    assert store.cases["CASE-1"]["version"] == 1


async def test_a_case_is_held_no_longer_than_the_hold_when_events_keep_coming() -> None:
    store, clock, partition = MemoryStore(), ManualClock(at(0)), Partition()
    sla = watcher(store, clock)
    await sla.handle_events(partition.records(received("CASE-1", at(0))))
    clock.advance(HOLD - timedelta(seconds=1))
    await sla.handle_events(partition.records(received("CASE-2", clock.now())))
    assert store.cases == {}  # both still wait: CASE-1 for 4 s so far
    clock.advance(1)
    await sla.handle_events(partition.records(assigned("CASE-3", clock.now())))
    assert set(store.cases) == {"CASE-1", "CASE-3"}  # CASE-1's hold is over; CASE-2 waits on
    assert [c["stage"] for c in store.cases["CASE-1"]["clocks"]] == ["routing"]
    assert sla.holds() == {("complaints.received", 0): 101}  # CASE-2's record


async def test_release_writes_what_was_held_long_enough_when_nothing_more_comes() -> None:
    store, clock, partition = MemoryStore(), ManualClock(at(0)), Partition()
    sla = watcher(store, clock)
    await sla.handle_events(partition.records(received("CASE-1", at(0))))
    clock.advance(HOLD - timedelta(seconds=1))
    await sla.handle_events(partition.records(received("CASE-2", clock.now())))
    await sla.release_held()
    assert store.cases == {}  # neither has waited for the whole hold
    clock.advance(1)
    await sla.release_held()
    assert set(store.cases) == {"CASE-1"}
    assert sla.holds() == {("complaints.received", 0): 101}
    assert waiting() == 1
    clock.advance(HOLD)
    await sla.release_held()
    assert set(store.cases) == {"CASE-1", "CASE-2"}
    assert sla.holds() == {}
    assert waiting() == 0


async def test_a_case_with_a_mark_due_before_it_could_be_written_is_written_at_once() -> None:
    store, clock, partition = MemoryStore(), ManualClock(at(0)), Partition()
    # Routing in 20 s: its first warning (10 s) would fall due within the hold and the
    # next scan (5 + 5 s), while the case is not in the store the scanner reads.
    sla = watcher(store, clock, routing="PT20S")
    await sla.handle_events(partition.records(received("CASE-1", at(0))))
    assert set(store.cases) == {"CASE-1"}
    # With 21 s of routing, the first warning (10.5 s) falls after the latest write.
    sla = watcher(store, clock, routing="PT21S")
    await sla.handle_events(partition.records(received("CASE-2", at(0))))
    assert "CASE-2" not in store.cases


async def test_a_case_with_a_status_event_or_already_stored_is_not_held() -> None:
    store, clock, partition = MemoryStore(), ManualClock(at(0)), Partition()
    sla = watcher(store, clock)
    await sla.handle_events(partition.records(received("CASE-1", at(0)),
                                              assigned("CASE-1", at(0)),
                                              assigned("CASE-2", at(0))))
    assert set(store.cases) == {"CASE-1", "CASE-2"}  # one write each, nothing held
    assert (store.inserts, store.replaces) == (2, 0)
    # CASE-2's assignment came first (a tombstone for its routing clock): the stored case
    # takes its complaint.received at once, not after a hold.
    await sla.handle_events(partition.records(received("CASE-2", at(0))))
    assert store.replaces == 1 and sla.holds() == {}


async def test_a_failed_write_keeps_the_held_cases_for_the_retry() -> None:
    store, clock, partition = MemoryStore(), ManualClock(at(0)), Partition()
    sla = watcher(store, clock)
    await sla.handle_events(partition.records(received("CASE-1", at(0))))
    batch = partition.records(assigned("CASE-1", at(0.001)))
    store.fail_next_write = True
    with pytest.raises(ConnectionError):
        await sla.handle_events(batch)
    assert sla.holds() == {("complaints.received", 0): 100}  # still held, not committed
    await sla.handle_events(batch)  # the consumer's retry of the same batch
    assert (store.inserts, store.replaces) == (1, 0)
    assert sla.holds() == {}


async def test_a_case_that_lost_a_race_while_held_is_applied_to_the_stored_case() -> None:
    store, clock, partition = MemoryStore(), ManualClock(at(0)), Partition()
    sla = watcher(store, clock)
    await sla.handle_events(partition.records(received("CASE-1", at(0))))
    # Another instance stored the case meanwhile (a partition moved and came back).
    other = watcher(store, clock, hold=timedelta(0))
    await other.handle_events(Partition(1).records(received("CASE-1", at(0))))
    await sla.handle_events(partition.records(assigned("CASE-1", at(0.001))))
    document = store.cases["CASE-1"]
    assert [c["state"] for c in document["clocks"]] == ["stopped", "running", "running"]
    assert document["version"] == 1  # the insert lost, the retry replaced the stored case


async def test_the_held_cases_of_a_partition_being_lost_are_written_at_once() -> None:
    store, clock = MemoryStore(), ManualClock(at(0))
    sla = watcher(store, clock)
    await sla.handle_events(Partition(0).records(received("CASE-0", at(0))) +
                            Partition(1).records(received("CASE-1", at(0))))
    assert set(sla.holds()) == {("complaints.received", 0), ("complaints.received", 1)}
    # Before the partition goes: the batch's commit may pass its records once the hold is
    # gone, so the case must be stored by then.
    await sla.write_held({("complaints.received", 1), ("complaints.status", 1)})
    assert set(store.cases) == {"CASE-1"}
    assert set(sla.holds()) == {("complaints.received", 0)}


class FakeKafkaConsumer:
    def __init__(self, positions: dict[tuple[str, int], int]) -> None:
        from aiokafka.structs import TopicPartition
        self.positions = {TopicPartition(*key): value for key, value in positions.items()}
        self.committed: dict[Any, int] | None = None

    def assignment(self) -> set[Any]:
        return set(self.positions)

    async def position(self, tp: Any) -> int:
        return self.positions[tp]

    async def commit(self, offsets: dict[Any, int]) -> None:
        self.committed = offsets


async def test_the_commit_stops_at_the_earliest_held_record_of_each_partition() -> None:
    consumer = FakeKafkaConsumer({("complaints.received", 0): 120,
                                  ("complaints.received", 1): 80,
                                  ("complaints.status", 0): 510})
    assert await commit_short_of(consumer, {("complaints.received", 0): 101})
    assert consumer.committed is not None
    assert {(tp.topic, tp.partition): offset for tp, offset in consumer.committed.items()} == {
        ("complaints.received", 0): 101, ("complaints.received", 1): 80,
        ("complaints.status", 0): 510}
    # FastStream's stand-in consumer in unit tests cannot be told offsets: commit as usual.
    assert not await commit_short_of(object(), {("complaints.received", 0): 101})
    # Nothing held: the usual commit of the consumed positions does it.
    idle = FakeKafkaConsumer({("complaints.received", 0): 120})
    assert not await commit_short_of(idle, {}) and idle.committed is None


async def test_the_consumer_tells_the_handler_which_partitions_it_is_losing() -> None:
    from aiokafka.structs import TopicPartition

    from shared.consumer import LagCleaner
    told: list[set[tuple[str, int]]] = []

    async def on_revoked(partitions: set[tuple[str, int]]) -> None:
        told.append(partitions)

    listener = LagCleaner("sla", on_revoked=on_revoked)
    await listener.on_partitions_revoked([TopicPartition("complaints.received", 2)])
    await listener.on_partitions_revoked([])  # nothing lost: nothing to tell
    assert told == [{("complaints.received", 2)}]


async def test_a_held_case_is_built_on_not_applied_again(monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    import services.sla.handlers as handlers
    applied: list[str] = []
    real = handlers.apply_received

    def counting(clocks: Any, event: ComplaintReceived, **kwargs: Any) -> Any:
        applied.append(event.tracking_id)
        return real(clocks, event, **kwargs)

    monkeypatch.setattr(handlers, "apply_received", counting)
    store, clock, partition = MemoryStore(), ManualClock(at(0)), Partition()
    sla = watcher(store, clock)
    await sla.handle_events(partition.records(received("CASE-1", at(0))))
    clock.advance(1)
    await sla.handle_events(partition.records(received("CASE-2", clock.now())))  # held again
    await sla.handle_events(partition.records(assigned("CASE-1", clock.now())))
    assert applied == ["CASE-1", "CASE-2"]  # each complaint.received once
    assert [c["state"] for c in store.cases["CASE-1"]["clocks"]] == [
        "stopped", "running", "running"]


async def test_no_more_cases_are_kept_back_than_the_bound() -> None:
    store, clock, partition = MemoryStore(), ManualClock(at(0)), Partition()
    sla = watcher(store, clock, max_held=2)
    await sla.handle_events(partition.records(*(received(f"CASE-{n}", at(0))
                                                for n in range(5))))
    assert len(sla.holds()) == 1 and waiting() == 2  # two wait, in one partition
    assert len(store.cases) == 3  # the rest are written at once
