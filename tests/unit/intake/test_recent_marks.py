"""The flood guard's window in memory: read once, own marks added as stored, the other
writers' new chunks read every `refresh_seconds`, old marks forgotten."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from structlog.testing import capture_logs

from services.intake.adapters.contact_marks import Mark, marks_document
from services.intake.adapters.recent_marks import OVERLAP, RecentMarks

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


class MarkRows:
    """What the contact_marks collection holds, answering like ContactMarks."""

    def __init__(self, writer: str = "me") -> None:
        self.writer = writer
        self.docs: dict[Any, dict[str, Any]] = {}
        self.reads: list[tuple[datetime, bool]] = []
        self.failing = False

    def put(self, marks: list[Mark], writer: str) -> None:
        doc = marks_document(marks, writer)
        self.docs.setdefault(doc["_id"], doc)

    async def add(self, marks: list[Mark]) -> list[Mark]:
        if self.failing:
            raise ConnectionError("database away")
        marks = [m for m in marks if m.contact_keys]
        if marks:
            self.put(marks, self.writer)
        return marks

    async def received_since(self, since: datetime, *, others_only: bool) -> list[dict[str, Any]]:
        if self.failing:
            raise ConnectionError("database away")
        self.reads.append((since, others_only))
        return [doc for doc in self.docs.values() if doc["received_at"] >= since
                and not (others_only and doc["writer"] == self.writer)]


class Ticks:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def window(rows: MarkRows, ticks: Ticks, **kwargs: Any) -> RecentMarks:
    return RecentMarks(rows, HOUR, refresh_seconds=1.0, monotonic=ticks,  # type: ignore[arg-type]
                       **kwargs)


async def test_reads_the_window_at_start_then_only_other_writers_since_the_last_read() -> None:
    rows, ticks = MarkRows(), Ticks()
    rows.put([Mark("web:old", ["email:a"], T0 - 2 * HOUR)], "before")
    rows.put([Mark("web:1", ["email:a", "phone:1"], T0 - timedelta(minutes=5))], "before")
    marks = window(rows, ticks)

    assert await marks.recent(["email:a"], T0) == [("web:1", ["email:a", "phone:1"])]
    assert rows.reads == [(T0 - HOUR, False)]  # every writer's, within the window

    await marks.add([Mark("web:2", ["email:a"], T0)])  # its own: counted at once
    assert sorted(k for k, _ in await marks.recent(["email:a"], T0)) == ["web:1", "web:2"]
    assert len(rows.reads) == 1  # not stale yet: no read

    rows.put([Mark("web:3", ["phone:1"], T0)], "other")  # another instance stores
    ticks.now = 0.5
    assert [k for k, _ in await marks.recent(["phone:1"], T0)] == ["web:1"]  # not read yet
    ticks.now = 1.0
    later = T0 + timedelta(seconds=1)
    assert sorted(k for k, _ in await marks.recent(["phone:1"], later)) == ["web:1", "web:3"]
    assert rows.reads[-1] == (T0 - OVERLAP, True)  # the others', from the last read on


async def test_a_chunk_that_landed_late_is_read_within_the_overlap_and_counted_once() -> None:
    rows, ticks = MarkRows(), Ticks()
    marks = window(rows, ticks)
    await marks.recent([], T0)
    late = [Mark("web:late", ["email:b"], T0 - timedelta(seconds=3))]  # its batch began before
    rows.put(late, "other")
    for second in (1, 2, 3):  # read again at every refresh of the overlap: counted once
        ticks.now = second
        found = await marks.recent(["email:b"], T0 + timedelta(seconds=second))
        assert found == [("web:late", ["email:b"])]
    assert len(rows.reads) == 4


async def test_a_submission_in_two_chunks_counts_once() -> None:
    rows, ticks = MarkRows(), Ticks()
    marks = window(rows, ticks)
    await marks.add([Mark("web:1", ["email:a"], T0)])
    rows.put([Mark("web:1", ["email:a"], T0), Mark("web:2", ["email:a"], T0)], "other")
    ticks.now = 1
    assert sorted(await marks.recent(["email:a", "email:a"], T0)) == [
        ("web:1", ["email:a"]), ("web:2", ["email:a"])]


async def test_complaints_leave_the_window_and_memory_after_an_hour() -> None:
    rows, ticks = MarkRows(), Ticks()
    marks = window(rows, ticks)
    await marks.recent([], T0)
    await marks.add([Mark("web:1", ["email:a"], T0), Mark("web:2", ["email:a", "phone:2"], T0)])
    await marks.add([Mark("web:3", ["email:a"], T0 + timedelta(minutes=30))])
    found = await marks.recent(["email:a"], T0 + HOUR)
    assert sorted(k for k, _ in found) == ["web:1", "web:2", "web:3"]
    found = await marks.recent(["email:a", "phone:2"], T0 + HOUR + timedelta(seconds=1))
    assert found == [("web:3", ["email:a"])]
    assert set(marks._marks) == {"web:3"} and set(marks._by_contact) == {"email:a"}


async def test_marks_without_a_contact_are_not_kept_and_a_failed_store_counts_nothing() -> None:
    rows, ticks = MarkRows(), Ticks()
    marks = window(rows, ticks)
    await marks.add([Mark("web:anonymous", [], T0)])
    assert rows.docs == {} and marks._marks == {}
    rows.failing = True
    with pytest.raises(ConnectionError):
        await marks.add([Mark("web:1", ["email:a"], T0)])
    rows.failing = False
    assert await marks.recent(["email:a"], T0) == []


async def test_a_failed_read_fails_the_chunk_and_the_next_one_reads_again() -> None:
    rows, ticks = MarkRows(), Ticks()
    marks = window(rows, ticks)
    rows.failing = True
    with pytest.raises(ConnectionError):
        await marks.recent(["email:a"], T0)
    rows.failing = False
    rows.put([Mark("web:1", ["email:a"], T0)], "other")
    assert await marks.recent(["email:a"], T0) == [("web:1", ["email:a"])]
    assert rows.reads == [(T0 - HOUR, False)]


async def test_a_full_window_forgets_its_oldest_marks_and_says_so() -> None:
    rows, ticks = MarkRows(), Ticks()
    marks = window(rows, ticks, max_marks=2)
    await marks.recent([], T0)
    await marks.add([Mark(f"web:{n}", [f"email:{n}"], T0 + timedelta(seconds=n))
                     for n in range(3)])
    assert set(marks._marks) == {"web:1", "web:2"} and marks.size == 2
    assert await marks.recent(["email:0"], T0 + timedelta(seconds=3)) == []
    assert marks.take_forgotten() == 1 and marks.take_forgotten() == 0  # for the metric
    ticks.now = 1
    with capture_logs() as logs:
        await marks.recent([], T0 + timedelta(seconds=3))
    assert [(entry["event"], entry["forgotten"]) for entry in logs] == [
        ("flood guard window full: the oldest marks forgotten", 1)]


async def test_chunks_asking_together_share_one_read() -> None:
    rows, ticks = MarkRows(), Ticks()
    marks = window(rows, ticks)
    rows.put([Mark("web:1", ["email:a"], T0)], "other")
    first, second = await asyncio.gather(marks.recent(["email:a"], T0),
                                         marks.recent(["email:a"], T0))
    assert first == second == [("web:1", ["email:a"])]
    assert len(rows.reads) == 1
    ticks.now = 1
    await marks.recent([], T0 + timedelta(seconds=1))
    assert len(rows.reads) == 2  # the next read is a new one


async def test_a_read_that_failed_after_its_waiter_was_cancelled_is_not_waited_for() -> None:
    rows, ticks = MarkRows(), Ticks()
    gate = asyncio.Event()
    answer = rows.received_since

    async def slow(since: datetime, *, others_only: bool) -> list[dict[str, Any]]:
        await gate.wait()
        return await answer(since, others_only=others_only)

    rows.received_since = slow  # type: ignore[method-assign]
    marks = window(rows, ticks)
    asking = asyncio.ensure_future(marks.recent(["email:a"], T0))
    for _ in range(3):
        await asyncio.sleep(0)  # the read has started and waits for the database
    asking.cancel()  # the chunk that asked is given up (its batch failed) ...
    with pytest.raises(asyncio.CancelledError):
        await asking
    rows.failing = True
    gate.set()
    for _ in range(3):
        await asyncio.sleep(0)  # ... and then the read fails, seen by no one
    rows.failing = False
    rows.put([Mark("web:1", ["email:a"], T0)], "other")
    assert await marks.recent(["email:a"], T0) == [("web:1", ["email:a"])]  # read anew
