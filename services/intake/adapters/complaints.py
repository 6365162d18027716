"""MongoDB store of complaints. One document per complaint, unique by tracking id (`_id`)
and by submission key (`channel:channel_ref`): the database decides idempotency, also
between intake instances racing on the same submission."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

COLLECTION = "complaints"

INDEXES = {
    COLLECTION: [
        IndexModel([("submission_key", ASCENDING)], unique=True, name="submission_key_unique"),
        IndexModel([("category", ASCENDING), ("region_code", ASCENDING),
                    ("received_at", DESCENDING)], name="duplicate_candidates"),
    ],
    "rate_limits": [
        IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=0, name="rate_limit_ttl"),
    ],
}


@dataclass
class InsertOutcome:
    inserted: list[str]  # submission keys newly stored
    existing: list[str]  # submission keys that were already stored
    tracking_id_clashes: list[str]  # submission keys whose new tracking id was taken


class ComplaintStore:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.collection = db[COLLECTION]

    async def insert_new(self, documents: Sequence[dict[str, Any]]) -> InsertOutcome:
        """Bulk insert; duplicates are sorted out by the unique indexes, not by reading first."""
        outcome = InsertOutcome([], [], [])
        if not documents:
            return outcome
        failed: dict[int, dict[str, Any]] = {}
        try:
            await self.collection.insert_many(list(documents), ordered=False)
        except BulkWriteError as exc:
            for error in exc.details.get("writeErrors", []):
                if error.get("code") != 11000:
                    raise
                failed[error["index"]] = error
        for index, document in enumerate(documents):
            key = document["submission_key"]
            error = failed.get(index)
            if error is None:
                outcome.inserted.append(key)
            elif "submission_key" in str(error.get("keyPattern") or error.get("errmsg", "")):
                outcome.existing.append(key)
            else:
                outcome.tracking_id_clashes.append(key)
        return outcome

    async def find_by_submission_keys(self, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        cursor = self.collection.find({"submission_key": {"$in": list(keys)}})
        return {doc["submission_key"]: doc async for doc in cursor}

    async def mark_published(self, tracking_ids: Sequence[str]) -> None:
        if tracking_ids:
            await self.collection.update_many({"_id": {"$in": list(tracking_ids)}},
                                              {"$set": {"published": True}})

    async def get(self, tracking_id: str) -> dict[str, Any] | None:
        return await self.collection.find_one({"_id": tracking_id})
