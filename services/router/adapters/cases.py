"""MongoDB store of cases, with a per-case outbox.

A case and the events its change produced are written in one document write (`outbox`);
the events are published afterwards, and then a marker `{tracking_id}@{version}` is
inserted into `published_outboxes` (an insert costs a fraction of an update, and the case
is written once per change, not twice). A case loaded with an outbox whose marker is
missing was left by a crash between the write and the publish: its events are published
again (same event ids), so nothing is lost and consumers drop the repeat by event_id.
`version` guards against two writers (e.g. during a consumer-group rebalance).

Rejected actions are remembered in `action_rejections` (one document per tracking id and
action id, holding the `action.rejected` event as first published): an action id, once
answered, keeps its answer, so a replay can neither change the case later nor draw a
different rejection.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pymongo import ASCENDING, IndexModel, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from shared.contract import OPEN_STATUSES
from shared.mongo import find_in, insert_first_wins

COLLECTION = "cases"
REJECTIONS = "action_rejections"
PUBLISHED = "published_outboxes"

INDEXES = {
    COLLECTION: [
        # The only secondary index (the gauges' counts): every index makes every write dearer.
        IndexModel([("case.status", ASCENDING), ("case.assignee", ASCENDING)],
                   name="status_assignee"),
    ],
}


class CaseStore:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.collection = db[COLLECTION]
        self.rejections = db[REJECTIONS]
        self.published = db[PUBLISHED]

    async def get(self, tracking_id: str) -> dict[str, Any] | None:
        return await self.collection.find_one({"_id": tracking_id})

    async def get_many(self, tracking_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        cursor = find_in(self.collection, "_id", tracking_ids)
        return {doc["_id"]: doc async for doc in cursor}

    async def insert_new(self, documents: Sequence[dict[str, Any]]) -> set[str]:
        """Insert new cases; returns the ids that already existed (left untouched)."""
        existing = await insert_first_wins(self.collection, documents)
        return {documents[index]["_id"] for index in existing}

    async def replace(self, document: dict[str, Any], expected_version: int) -> bool:
        """Write the new state and its outbox if nobody changed the case meanwhile."""
        result = await self.collection.replace_one(
            {"_id": document["_id"], "version": expected_version}, document)
        return result.modified_count == 1

    @staticmethod
    def outbox_key(document: dict[str, Any]) -> str:
        return f"{document['_id']}@{document.get('version', 1)}"

    async def mark_published(self, documents: Sequence[dict[str, Any]]) -> None:
        """Record that the outbox of these case versions is published."""
        # A version published before (a redelivery) is marked already.
        await insert_first_wins(self.published, [{"_id": self.outbox_key(d)} for d in documents])

    async def unpublished(self, documents: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Of these stored cases, those whose outbox was never marked published."""
        with_outbox = [d for d in documents if d.get("outbox")]
        if not with_outbox:
            return []
        keys = [self.outbox_key(d) for d in with_outbox]
        marked = {doc["_id"] async for doc in find_in(self.published, "_id", keys)}
        return [d for d, key in zip(with_outbox, keys, strict=True) if key not in marked]

    async def count_open(self) -> dict[tuple[str, str | None], int]:
        """Open cases by (status, assignee agency), in one pass (uses the status index;
        closed and rejected grow forever)."""
        pipeline: list[dict[str, Any]] = [
            {"$match": {"case.status": {"$in": sorted(str(s) for s in OPEN_STATUSES)}}},
            {"$group": {"_id": {"s": "$case.status", "a": "$case.assignee"},
                        "n": {"$sum": 1}}},
        ]
        return {(row["_id"]["s"], row["_id"].get("a")): row["n"]
                async for row in await self.collection.aggregate(pipeline)}

    # -- remembered rejections ------------------------------------------------------------
    @staticmethod
    def rejection_key(tracking_id: str, action_id: str) -> str:
        return f"{tracking_id}/{action_id}"

    async def rejections_for(self, keys: Sequence[tuple[str, str]]
                             ) -> dict[tuple[str, str], dict[str, Any]]:
        """The stored `action.rejected` events of these (tracking_id, action_id) pairs."""
        if not keys:
            return {}
        ids = [self.rejection_key(t, a) for t, a in keys]
        cursor = find_in(self.rejections, "_id", ids)
        return {(doc["tracking_id"], doc["action_id"]): doc["event"] async for doc in cursor}

    async def remember_rejection(self, tracking_id: str, action_id: str,
                                 event: dict[str, Any]) -> dict[str, Any]:
        """Store the rejection unless one is stored already; returns the stored event."""
        stored = await self.rejections.find_one_and_update(
            {"_id": self.rejection_key(tracking_id, action_id)},
            {"$setOnInsert": {"tracking_id": tracking_id, "action_id": action_id,
                              "event": event}},
            upsert=True, return_document=ReturnDocument.AFTER)
        assert stored is not None  # upsert with ReturnDocument.AFTER always returns one
        return stored["event"]  # type: ignore[no-any-return]
