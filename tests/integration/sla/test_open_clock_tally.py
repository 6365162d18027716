"""The open-clock tally on the real database: kept in the same transaction as the clock
writes, it always equals a count of the clocks themselves, through a case's lifecycle, the
scanner, redelivered events, lost compare-and-sets and concurrent writers; and it is counted
from the clocks once, when it does not exist."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import pytest
from prometheus_client import REGISTRY

from services.sla.adapters import clocks
from services.sla.adapters.clocks import CaseClocks, ClockStore
from shared.contract import Status
from shared.tally import COLLECTION as TALLIES

from .rig import Rig, hours
from .support import new_case, received, status

STAGES = ("routing", "response", "resolution", "auto_close")


async def assert_tally_is_the_count(store: ClockStore, expected: dict[str, int]) -> None:
    tally = await store.open_by_stage()
    assert tally == await store.count_open_by_stage()
    assert tally == expected


def gauge(stage: str) -> float | None:
    return REGISTRY.get_sample_value("lapor_sla_open_clocks", {"stage": stage})


async def test_the_tally_follows_the_lifecycle_the_scanner_and_redelivery(rig: Rig) -> None:
    store = ClockStore(rig.runtime.db)
    watcher = rig.watcher(store=store)
    unrouted, triaged, assigned, working, waiting, resolved, closed, rejected = (
        new_case() for _ in range(8))
    everyone = (unrouted, triaged, assigned, working, waiting, resolved, closed, rejected)
    await rig.feed(watcher, *[received(case, hours(0)) for case in everyone])
    await assert_tally_is_the_count(store, {"routing": 8})

    routed = rig.records(
        status(triaged, Status.TRIAGE, hours(0.1), agency_id=None),
        *[status(case, Status.ASSIGNED, hours(0.1))
          for case in (assigned, working, waiting, resolved, closed)],
        status(rejected, Status.REJECTED, hours(0.1), agency_id=None))
    assert await watcher.handle_events(routed) == []
    await assert_tally_is_the_count(store, {"routing": 2, "response": 5, "resolution": 5})

    rig.clock.set(hours(0.6))  # routing's 50 % warnings: the scanner moves marks, no state
    assert await watcher.scan() == 2
    await assert_tally_is_the_count(store, {"routing": 2, "response": 5, "resolution": 5})

    worked = rig.records(
        status(working, Status.IN_PROGRESS, hours(0.7)),
        status(waiting, Status.WAITING_CITIZEN, hours(0.7)),  # paused: still open
        status(resolved, Status.IN_PROGRESS, hours(0.7)),
        status(resolved, Status.RESOLVED, hours(0.8)),
        status(closed, Status.RESOLVED, hours(0.8)),
        status(closed, Status.CLOSED, hours(0.9)))
    assert await watcher.handle_events(worked) == []
    expected = {"routing": 2, "response": 2, "resolution": 3, "auto_close": 1}
    await assert_tally_is_the_count(store, expected)

    # A redelivery (a crash before the commit) applies nothing again, and counts nothing.
    assert await watcher.handle_events(routed + worked) == []
    await assert_tally_is_the_count(store, expected)

    rig.clock.set(hours(7))  # everything due, the auto_close action too: still no state
    assert await watcher.scan() > 0
    await assert_tally_is_the_count(store, expected)
    await watcher.sample_gauges()
    assert {stage: gauge(stage) for stage in STAGES} == {
        "routing": 2, "response": 2, "resolution": 3, "auto_close": 1}


class RacedStore(ClockStore):
    """The real store. Once, between a batch's read and its write, `race` lets another
    instance write some of the same cases first. Every write is recorded: the cases
    written, the losers, and the tally and the count right after it."""

    def __init__(self, db: Any) -> None:
        super().__init__(db)
        self.race: Callable[[], Awaitable[None]] | None = None
        self.writes: list[dict[str, Any]] = []

    async def for_cases(self, tracking_ids: Iterable[str]) -> dict[str, CaseClocks]:
        found = await super().for_cases(tracking_ids)
        if self.race is not None:
            race, self.race = self.race, None
            await race()
        return found

    async def write(self, cases: Any) -> set[str]:
        lost = await super().write(cases)
        self.writes.append({"cases": {case.tracking_id for case in cases}, "lost": lost,
                            "tally": await self.open_by_stage(),
                            "count": await self.count_open_by_stage()})
        return lost


async def test_a_lost_compare_and_set_writes_the_others_and_counts_only_them(rig: Rig
                                                                             ) -> None:
    other = rig.watcher()
    store = RacedStore(rig.runtime.db)
    consumer = rig.watcher(store=store)
    rejected, assigned, raced_new, new = (new_case() for _ in range(4))
    await rig.feed(other, received(rejected, hours(0)), received(assigned, hours(0)))
    both_received = received(raced_new, hours(0))

    async def the_other_instance_first() -> None:  # after the consumer read its cases
        await rig.feed(other, status(rejected, Status.ASSIGNED, hours(0.1)), both_received)

    store.race = the_other_instance_first
    await rig.feed(consumer, status(rejected, Status.REJECTED, hours(0.2), agency_id=None),
                   status(assigned, Status.ASSIGNED, hours(0.2)),
                   both_received, received(new, hours(0.2)))

    first, *retries = store.writes
    # The consumer's stale `rejected` (a replace) and `raced_new` (an insert) lost; the
    # transaction was tried again without them (each loss aborted it: the insert of `new`
    # that went with the lost replace was rolled back and written again).
    assert first["cases"] == {rejected, assigned, raced_new, new}
    assert first["lost"] == {rejected, raced_new}
    assert first["tally"] == first["count"] == {"routing": 2, "response": 2, "resolution": 2}
    # Reloaded and applied again: `rejected` stops on top of the other's assignment; the
    # other instance had applied `raced_new`'s event already, so it is not written again.
    assert [write["cases"] for write in retries] == [{rejected}]
    assert retries[0]["lost"] == set()
    await assert_tally_is_the_count(store, {"routing": 2, "response": 1, "resolution": 1})
    stored = await store.for_cases([rejected, new])
    assert stored[rejected].version == 2 and stored[rejected].counted == ()
    assert stored[new].version == 0 and stored[new].counted == ("routing",)


async def test_a_write_goes_in_chunks_and_a_loss_in_a_late_one_undoes_the_earlier(
        rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clocks, "WRITE_CHUNK", 2)
    other = rig.watcher()
    store = RacedStore(rig.runtime.db)
    consumer = rig.watcher(store=store)
    commands: list[int] = []
    bulk_write = store.collection.bulk_write

    async def counted_bulk_write(requests: Any, **kwargs: Any) -> Any:
        commands.append(len(requests))
        return await bulk_write(requests, **kwargs)

    store.collection.bulk_write = counted_bulk_write  # type: ignore[method-assign]
    cases = [new_case() for _ in range(7)]
    raced = cases[-1]  # in the last command

    async def the_other_instance_first() -> None:
        await rig.feed(other, received(raced, hours(0)))

    store.race = the_other_instance_first
    await rig.feed(consumer, *[received(case, hours(0)) for case in cases])

    first, *retries = store.writes
    assert first["lost"] == {raced}
    # Four commands (2 + 2 + 2 + 1): the last lost and aborted the transaction, so the
    # first three's inserts were undone and written again without the loser.
    assert commands == [2, 2, 2, 1, 2, 2, 2]
    # Reloaded: the other instance had applied the loser's event already, nothing to write.
    assert [write["cases"] for write in retries] == [set()]
    await assert_tally_is_the_count(store, {"routing": 7})
    assert set(await store.for_cases(cases)) == set(cases)


async def test_concurrent_writers_conflicting_on_the_tally_lose_no_count(rig: Rig) -> None:
    store = ClockStore(rig.runtime.db)
    watchers = [rig.watcher(store=store) for _ in range(4)]
    cases = [[new_case() for _ in range(10)] for _ in watchers]

    async def lifecycle(watcher: Any, mine: list[str]) -> None:
        for case in mine:  # one transaction per case, all instances at once
            await rig.feed(watcher, received(case, hours(0)))
        for index, case in enumerate(mine):
            events = [status(case, Status.ASSIGNED, hours(0.1))]
            if index % 2:
                events.append(status(case, Status.RESOLVED, hours(0.2)))
            await rig.feed(watcher, *events)

    await asyncio.gather(*(lifecycle(w, mine) for w, mine in zip(watchers, cases, strict=True)))
    await assert_tally_is_the_count(store, {"response": 20, "resolution": 20,
                                            "auto_close": 20})


async def test_the_tally_is_counted_once_when_it_does_not_exist(rig: Rig) -> None:
    store = ClockStore(rig.runtime.db)
    watcher = rig.watcher(store=store)
    cases = [new_case() for _ in range(5)]
    await rig.feed(watcher, *[received(case, hours(0)) for case in cases],
                   status(cases[0], Status.ASSIGNED, hours(0.1)))
    await watcher.sample_gauges()
    # A deployment from before the tally: the clocks exist, the tally does not (its writes
    # meanwhile count nothing).
    await rig.runtime.db[TALLIES].delete_many({})
    await rig.feed(watcher, status(cases[1], Status.CLOSED, hours(0.1), agency_id=None))
    assert await store.open_by_stage() is None
    await watcher.sample_gauges()  # without a tally the gauges keep their last values
    assert gauge("routing") == 4 and gauge("response") == 1

    assert await store.establish_tally()
    expected = {"routing": 3, "response": 1, "resolution": 1}
    await assert_tally_is_the_count(store, expected)
    document = await rig.runtime.db[TALLIES].find_one({})
    assert await ClockStore(rig.runtime.db).establish_tally() is False  # once only
    assert await rig.runtime.db[TALLIES].find_one({}) == document
    # From then on the writes keep it.
    await rig.feed(watcher, status(cases[2], Status.ASSIGNED, hours(0.2)))
    await assert_tally_is_the_count(store, {"routing": 2, "response": 2, "resolution": 2})
    await watcher.sample_gauges()
    assert {stage: gauge(stage) for stage in STAGES} == {
        "routing": 2, "response": 2, "resolution": 2, "auto_close": 0}


async def test_a_stale_write_among_cases_of_other_versions_loses_alone(rig: Rig) -> None:
    """Each case is compared with the version its write was computed from: a case stored
    at another version is not overwritten, whatever the versions of the cases written
    with it, and only it loses."""
    store = ClockStore(rig.runtime.db)
    fresh, advanced, stale = new_case(), new_case(), new_case()
    assert await store.write([CaseClocks(case) for case in (fresh, advanced, stale)]) == set()
    read = await store.for_cases([fresh, advanced, stale])
    assert await store.write([read[advanced]]) == set()  # now at version 1
    stored_stale = (await store.for_cases([stale]))[stale]
    assert await store.write([stored_stale]) == set()  # now at version 1, by someone else

    # `advanced` written from version 1, `fresh` from 0 (both current); `stale` from 0,
    # while version 1 is stored.
    lost = await store.write([(await store.for_cases([advanced]))[advanced],
                              read[fresh], read[stale]])
    assert lost == {stale}
    after = await store.for_cases([fresh, advanced, stale])
    assert (after[fresh].version, after[advanced].version, after[stale].version) == (1, 2, 1)
    assert await rig.runtime.db[clocks.COLLECTION].count_documents(
        {"_id": {"$in": [fresh, advanced, stale]}}) == 3
