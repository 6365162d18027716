"""The sla application layer in process, on the real database and broker, with a
ManualClock: concurrent scanners, a scanner racing the event consumer, an instance dying
between claiming and publishing, catch-up after downtime, and the metrics."""

from __future__ import annotations

import asyncio
from datetime import UTC, timedelta
from typing import Any

import pytest
from prometheus_client import REGISTRY

from services.sla.adapters.clocks import (
    CLAIM_LEASE,
    COLLECTION,
    LEDGER,
    LEDGER_RETENTION,
    ClockStore,
)
from services.sla.adapters.upgrade import LEGACY_CLOCKS, case_from_legacy, fold_legacy_clocks
from shared.contract import Status

from .rig import Rig, hours
from .support import (
    ASSIGNEE,
    COORDINATOR,
    FULL_SCHEDULE,
    PARENT,
    duplicates,
    mark,
    new_case,
    of_stage,
    received,
    status,
)


async def test_catch_up_after_downtime_emits_every_mark_once_in_order(rig: Rig) -> None:
    watcher = rig.watcher()
    case = new_case()
    await rig.feed(watcher, received(case, hours(0)), status(case, Status.ASSIGNED, hours(0)))
    rig.clock.set(hours(20))  # down for 20 hours: everything fell due
    assert await watcher.scan() == 10
    assert await watcher.scan() == 0
    events = await rig.sla_events(10)
    assert duplicates(events) == {}
    for stage, due in (("response", hours(2)), ("resolution", hours(10))):
        emitted = of_stage(events, case, stage)
        assert [mark(e) for e in emitted] == FULL_SCHEDULE
        breaches = [e for e in emitted if e["event_type"] == "sla.breached"]
        assert [e["escalated_to_agency_id"] for e in breaches] == [ASSIGNEE, PARENT, COORDINATOR]
        assert {e["due_at"] for e in emitted} == {due.isoformat().replace("+00:00", "Z")}
        assert breaches[0]["overdue_seconds"] == (hours(20) - due).total_seconds()
    assert of_stage(events, case, "routing") == []  # stopped by the assignment


async def test_two_instances_scanning_at_once_publish_each_mark_once(rig: Rig) -> None:
    first, second = rig.watcher(scan_batch=7), rig.watcher(scan_batch=7)
    cases = [new_case() for _ in range(12)]
    await rig.feed(first, *[event for case in cases for event in (
        received(case, hours(0)), status(case, Status.ASSIGNED, hours(0)))])
    published = 0
    for step in range(1, 29):  # every half hour for 14 hours, both instances at once
        rig.clock.set(hours(step / 2))
        counts = await asyncio.gather(first.scan(), second.scan())
        published += sum(counts)
    assert published == 10 * len(cases)
    events = await rig.sla_events(published)
    assert len(events) == published and duplicates(events) == {}
    for case in cases:
        for stage in ("response", "resolution"):
            assert [mark(e) for e in of_stage(events, case, stage)] == FULL_SCHEDULE


class RacingStore(ClockStore):
    """The real store; between the event consumer's read and its write, a scanner (another
    instance) claims the same clocks."""

    def __init__(self, db: Any) -> None:
        super().__init__(db)
        self.race: Any = None

    async def for_cases(self, tracking_ids: Any) -> Any:
        found = await super().for_cases(tracking_ids)
        if self.race is not None:
            race, self.race = self.race, None
            await race()
        return found


async def test_an_event_racing_a_scan_is_applied_to_every_clock(rig: Rig) -> None:
    store = RacingStore(rig.runtime.db)
    consumer, scanner = rig.watcher(store=store), rig.watcher()
    case = new_case()
    await rig.feed(consumer, received(case, hours(0)))
    rig.clock.set(hours(0.6))  # routing's 50% warning is due
    store.race = scanner.scan  # ... and claimed while the assignment is being applied
    await rig.feed(consumer, status(case, Status.ASSIGNED, hours(0.6)))
    routing = await rig.stored(f"{case}:routing")
    assert routing["state"] == "stopped" and routing["next_due_at"] is None
    rig.clock.set(hours(2.2))  # routing would have breached had the assignment been lost
    await scanner.scan()
    events = await rig.sla_events(3)
    assert [mark(e) for e in of_stage(events, case, "routing")] == [("warning", 0.5)]
    assert [mark(e) for e in of_stage(events, case, "response")] == FULL_SCHEDULE[:2]


class HookedStore(ClockStore):
    """The real store; runs `before_claim` (once) just before the next ledger claim."""

    def __init__(self, db: Any) -> None:
        super().__init__(db)
        self.before_claim: Any = None

    async def claim(self, entries: Any) -> set[str]:
        if self.before_claim is not None:
            hook, self.before_claim = self.before_claim, None
            await hook()
        return await super().claim(entries)


