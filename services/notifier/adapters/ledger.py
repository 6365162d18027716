"""The notification ledger: one document per notification, keyed by its deterministic id,
so redelivery or restart can never plan the same notification twice.

States: pending (due at `next_attempt_at`) -> sending (claimed until `lease_until`) ->
sent | failed. Claiming is an atomic find-and-update, so several notifier instances and
the retry loop never send one notification twice while a claim is alive.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING, IndexModel, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

COLLECTION = "notifications"
CONTACTS = "contacts"
DEFERRED = "deferred_events"

INDEXES = {
    COLLECTION: [
        IndexModel([("state", ASCENDING), ("next_attempt_at", ASCENDING)], name="due"),
        IndexModel([("tracking_id", ASCENDING)], name="tracking_id"),
    ],
    CONTACTS: [],
    DEFERRED: [IndexModel([("tracking_id", ASCENDING)], name="tracking_id")],
}


class Ledger:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.collection = db[COLLECTION]
        self.contacts = db[CONTACTS]
        self.deferred = db[DEFERRED]

    async def record(self, documents: Sequence[dict[str, Any]]) -> list[str]:
        """Insert planned notifications; returns the ids that were new."""
        if not documents:
            return []
        known: set[int] = set()
        try:
            await self.collection.insert_many(list(documents), ordered=False)
        except BulkWriteError as exc:
            for error in exc.details.get("writeErrors", []):
                if error.get("code") != 11000:
                    raise
                known.add(error["index"])
        return [d["_id"] for i, d in enumerate(documents) if i not in known]

    async def claim(self, notification_id: str, now: datetime, lease: timedelta
                    ) -> dict[str, Any] | None:
        return await self.collection.find_one_and_update(
            {"_id": notification_id, "$or": [
                {"state": "pending", "next_attempt_at": {"$lte": now}},
                {"state": "sending", "lease_until": {"$lte": now}},
            ]},
            {"$set": {"state": "sending", "lease_until": now + lease}, "$inc": {"attempts": 1}},
            return_document=ReturnDocument.AFTER)

    async def due_ids(self, now: datetime, limit: int) -> list[str]:
        """Ids worth claiming: pending and due, or stuck in a lapsed claim (a crash)."""
        cursor = self.collection.find(
            {"$or": [{"state": "pending", "next_attempt_at": {"$lte": now}},
                     {"state": "sending", "lease_until": {"$lte": now}}]},
            {"_id": 1}).sort("next_attempt_at", ASCENDING).limit(limit)
        return [doc["_id"] async for doc in cursor]

    async def finish(self, notification_id: str, state: str, now: datetime,
                     error: str | None = None) -> None:
        await self.collection.update_one(
            {"_id": notification_id},
            {"$set": {"state": state, "finished_at": now, "last_error": error},
             "$unset": {"lease_until": ""}})

    async def retry_later(self, notification_id: str, at: datetime, error: str) -> None:
        await self.collection.update_one(
            {"_id": notification_id},
            {"$set": {"state": "pending", "next_attempt_at": at, "last_error": error},
             "$unset": {"lease_until": ""}})

    async def mark_reported(self, notification_id: str) -> None:
        await self.collection.update_one({"_id": notification_id}, {"$set": {"reported": True}})

    async def unreported(self, limit: int) -> list[dict[str, Any]]:
        cursor = self.collection.find(
            {"state": {"$in": ["sent", "failed", "skipped"]}, "reported": False}).limit(limit)
        return [doc async for doc in cursor]

    async def pending_count(self) -> int:
        return await self.collection.count_documents({"state": {"$in": ["pending", "sending"]}})

    # -- reporter contacts (from complaint.received; needed for every later event) ---------
    async def save_contacts(self, contacts: Sequence[dict[str, Any]]) -> None:
        if not contacts:
            return
        from pymongo import UpdateOne

        await self.contacts.bulk_write(
            [UpdateOne({"_id": c["_id"]}, {"$setOnInsert": c}, upsert=True) for c in contacts],
            ordered=False)

    async def contacts_for(self, tracking_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        cursor = self.contacts.find({"_id": {"$in": list(tracking_ids)}})
        return {doc["_id"]: doc async for doc in cursor}

    # -- events that arrived before their complaint ---------------------------------------
    async def defer(self, events: Sequence[tuple[str, str, dict[str, Any]]]) -> None:
        if not events:
            return
        from pymongo import UpdateOne

        await self.deferred.bulk_write(
            [UpdateOne({"_id": event_id}, {"$setOnInsert": {"tracking_id": tid, "event": e}},
                       upsert=True) for event_id, tid, e in events], ordered=False)

    async def take_deferred(self, tracking_ids: Sequence[str]) -> list[Any]:
        """Deferred events of these complaints. They are removed only once planned:
        the caller's ledger write makes planning them twice harmless."""
        if not tracking_ids:
            return []
        from shared.contract.events import EVENT_TYPES

        docs = [d async for d in self.deferred.find({"tracking_id": {"$in": list(tracking_ids)}})]
        return [EVENT_TYPES[d["event"]["event_type"]].model_validate(d["event"]) for d in docs]

    async def forget_deferred(self, event_ids: Sequence[str]) -> None:
        if event_ids:
            await self.deferred.delete_many({"_id": {"$in": list(event_ids)}})
