"""MongoDB store of complaints. One document per complaint, unique by tracking id (`_id`)
and by submission key (`channel:channel_ref`): the database decides idempotency, also
between intake instances racing on the same submission.

The complaint document also carries what the flood guard counts, `contact_keys` (HMAC
digests of the reporter's contacts, never the contacts), so that storing a complaint and
counting it are one write: no crash can fall between them, and a redelivered submission
cannot be counted twice (it is stored once).

Reads are shaped as index lookups that usually find nothing (a first-time reporter, a
new submission): cheap on MongoDB and on the embedded test database alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from shared.mongo import find_in, insert_first_wins

COLLECTION = "complaints"

INDEXES = {
    COLLECTION: [
        IndexModel([("submission_key", ASCENDING)], unique=True, name="submission_key_unique"),
        # The flood guard: recent complaints per reporter contact (multikey).
        IndexModel([("contact_keys", ASCENDING), ("received_at", DESCENDING)],
                   name="recent_by_contact"),
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
        failed = await insert_first_wins(self.collection, documents)
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
        if not keys:
            return {}
        cursor = find_in(self.collection, "submission_key", keys,
                         projection={"submission_key": 1, "event": 1})
        return {doc["submission_key"]: doc async for doc in cursor}

    async def recent_by_contacts(self, contact_keys: Sequence[str], since: datetime
                                 ) -> list[tuple[str, list[str]]]:
        """`(submission_key, contact_keys)` of every complaint received since `since` from
        any of these contacts."""
        if not contact_keys:
            return []
        cursor = find_in(self.collection, "contact_keys", contact_keys,
                         {"received_at": {"$gte": since}},
                         {"_id": 0, "submission_key": 1, "contact_keys": 1})
        found = {}  # a complaint with several of these contacts comes once per chunk
        async for doc in cursor:
            found[doc["submission_key"]] = doc.get("contact_keys") or []
        return list(found.items())

    async def set_possible_duplicate(self, tracking_id: str, duplicate_of: str | None) -> None:
        """Repoint a stored complaint (before its event is published): its root's tracking
        id changed because the id drawn for it was taken (rare)."""
        await self.collection.update_one(
            {"_id": tracking_id}, {"$set": {"event.possible_duplicate_of": duplicate_of}})

    async def get(self, tracking_id: str) -> dict[str, Any] | None:
        return await self.collection.find_one({"_id": tracking_id})