async def test_an_instance_dying_before_it_publishes_leaves_its_claims_to_another(rig: Rig
                                                                                   ) -> None:
    async def crash(items: Any) -> None:
        raise ConnectionError("killed between claiming and publishing")

    store = HookedStore(rig.runtime.db)
    dying, survivor = rig.watcher(store=store, publish_all=crash), rig.watcher()
    claimed, overtaken = new_case(), new_case()
    for case in (claimed, overtaken):
        await rig.feed(survivor, received(case, hours(0)),
                       status(case, Status.ASSIGNED, hours(0)))
    rig.clock.set(hours(1.2))  # both responses' 50% warnings are due
    # While the dying instance prepares its claims, the consumer stops one of the clocks:
    # its claimed warning is no longer due, so it must never be published.
    store.before_claim = lambda: rig.feed(
        survivor, status(overtaken, Status.IN_PROGRESS, hours(1.2)))
    with pytest.raises(ConnectionError):
        await dying.scan()
    ledger = await rig.runtime.db[LEDGER].find().to_list()
    assert len(ledger) == 2  # both claimed before the crash
    response = await rig.stored(f"{claimed}:response")
    assert response["next_due_at"] is not None and len(response["pending"]) == 5  # not advanced
    assert await survivor.scan() == 0  # the lease still holds
    rig.clock.set(hours(1.2) + CLAIM_LEASE + timedelta(seconds=1))
    assert await survivor.scan() == 1  # taken over: the still running clock's warning only
    taken_over = await rig.runtime.db[LEDGER].find({"takeovers": 1}).to_list()
    assert [entry["clock_id"] for entry in taken_over] == [f"{claimed}:response"]
    response = await rig.stored(f"{claimed}:response")
    assert len(response["pending"]) == 4 and response["warnings_sent"] == [0.5]
    assert await survivor.scan() == 0
    rig.clock.set(hours(1.6))  # 75% due: published once, after the recovered 50%
    assert await survivor.scan() == 1
    events = await rig.sla_events(2)
    assert duplicates(events) == {}
    assert [mark(e) for e in of_stage(events, claimed, "response")] == FULL_SCHEDULE[:2]
    assert of_stage(events, overtaken, "response") == []  # stopped before its claim landed


async def test_a_clock_changed_while_its_marks_are_published_keeps_its_schedule(rig: Rig
                                                                                ) -> None:
    watcher = rig.watcher()
    case = new_case()
    await rig.feed(watcher, received(case, hours(0)), status(case, Status.ASSIGNED, hours(0)))

    async def publish_then_pause(items: Any) -> None:
        await rig.runtime.publish_all(items)
        # The event consumer (same or other instance) moves the clocks meanwhile.
        await rig.feed(watcher, status(case, Status.WAITING_CITIZEN, hours(1.1)))

    pausing = rig.watcher(publish_all=publish_then_pause)
    rig.clock.set(hours(1.1))
    assert await pausing.scan() == 1  # response 50%
    response = await rig.stored(f"{case}:response")
    assert response["state"] == "paused" and response["next_due_at"] is None
    assert response["warnings_sent"] == [0.5]  # recorded on the paused version
    assert await rig.runtime.db[LEDGER].count_documents({}) == 1
    rig.clock.set(hours(5))  # beyond the lease: nothing is published again
    assert await watcher.scan() == 0
    await rig.feed(watcher, status(case, Status.IN_PROGRESS, hours(5)))  # stops response
    rig.clock.set(hours(16))
    await watcher.scan()
    events = await rig.sla_events(6)
    assert duplicates(events) == {}
    assert [mark(e) for e in of_stage(events, case, "response")] == [("warning", 0.5)]
    resolution = of_stage(events, case, "resolution")
    assert [mark(e) for e in resolution] == FULL_SCHEDULE
    # Paused from 1.1 h to 5 h: the 10 h resolution deadline moved by 3.9 h.
    assert resolution[0]["due_at"] == hours(10 + 3.9).isoformat().replace("+00:00", "Z")


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_metrics_count_warnings_breaches_auto_closes_lateness_and_open_clocks(
        rig: Rig) -> None:
    watcher = rig.watcher()
    late_case, closing_case = new_case(), new_case()
    await rig.feed(watcher,
                   received(late_case, hours(0)), status(late_case, Status.ASSIGNED, hours(0)),
                   received(closing_case, hours(0)),
                   status(closing_case, Status.ASSIGNED, hours(0)),
                   status(closing_case, Status.RESOLVED, hours(0.1)))
    await watcher.sample_gauges()
    assert sample("lapor_sla_open_clocks", stage="response") == 1
    assert sample("lapor_sla_open_clocks", stage="resolution") == 1
    assert sample("lapor_sla_open_clocks", stage="auto_close") == 1
    before = {
        "warning": sample("lapor_sla_warnings_total", agency_id=ASSIGNEE, stage="response",
                          threshold="0.5"),
        "breach": sample("lapor_sla_breaches_total", agency_id=ASSIGNEE, stage="response",
                         level="2"),
        "auto_close": sample("lapor_sla_auto_close_total"),
        "lateness": sample("lapor_sla_emission_lateness_seconds_count"),
        "late_bucket": sample("lapor_sla_emission_lateness_seconds_bucket", le="3600.0"),
    }
    rig.clock.set(hours(5.5))
    assert await watcher.scan() == 5 + 1 + 1  # all of response; resolution 50%; auto_close
    assert sample("lapor_sla_warnings_total", agency_id=ASSIGNEE, stage="response",
                  threshold="0.5") == before["warning"] + 1
    assert sample("lapor_sla_breaches_total", agency_id=ASSIGNEE, stage="response",
                  level="2") == before["breach"] + 1
    assert sample("lapor_sla_auto_close_total") == before["auto_close"] + 1
    assert sample("lapor_sla_emission_lateness_seconds_count") == before["lateness"] + 7
    # Emitted 5.5 h in: the 50% response warning (due at 1 h) was 4.5 h late.
    assert sample("lapor_sla_emission_lateness_seconds_bucket", le="3600.0") < \
        before["late_bucket"] + 7
    await watcher.sample_gauges()
    assert sample("lapor_sla_open_clocks", stage="auto_close") == 1  # its mark sent, not closed


