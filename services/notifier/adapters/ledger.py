"""The notification ledger: one document per notification, keyed by its deterministic id,
so redelivery or restart can never plan the same notification twice.

States: pending (due at `next_attempt_at`) -> sending (claimed until `lease_until`, with a
claim token) -> sent | failed. A notification is claimed either by its insert (the planning
instance hands it straight to its delivery queues) or by a by-id update that only matches
while it is due or its claim has lapsed; an outcome is written only with the claim token.
So several notifier instances never send one notification twice while a claim is alive.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ASCENDING, IndexModel, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from shared.clock import as_utc
from shared.mongo import insert_first_wins

COLLECTION = "notifications"
CONTACTS = "contacts"
DEFERRED = "deferred_events"
_STORED_PRECISION = timedelta(milliseconds=1)  # BSON dates keep milliseconds

INDEXES = {
    COLLECTION: [
        # Each index makes every write dearer, and most documents are written twice (planned,
        # finished). So the queues are sparse indexes on fields that exist only while a
        # document is in that queue: `next_attempt_at` while pending, `lease_until` while
        # claimed, `unreported` while its outcome event waits to be published.
        IndexModel([("next_attempt_at", ASCENDING)], name="pending_due", sparse=True),
        IndexModel([("lease_until", ASCENDING)], name="claimed_until", sparse=True),
        # Only finished notifications whose outcome event is still to publish carry the
        # `unreported` flag: the reporter's query reads those, not the whole backlog.
        IndexModel([("unreported", ASCENDING)], name="unreported", sparse=True),
    ],
    CONTACTS: [],
    DEFERRED: [IndexModel([("tracking_id", ASCENDING)], name="tracking_id")],
}


@dataclass(frozen=True)
class Finish:
    """A claimed notification's final state, to write."""

    claimed: dict[str, Any]
    state: str
    at: datetime
    error: str | None = None

    def finished_document(self) -> dict[str, Any]:
        return {**self.claimed, "state": self.state, "finished_at": self.at,
                "last_error": self.error}

    def operation(self, reported: bool) -> UpdateOne:
        return UpdateOne(
            {"_id": self.claimed["_id"], "state": "sending", "claim": self.claimed.get("claim")},
            {"$set": {"state": self.state, "finished_at": self.at, "last_error": self.error,
                      **({} if reported else {"unreported": True})},
             "$unset": {"lease_until": "", "claim": ""}})


