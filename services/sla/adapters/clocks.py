"""MongoDB store of SLA clocks and of the emission ledger.

Clocks (`sla_clocks`): one document per (case, stage), compare-and-set by version. A new
clock is inserted; every later write is `replace_one({_id, version: expected}, doc,
upsert=True)`: when someone else
changed (or created) the clock first, the filter misses, the upsert collides on `_id` and
the write comes back as a duplicate-key error for exactly that clock. So concurrent sla
instances, and the scanner racing the event consumer, never overwrite each other: the
loser reloads and decides again. The only secondary index is `next_due_at`: every index
makes every clock write dearer, and a case's clocks are found by their ids
(`{tracking_id}:{stage}`).

Emission ledger (`sla_emissions`): one small document per warning, breach or auto_close,
`_id` = the emission's deterministic id (also the published event_id / action_id). A
scanner claims an emission by inserting it: the unique `_id` lets exactly one instance
win, and a multi-document insert is the cheapest write there is. The entry holds a lease:
a claimer that dies before publishing leaves the emission pending on its clock, and once
the lease has run out the next scanner takes the entry over. Entries expire after
`LEDGER_RETENTION` (a TTL index), long after their clocks moved on; until then the ledger
is also the record of what the service emitted and when.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING, IndexModel, InsertOne, ReplaceOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from services.sla.domain import Stage
from shared.mongo import duplicates_in, find_in, insert_first_wins

COLLECTION = "sla_clocks"
LEDGER = "sla_emissions"
NEW = -1  # the expected version of a clock that does not exist yet
CLAIM_LEASE = timedelta(seconds=30)  # a claimer that has not published by then is presumed dead
LEDGER_RETENTION = timedelta(days=30)

INDEXES = {
    COLLECTION: [
        # The scanner's query: its cost grows with the due clocks, not the open ones.
        IndexModel([("next_due_at", ASCENDING)], name="next_due_at"),
    ],
    LEDGER: [
        IndexModel([("claimed_at", ASCENDING)], name="retention",
                   expireAfterSeconds=int(LEDGER_RETENTION.total_seconds())),
    ],
}


def clock_ids(tracking_id: str) -> list[str]:
    return [f"{tracking_id}:{stage.value}" for stage in Stage]


class ClockStore:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.collection = db[COLLECTION]
        self.ledger = db[LEDGER]

    # -- clocks -----------------------------------------------------------------------------
    async def for_cases(self, tracking_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        found: dict[str, list[dict[str, Any]]] = {tid: [] for tid in tracking_ids}
        ids = [clock_id for tid in tracking_ids for clock_id in clock_ids(tid)]
        async for doc in find_in(self.collection, "_id", ids):
            found[doc["tracking_id"]].append(doc)
        return found

    async def get(self, ids: Iterable[str]) -> list[dict[str, Any]]:
        return [doc async for doc in find_in(self.collection, "_id", list(ids))]

    async def due(self, now: datetime, batch: int) -> AsyncGenerator[list[dict[str, Any]]]:
        """The clocks due by `now`, oldest first, `batch` at a time from one cursor (the
        server evaluates the query once; each further batch is a cheap getMore)."""
        cursor = self.collection.find({"next_due_at": {"$lte": now}}).sort(
            "next_due_at", ASCENDING).batch_size(batch)
        chunk: list[dict[str, Any]] = []
        async for doc in cursor:
            chunk.append(doc)
            if len(chunk) == batch:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    async def write(self, writes: Sequence[tuple[dict[str, Any], int]]) -> set[str]:
        """Compare-and-set many clocks in one bulk write; returns the ids that lost a race."""
        if not writes:
            return set()
        # A new clock is an insert (the cheapest write); either way a concurrent writer
        # that got there first shows up as a duplicate key on `_id`.
        requests: list[InsertOne[dict[str, Any]] | ReplaceOne[dict[str, Any]]] = [
            InsertOne(doc) if expected == NEW
            else ReplaceOne({"_id": doc["_id"], "version": expected}, doc, upsert=True)
            for doc, expected in writes]
        try:
            await self.collection.bulk_write(requests, ordered=False)
        except BulkWriteError as exc:
            return {writes[index][0]["_id"] for index in duplicates_in(exc)}
        return set()

    async def count_open_by_stage(self) -> dict[str, int]:
        pipeline: list[dict[str, Any]] = [{"$match": {"state": {"$ne": "stopped"}}},
                                          {"$group": {"_id": "$stage", "n": {"$sum": 1}}}]
        return {row["_id"]: row["n"] async for row in await self.collection.aggregate(pipeline)}

    # -- the emission ledger -----------------------------------------------------------
    async def claim(self, entries: Sequence[dict[str, Any]]) -> set[str]:
        """Insert ledger entries (`_id` = emission id); returns the ids already claimed."""
        taken = await insert_first_wins(self.ledger, entries)
        return {entries[index]["_id"] for index in taken}

    async def claims(self, ids: Iterable[str]) -> list[dict[str, Any]]:
        return [doc async for doc in find_in(self.ledger, "_id", list(ids))]

    async def take_over(self, entry: dict[str, Any], now: datetime, lease_until: datetime
                        ) -> bool:
        """Renew a lapsed claim; False when another scanner renewed it first."""
        result = await self.ledger.update_one(
            {"_id": entry["_id"], "lease_until": entry["lease_until"]},
            {"$set": {"lease_until": lease_until, "claimed_at": now},
             "$inc": {"takeovers": 1}})
        return result.modified_count == 1