async def test_ledger_entries_expire_after_the_retention_period(rig: Rig) -> None:
    watcher = rig.watcher()
    case = new_case()
    await rig.feed(watcher, received(case, hours(0)))
    rig.clock.set(hours(0.6))
    assert await watcher.scan() == 1
    indexes = await rig.runtime.db[LEDGER].index_information()
    assert indexes["retention"]["expireAfterSeconds"] == LEDGER_RETENTION.total_seconds()
    entry = await rig.runtime.db[LEDGER].find_one({})
    assert entry["clock_id"] == f"{case}:routing" and entry["kind"] == "warning"
    assert entry["claimed_at"].replace(tzinfo=UTC) == hours(0.6)


async def as_legacy_layout(rig: Rig, tracking_id: str) -> None:
    """Rewrite a stored case the way earlier versions stored it: one document per stage."""
    case = await rig.runtime.db[COLLECTION].find_one_and_delete({"_id": tracking_id})
    assert case is not None
    await rig.runtime.db[LEGACY_CLOCKS].insert_many(
        [{**clock, "_id": f"{tracking_id}:{clock['stage']}"} for clock in case["clocks"]])


async def test_clocks_of_the_earlier_layout_are_folded_into_one_document_per_case(rig: Rig
                                                                                    ) -> None:
    watcher = rig.watcher()
    assigned, waiting = new_case(), new_case()
    await rig.feed(watcher, received(assigned, hours(0)),
                   status(assigned, Status.ASSIGNED, hours(0)), received(waiting, hours(0)))
    rig.clock.set(hours(1.1))
    # assigned: response 50 %; waiting: routing 50 %, 75 % and breach 1 (its 1 h passed)
    assert await watcher.scan() == 4
    for case in (assigned, waiting):
        await as_legacy_layout(rig, case)
    # An instance that died halfway through an earlier upgrade had written one case already.
    (legacy,) = await rig.runtime.db[LEGACY_CLOCKS].find({"_id": f"{waiting}:routing"}).to_list()
    await rig.runtime.db[COLLECTION].insert_one(case_from_legacy([legacy]).document())

    assert await fold_legacy_clocks(rig.runtime.db) == 2
    assert LEGACY_CLOCKS not in await rig.runtime.db.list_collection_names()
    assert await fold_legacy_clocks(rig.runtime.db) == 0  # once only
    stored = await rig.runtime.db[COLLECTION].find_one({"_id": assigned})
    assert [c["stage"] for c in stored["clocks"]] == ["routing", "response", "resolution"]
    assert stored["next_due_at"].replace(tzinfo=UTC) == hours(1.5)  # response 75 %
    assert (await rig.stored(f"{assigned}:response"))["warnings_sent"] == [0.5]

    rig.clock.set(hours(20))  # everything else falls due, once
    await watcher.scan()
    events = await rig.sla_events(15)
    assert duplicates(events) == {}
    for stage in ("response", "resolution"):
        assert [mark(e) for e in of_stage(events, assigned, stage)] == FULL_SCHEDULE
    assert [mark(e) for e in of_stage(events, waiting, "routing")] == FULL_SCHEDULE