class Ledger:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.collection = db[COLLECTION]
        self.contacts = db[CONTACTS]
        self.deferred = db[DEFERRED]

    async def record(self, documents: Sequence[dict[str, Any]]) -> list[str]:
        """Insert planned notifications; returns the ids that were new."""
        known = await insert_first_wins(self.collection, documents)
        return [d["_id"] for i, d in enumerate(documents) if i not in known]

    async def claim_many(self, notification_ids: Sequence[str], now: datetime,
                         lease: timedelta) -> list[dict[str, Any]]:
        """Claim these ids for one attempt each (counted now, before sending) where they are
        pending and due or their claim lapsed: one bulk write and one read. The batch
        shares a claim token, which `finish_many`/`retry_later` check per document, so a
        worker whose lease lapsed cannot overwrite the outcome of the one that took over."""
        if not notification_ids:
            return []
        token = uuid.uuid4().hex
        update = {"$set": {"state": "sending", "lease_until": now + lease, "claim": token},
                  "$unset": {"next_attempt_at": ""}, "$inc": {"attempts": 1}}
        ids = list(notification_ids)
        # One bulk of single-document updates (pending and due, or a lapsed claim): on the
        # embedded database a by-`_id` update costs a quarter of an `$in` update_many's.
        await self.collection.bulk_write(
            [UpdateOne({"_id": nid, **condition}, update) for nid in ids
             for condition in ({"next_attempt_at": {"$lte": now}},
                               {"lease_until": {"$lte": now}})], ordered=False)
        return [doc async for doc in self.collection.find({"_id": {"$in": ids},
                                                           "claim": token})]

    async def release(self, claimed: Sequence[dict[str, Any]], now: datetime) -> None:
        """Give back claims never attempted (queued at shutdown, or too long): due at once."""
        if claimed:
            await self.collection.bulk_write([UpdateOne(
                {"_id": doc["_id"], "state": "sending", "claim": doc.get("claim")},
                {"$set": {"state": "pending", "next_attempt_at": now},
                 "$unset": {"lease_until": "", "claim": ""},
                 "$inc": {"attempts": -1}}) for doc in claimed], ordered=False)

    async def due_ids(self, now: datetime, limit: int, *, channel: str | None = None,
                      exclude: Sequence[str] = ()) -> list[str]:
        """Ids worth claiming: pending and due, or stuck in a lapsed claim (a crash).
        `channel` keeps one channel's backlog from hiding another's; `exclude` skips the
        ids this worker already holds (filtered here, not with a `$nin` of hundreds of ids,
        which costs the database a comparison per candidate; held ids rarely match at all:
        they are claimed, with a lease in the future). Two index-backed queries rather than one
        `$or`, which a database may answer with a collection scan."""
        extra: dict[str, Any] = {}
        if channel is not None:
            extra["channel"] = channel
        held = set(exclude)
        lapsed = [doc["_id"] async for doc in self.collection.find(
            {"lease_until": {"$lte": now}, **extra}, {"_id": 1}
        ).sort("lease_until", ASCENDING).limit(limit) if doc["_id"] not in held]
        if len(lapsed) >= limit:
            return lapsed
        due = [doc["_id"] async for doc in self.collection.find(
            {"next_attempt_at": {"$lte": now}, **extra}, {"_id": 1}
        ).sort("next_attempt_at", ASCENDING).limit(limit - len(lapsed))
            if doc["_id"] not in held]
        return lapsed + due

    async def finish_many(self, finishes: Sequence[Finish], *, reported: bool) -> set[str]:
        """Write the final states in one bulk write, each only while its claim holds (a claim
        that passed to another worker meanwhile does not match); returns the ids whose write
        landed. Unreported outcomes are flagged for the reporter loop."""
        if not finishes:
            return set()
        result = await self.collection.bulk_write(
            [f.operation(reported) for f in finishes], ordered=False)
        by_id = {f.claimed["_id"]: f for f in finishes}
        if result.matched_count == len(finishes):
            return set(by_id)
        landed: set[str] = set()  # rare: find out which (our write left our state and moment)
        async for doc in self.collection.find({"_id": {"$in": list(by_id)}}):
            mine = by_id[doc["_id"]]
            finished_at = as_utc(doc.get("finished_at"))
            if doc.get("state") == mine.state and "claim" not in doc and \
                    finished_at is not None and abs(finished_at - mine.at) < _STORED_PRECISION:
                landed.add(doc["_id"])
        return landed

    async def retry_later(self, claimed: dict[str, Any], at: datetime, error: str) -> bool:
        result = await self.collection.update_one(
            {"_id": claimed["_id"], "state": "sending", "claim": claimed.get("claim")},
            {"$set": {"state": "pending", "next_attempt_at": at, "last_error": error},
             "$unset": {"lease_until": "", "claim": ""}})
        return result.matched_count == 1

    async def mark_reported(self, notification_ids: Sequence[str]) -> None:
        if notification_ids:
            await self.collection.update_many({"_id": {"$in": list(notification_ids)}},
                                              {"$unset": {"unreported": ""}})

    async def unreported(self, limit: int) -> list[dict[str, Any]]:
        cursor = self.collection.find({"unreported": True}).limit(limit)
        return [doc async for doc in cursor]

    async def pending_count(self) -> int:
        """Notifications not finished yet: the retry queue (first attempts included)."""
        since_ever = {"$gte": datetime(1970, 1, 1, tzinfo=UTC)}  # reads the sparse indexes
        return (await self.collection.count_documents({"next_attempt_at": since_ever})
                + await self.collection.count_documents({"lease_until": since_ever}))

    # -- reporter contacts (from complaint.received; needed for every later event) ---------
    async def save_contacts(self, contacts: Sequence[dict[str, Any]]) -> None:
        """Keep each complaint's contacts, first write wins (an insert; a redelivered
        complaint's duplicate key is expected)."""
        await insert_first_wins(self.contacts, contacts)

    async def contacts_for(self, tracking_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        cursor = self.contacts.find({"_id": {"$in": list(tracking_ids)}})
        return {doc["_id"]: doc async for doc in cursor}

    # -- events that arrived before their complaint ---------------------------------------
    async def defer(self, events: Sequence[tuple[str, str, dict[str, Any]]]) -> None:
        # First write wins: a redelivered event is deferred already.
        await insert_first_wins(self.deferred, [
            {"_id": event_id, "tracking_id": tid, "event": e} for event_id, tid, e in events])

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
