"""MongoDB store of cases, with a per-case outbox.

A case and the events its change produced are written in one document update (`outbox`);
the events are published afterwards and the outbox cleared. A crash in between leaves the
outbox in place and the redelivered message publishes exactly those events again (same
event ids), so nothing is lost and consumers can drop the repeat by event_id.
`version` guards against two writers (e.g. during a consumer-group rebalance).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

COLLECTION = "cases"

INDEXES = {
    COLLECTION: [
        IndexModel([("case.status", ASCENDING), ("case.assignee", ASCENDING)],
                   name="status_assignee"),
        IndexModel([("outbox_pending", ASCENDING)], name="outbox_pending", sparse=True),
    ],
}


class CaseStore:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.collection = db[COLLECTION]

    async def get(self, tracking_id: str) -> dict[str, Any] | None:
        return await self.collection.find_one({"_id": tracking_id})

    async def get_many(self, tracking_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        cursor = self.collection.find({"_id": {"$in": list(tracking_ids)}})
        return {doc["_id"]: doc async for doc in cursor}

    async def insert_new(self, documents: Sequence[dict[str, Any]]) -> set[str]:
        """Insert new cases; returns the ids that already existed (left untouched)."""
        existing: set[str] = set()
        if not documents:
            return existing
        try:
            await self.collection.insert_many(list(documents), ordered=False)
        except BulkWriteError as exc:
            for error in exc.details.get("writeErrors", []):
                if error.get("code") != 11000:
                    raise
                existing.add(documents[error["index"]]["_id"])
        return existing

    async def replace(self, document: dict[str, Any], expected_version: int) -> bool:
        """Write the new state and its outbox if nobody changed the case meanwhile."""
        result = await self.collection.replace_one(
            {"_id": document["_id"], "version": expected_version}, document)
        return result.modified_count == 1

    async def clear_outbox(self, tracking_ids: Sequence[str]) -> None:
        if tracking_ids:
            await self.collection.update_many(
                {"_id": {"$in": list(tracking_ids)}},
                {"$set": {"outbox": []}, "$unset": {"outbox_pending": ""}})

    async def count_by_status(self) -> dict[str, int]:
        pipeline = [{"$group": {"_id": "$case.status", "n": {"$sum": 1}}}]
        return {row["_id"]: row["n"] async for row in await self.collection.aggregate(pipeline)}
