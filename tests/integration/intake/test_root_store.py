"""The duplicate roots on the real database, stored in batches: one document per thousand
roots, read back whole; a write tried again as it was is stored once; roots that earlier
versions stored one per document are read too; a root found twice is remembered once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bson import Binary
from pymongo.asynchronous.database import AsyncDatabase

from services.intake.adapters.duplicate_roots import (
    BATCH_ROOTS,
    COLLECTION,
    INDEXES,
    LEGACY_COLLECTION,
    RecentRoots,
    RootStore,
)
from services.intake.domain.duplicates import Root, TextSketch

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
WINDOW = timedelta(days=7)
ROADS = ("infrastructure.roads", "64.08.04")
WATER = ("utilities.water", "64.08.01")


@pytest.fixture
async def db(database_for: Any) -> AsyncDatabase[dict[str, Any]]:
    return await database_for("intake", INDEXES)


def sketch(n: int) -> TextSketch:
    return TextSketch.of("", f"Jalan rusak nomor {n} di depan pasar, lubang besar sekali.")


def roots(count: int, *, start: int = 0) -> list[tuple[Any, datetime, Root]]:
    return [(ROADS if n % 2 else WATER, T0 + timedelta(milliseconds=n), Root(f"LPR-{n}", sketch(n)))
            for n in range(start, start + count)]


async def test_roots_are_stored_a_thousand_to_a_document_and_read_back_whole(db) -> None:
    store = RootStore(db)
    written = roots(2 * BATCH_ROOTS + 500)
    await store.add(written, WINDOW)
    assert await db[COLLECTION].count_documents({}) == 3
    newest = max(at for _, at, _ in written)
    read, latest = await store.expiring_after(T0)
    assert latest == newest + WINDOW
    assert sorted(read, key=lambda r: r[1]) == written  # buckets, times and sketches intact

    await store.add(written[:BATCH_ROOTS], WINDOW)  # the first statement, tried again
    assert await db[COLLECTION].count_documents({}) == 3


async def test_known_roots_are_not_returned_but_count_for_the_high_water(db) -> None:
    store = RootStore(db)
    written = roots(10)
    await store.add(written, WINDOW)
    known = {root.tracking_id for _, _, root in written[5:]}
    read, latest = await store.expiring_after(T0, known)
    assert [root.tracking_id for _, _, root in read] == [f"LPR-{n}" for n in range(5)]
    assert latest == written[-1][1] + WINDOW


async def test_a_batch_whose_newest_root_expired_is_not_read(db) -> None:
    store = RootStore(db)
    await store.add(roots(3), WINDOW)
    await store.add(roots(3, start=3600_000), WINDOW)  # an hour later
    read, _ = await store.expiring_after(T0 + WINDOW + timedelta(minutes=1))
    assert [root.tracking_id for _, _, root in read] == ["LPR-3600000", "LPR-3600001",
                                                         "LPR-3600002"]


async def test_earlier_versions_single_roots_are_read_and_a_root_found_twice_counts_once(
        db) -> None:
    store = RootStore(db)
    await db[LEGACY_COLLECTION].insert_many([
        {"_id": "LPR-old", "category": ROADS[0], "region_code": ROADS[1], "received_at": T0,
         "expires_at": T0 + WINDOW, "sketch": Binary(sketch(1).to_bytes())},
        {"_id": "LPR-1", "category": ROADS[0], "region_code": ROADS[1], "received_at": T0,
         "expires_at": T0 + WINDOW, "sketch": Binary(sketch(1).to_bytes())},
    ])
    await store.add(roots(2), WINDOW)
    await store.add(roots(3), WINDOW)  # a retry that took a newer root along: LPR-0, -1 again
    recent = RecentRoots(store, WINDOW)
    found = await recent.for_buckets([ROADS, WATER], T0 + timedelta(minutes=1))
    assert sorted(root.tracking_id for root in found[ROADS]) == ["LPR-1", "LPR-old"]
    assert [root.tracking_id for root in found[WATER]] == ["LPR-0", "LPR-2"]
    assert found[ROADS][0].sketch.hashes == sketch(1).hashes
