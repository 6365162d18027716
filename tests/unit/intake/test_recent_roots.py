"""The in-memory roots of the duplicate search: loaded once, then only what is new."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from services.intake.adapters.duplicate_roots import OVERLAP, RecentRoots
from services.intake.domain.duplicates import Root, TextSketch

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
WINDOW = timedelta(days=7)
BUCKET = ("infrastructure.roads", "64.08.04")
SKETCH = TextSketch.of("", "Jalan rusak parah di depan pasar.")


class RootRows:
    """What the duplicate_roots collection holds, answering like RootStore."""

    def __init__(self) -> None:
        self.rows: list[tuple[tuple[str, str], datetime, Root]] = []
        self.reads: list[datetime] = []
        self.skipped: list[set[str]] = []
        self.failing = False

    async def expiring_after(self, moment: datetime, known=()):
        if self.failing:
            raise ConnectionError("database away")
        self.reads.append(moment)
        self.skipped.append(set(known))
        live = [row for row in self.rows if row[1] + WINDOW > moment]
        latest = max((row[1] + WINDOW for row in live), default=None)
        return [row for row in live if row[2].tracking_id not in known], latest


async def settle() -> None:
    """Let a refresh started in the background (on an in-memory fake: no I/O) finish."""
    for _ in range(3):
        await asyncio.sleep(0)


class Ticks:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_loads_once_then_reads_only_what_is_new() -> None:
    rows, ticks = RootRows(), Ticks()
    rows.rows.append((BUCKET, T0 - timedelta(days=1), Root("OLD1-AAAA-A", SKETCH)))
    rows.rows.append((BUCKET, T0 - timedelta(days=8), Root("GONE-AAAA-A", SKETCH)))
    roots = RecentRoots(rows, WINDOW, refresh_seconds=5, monotonic=ticks)  # type: ignore[arg-type]

    found = await roots.for_buckets([BUCKET, ("health", None)], T0)
    assert [r.tracking_id for r in found[BUCKET]] == ["OLD1-AAAA-A"]
    assert found[("health", None)] == []
    assert rows.reads == [T0]  # everything still live

    roots.add(BUCKET, T0, Root("MINE-AAAA-A", SKETCH))  # stored by this instance
    rows.rows.append((BUCKET, T0 + timedelta(seconds=1), Root("PEER-AAAA-A", SKETCH)))
    ticks.now = 1.0
    found = await roots.for_buckets([BUCKET], T0 + timedelta(seconds=2))
    assert [r.tracking_id for r in found[BUCKET]] == ["OLD1-AAAA-A", "MINE-AAAA-A"]
    assert len(rows.reads) == 1  # not yet due

    ticks.now = 6.0
    found = await roots.for_buckets([BUCKET], T0 + timedelta(seconds=6))
    # Due: the refresh starts beside this batch, which is served from memory meanwhile.
    assert [r.tracking_id for r in found[BUCKET]] == ["OLD1-AAAA-A", "MINE-AAAA-A"]
    await settle()
    found = await roots.for_buckets([BUCKET], T0 + timedelta(seconds=6))
    assert [r.tracking_id for r in found[BUCKET]] == ["OLD1-AAAA-A", "MINE-AAAA-A",
                                                      "PEER-AAAA-A"]
    assert rows.skipped[-1] >= {"OLD1-AAAA-A", "MINE-AAAA-A"}  # known: not decoded again
    # Incremental: from the newest expiry seen, less an overlap for late commits.
    assert rows.reads[-1] == T0 - timedelta(days=1) + WINDOW - OVERLAP


async def test_roots_leave_with_the_window() -> None:
    rows, ticks = RootRows(), Ticks()
    roots = RecentRoots(rows, WINDOW, refresh_seconds=5, monotonic=ticks)  # type: ignore[arg-type]
    await roots.for_buckets([BUCKET], T0)
    roots.add(BUCKET, T0, Root("MINE-AAAA-A", SKETCH))
    later = T0 + WINDOW + timedelta(minutes=1)
    ticks.now = 10.0
    await roots.for_buckets([BUCKET], later)  # starts the refresh that forgets
    await settle()
    assert (await roots.for_buckets([BUCKET], later))[BUCKET] == []


async def test_a_failed_refresh_leaves_the_cache_and_is_tried_again_later() -> None:
    rows, ticks = RootRows(), Ticks()
    roots = RecentRoots(rows, WINDOW, refresh_seconds=5, monotonic=ticks)  # type: ignore[arg-type]
    await roots.for_buckets([BUCKET], T0)
    roots.add(BUCKET, T0, Root("MINE-AAAA-A", SKETCH))
    rows.failing, ticks.now = True, 6.0
    await roots.for_buckets([BUCKET], T0 + timedelta(seconds=6))
    await settle()
    found = await roots.for_buckets([BUCKET], T0 + timedelta(seconds=7))
    assert [r.tracking_id for r in found[BUCKET]] == ["MINE-AAAA-A"]
    assert len(rows.reads) == 1  # not retried at once: it waits another refresh period
    rows.failing, ticks.now = False, 12.0
    await roots.for_buckets([BUCKET], T0 + timedelta(seconds=12))
    await settle()
    assert len(rows.reads) == 2


async def test_an_instance_alone_still_reads_only_what_is_new() -> None:
    """Its own roots, read back and skipped, still move the high-water mark."""
    rows, ticks = RootRows(), Ticks()
    roots = RecentRoots(rows, WINDOW, refresh_seconds=5, monotonic=ticks)  # type: ignore[arg-type]
    await roots.for_buckets([BUCKET], T0)
    for step in (1, 2):
        mine = Root(f"MIN{step}-AAAA-A", SKETCH)
        at = T0 + timedelta(seconds=10 * step)
        roots.add(BUCKET, at, mine)
        rows.rows.append((BUCKET, at, mine))  # what this instance stored
        ticks.now = 10.0 * step
        await roots.for_buckets([BUCKET], at)
        await settle()
    assert rows.reads[-1] == T0 + timedelta(seconds=10) + WINDOW - OVERLAP
