"""MongoDB store of SLA clocks: one document per (case, stage), compare-and-set by version.

Every write is `replace_one({_id, version: expected}, doc, upsert=True)`: when someone else
changed (or created) the clock first, the filter misses, the upsert collides on `_id` and
the write comes back as a duplicate-key error for exactly that clock. So concurrent sla
instances, and the scanner racing the event consumer, never overwrite each other: the
loser reloads and decides again.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, IndexModel, ReplaceOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

COLLECTION = "sla_clocks"
NEW = -1  # the expected version of a clock that does not exist yet

INDEXES = {
    COLLECTION: [
        # The scanner's only query: its cost grows with the due clocks, not the open ones.
        IndexModel([("next_due_at", ASCENDING)], name="next_due_at"),
        IndexModel([("tracking_id", ASCENDING)], name="tracking_id"),
        IndexModel([("outbox_lease_until", ASCENDING)], name="outbox_lease", sparse=True),
    ],
}


class ClockStore:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.collection = db[COLLECTION]

    async def for_cases(self, tracking_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        found: dict[str, list[dict[str, Any]]] = {tid: [] for tid in tracking_ids}
        async for doc in self.collection.find({"tracking_id": {"$in": list(tracking_ids)}}):
            found[doc["tracking_id"]].append(doc)
        return found

    async def due(self, now: datetime, limit: int) -> list[dict[str, Any]]:
        cursor = self.collection.find({"next_due_at": {"$lte": now}}).sort(
            "next_due_at", ASCENDING).limit(limit)
        return [doc async for doc in cursor]

    async def stranded_outboxes(self, now: datetime, limit: int) -> list[dict[str, Any]]:
        """Emissions stored by an instance that died before publishing them."""
        cursor = self.collection.find({"outbox_lease_until": {"$lte": now}}).limit(limit)
        return [doc async for doc in cursor]

    async def write(self, writes: Sequence[tuple[dict[str, Any], int]]) -> set[str]:
        """Compare-and-set many clocks; returns the ids that lost a race (not written)."""
        if not writes:
            return set()
        requests = [ReplaceOne({"_id": doc["_id"], "version": expected}, doc, upsert=True)
                    for doc, expected in writes]
        try:
            await self.collection.bulk_write(requests, ordered=False)
        except BulkWriteError as exc:
            lost = set()
            for error in exc.details.get("writeErrors", []):
                if error.get("code") != 11000:
                    raise
                lost.add(writes[error["index"]][0]["_id"])
            return lost
        return set()

    async def clear_outbox(self, clock_ids: Sequence[str]) -> None:
        if clock_ids:
            await self.collection.update_many(
                {"_id": {"$in": list(clock_ids)}},
                {"$set": {"outbox": []}, "$unset": {"outbox_lease_until": ""}})

    async def count_open_by_stage(self) -> dict[str, int]:
        pipeline = [{"$match": {"state": {"$ne": "stopped"}}},
                    {"$group": {"_id": "$stage", "n": {"$sum": 1}}}]
        return {row["_id"]: row["n"] async for row in await self.collection.aggregate(pipeline)}
