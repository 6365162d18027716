"""The scanner's due hints on the real database: every clock write adds one hint in its
transaction, the scanner finds a due case until it is written again, obsolete entries are
pruned, and a deployment of the indexed layout gets hints for its clocks once, at start-up,
and loses the old index."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, IndexModel

from services.sla.adapters.clocks import COLLECTION, NEW, CaseClocks, ClockStore
from services.sla.adapters.due_hints import ESTABLISHED, HINTS, LEGACY_INDEX
from shared.contract import Status
from tests.unit.sla.builders import Case, at

from .rig import Rig


def new(tracking_id: str, received_at: float) -> CaseClocks:
    """A case received at `received_at` hours: its routing clock's 50 % mark half an hour
    later (the drill policy's hour)."""
    case = Case(tracking_id=tracking_id).receive(at(received_at))
    return CaseClocks(tracking_id, case.clocks, NEW)


async def due(store: ClockStore, now: datetime, batch: int = 1000) -> list[list[str]]:
    return [[case.tracking_id for case in cases] async for cases in store.due(now, batch)]


async def hints(rig: Rig) -> list[dict[str, Any]]:
    return await rig.runtime.db[HINTS].find({"_id": {"$ne": ESTABLISHED}}).sort(
        "earliest", ASCENDING).to_list()


def entries(hint: dict[str, Any]) -> list[tuple[str, int]]:
    return [(entry["id"], entry["v"]) for entry in hint["cases"]]


async def test_each_write_adds_one_hint_and_the_clocks_have_no_other_index(rig: Rig) -> None:
    store = ClockStore(rig.runtime.db)
    assert await store.write([new("A", 0), new("B", 2), new("C", 1)]) == set()
    (hint,) = await hints(rig)
    assert entries(hint) == [("A", 0), ("B", 0), ("C", 0)]
    assert hint["earliest"].replace(tzinfo=None) == at(0.5).replace(tzinfo=None)
    assert list(await rig.runtime.db[COLLECTION].index_information()) == ["_id_"]


async def test_a_due_case_is_found_until_written_again_then_its_entry_is_pruned(rig: Rig
                                                                              ) -> None:
    store = ClockStore(rig.runtime.db)
    await store.write([new("A", 0), new("B", 2)])
    assert await due(store, at(1)) == [["A"]]
    assert await due(store, at(1)) == [["A"]]  # not advanced (a claim held elsewhere): again
    (stored,) = (await store.for_cases(["A"])).values()
    assigned = Case(tracking_id="A").receive(at(0)).status(Status.ASSIGNED, at(0.9),
                                                           "kutim-pupr")
    assert await store.write([stored.with_clocks(assigned.clocks)]) == set()

    assert await due(store, at(1)) == []  # A moved on: its response mark is at 1.9
    first, second = await hints(rig)
    assert entries(first) == [("A", 1)]  # the write of version 1
    assert entries(second) == [("B", 0)]  # A's version-0 entry pruned, B's kept
    assert second["earliest"].replace(tzinfo=None) == at(2.5).replace(tzinfo=None)
    assert await due(store, at(3)) == [["A", "B"]]  # by mark: A at 1.9, B at 2.5


async def test_a_hint_whose_cases_all_moved_on_is_deleted(rig: Rig) -> None:
    store = ClockStore(rig.runtime.db)
    await store.write([new("A", 0)])
    (stored,) = (await store.for_cases(["A"])).values()
    quiet = Case(tracking_id="A").receive(at(0)).status(Status.ASSIGNED, at(0.2), "kutim-pupr"
                                                        ).status(Status.WAITING_CITIZEN, at(0.3))
    await store.write([stored.with_clocks(quiet.clocks)])  # paused: nothing to come
    assert len(await hints(rig)) == 1
    assert await due(store, at(1)) == []
    assert await hints(rig) == []


async def test_many_due_cases_come_in_batches_each_once(rig: Rig) -> None:
    store = ClockStore(rig.runtime.db)
    cases = [new(f"C{index:03d}", index / 100) for index in range(70)]
    for offset in range(0, 70, 10):  # seven writes, seven hints
        await store.write(cases[offset:offset + 10])
    batches = await due(store, at(5), batch=32)
    assert [len(batch) for batch in batches] == [32, 32, 6]
    assert sorted(tid for batch in batches for tid in batch) == [c.tracking_id for c in cases]


async def as_indexed_layout(rig: Rig, cases: list[CaseClocks]) -> None:
    """The database as an earlier version left it: clocks indexed on `next_due_at`, no
    hints."""
    db = rig.runtime.db
    await db.drop_collection(HINTS)
    await db[COLLECTION].create_indexes([IndexModel([("next_due_at", ASCENDING)],
                                                    name=LEGACY_INDEX)])
    await db[COLLECTION].insert_many([case.document() for case in cases])


async def test_an_indexed_deployment_gets_hints_once_and_loses_the_old_index(rig: Rig
                                                                            ) -> None:
    waiting = Case(tracking_id="W").receive(at(0)).status(
        Status.ASSIGNED, at(0.1), "kutim-pupr").status(Status.WAITING_CITIZEN, at(0.2))
    cases = [new(f"C{index:04d}", index / 1000) for index in range(1500)]
    await as_indexed_layout(rig, [*cases, CaseClocks("W", waiting.clocks, NEW)])

    results = await asyncio.gather(ClockStore(rig.runtime.db).establish_hints(),
                                   ClockStore(rig.runtime.db).establish_hints())
    assert True in results  # two instances at once: each case hinted once all the same
    hinted = [entry for hint in await hints(rig) for entry in entries(hint)]
    assert sorted(hinted) == [(case.tracking_id, 0) for case in cases]  # not W: paused
    assert LEGACY_INDEX not in await rig.runtime.db[COLLECTION].index_information()
    assert not await ClockStore(rig.runtime.db).establish_hints()  # once only

    store = ClockStore(rig.runtime.db)
    found = [tid for batch in await due(store, at(1.0005)) for tid in batch]
    assert found == [f"C{index:04d}" for index in range(501)]  # marks at 0.5 to 1.0005 h


def assigned(tracking_id: str, received_at: float) -> Case:
    return Case(tracking_id=tracking_id).receive(at(received_at)).status(
        Status.ASSIGNED, at(0.9), "kutim-pupr")


async def test_the_scanners_write_drops_the_entries_it_found_the_cases_by(rig: Rig) -> None:
    store = ClockStore(rig.runtime.db)
    await store.write([new("A", 0), new("B", 0.1), new("C", 2)])
    ((a, b),) = [batch async for batch in store.due(at(1), 10)]
    assert a.hinted_in is not None and a.hinted_in == b.hinted_in
    moved = [a.with_clocks(assigned("A", 0).clocks), b.with_clocks(assigned("B", 0.1).clocks)]
    assert await store.write(moved) == set()
    (found_by, _) = await hints(rig)  # by earliest: the first write's, then the second's
    assert entries(found_by) == [("C", 0)]  # A's and B's entries gone with the write
    assert await due(store, at(1)) == []  # and the first hint's earliest is set right
    second, first = await hints(rig)
    assert (entries(second), entries(first)) == ([("A", 1), ("B", 1)], [("C", 0)])
    assert [hint["earliest"].replace(tzinfo=None) for hint in (second, first)] == [
        at(1.9).replace(tzinfo=None), at(2.5).replace(tzinfo=None)]
