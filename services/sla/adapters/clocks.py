"""MongoDB store of SLA clocks and of the scanner's outbox.

Clocks (`sla_clocks`): one document per (case, stage), compare-and-set by version. Every
write is `replace_one({_id, version: expected}, doc, upsert=True)`: when someone else
changed (or created) the clock first, the filter misses, the upsert collides on `_id` and
the write comes back as a duplicate-key error for exactly that clock. So concurrent sla
instances, and the scanner racing the event consumer, never overwrite each other: the
loser reloads and decides again. The only secondary index is `next_due_at`: every index
makes every clock write dearer, and a case's clocks are found by their ids
(`{tracking_id}:{stage}`).

Outbox (`sla_outbox`): one document per scanner batch, written before the batch's claims
and deleted once its messages are published, so it only ever holds the batches in flight.
A claim adds the batch id to the clock's `claimed_by`; if the scanner dies between claiming
and deleting the batch, the batch's lease runs out and another scanner publishes the
messages of exactly those clocks whose `claimed_by` names the batch (its claim landed).
One write per due clock, plus two per batch.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING, IndexModel, ReplaceOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from services.sla.domain import SlaClock, Stage

COLLECTION = "sla_clocks"
OUTBOX = "sla_outbox"
NEW = -1  # the expected version of a clock that does not exist yet
OUTBOX_LEASE = timedelta(seconds=30)
CLAIMS_KEPT = 16  # batch ids remembered per clock: more than a clock's marks within a lease

INDEXES = {
    COLLECTION: [
        # The scanner's query: its cost grows with the due clocks, not the open ones.
        IndexModel([("next_due_at", ASCENDING)], name="next_due_at"),
    ],
}


def clock_ids(tracking_id: str) -> list[str]:
    return [f"{tracking_id}:{stage.value}" for stage in Stage]


def clock_document(clock: SlaClock, stored: dict[str, Any] | None = None,
                   claimed_by: str | None = None) -> dict[str, Any]:
    """The document for `clock`; keeps the batches that claimed the stored version, plus
    `claimed_by` when this write is a scanner's claim."""
    document = clock.to_record()
    claims = list((stored or {}).get("claimed_by") or [])
    if claimed_by is not None:
        claims = [*claims, claimed_by][-CLAIMS_KEPT:]
    document["claimed_by"] = claims
    return document


class ClockStore:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.collection = db[COLLECTION]
        self.outbox = db[OUTBOX]

    # -- clocks -----------------------------------------------------------------------------
    async def for_cases(self, tracking_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        found: dict[str, list[dict[str, Any]]] = {tid: [] for tid in tracking_ids}
        ids = [clock_id for tid in tracking_ids for clock_id in clock_ids(tid)]
        async for doc in self.collection.find({"_id": {"$in": ids}}):
            found[doc["tracking_id"]].append(doc)
        return found

    async def get(self, ids: Iterable[str]) -> list[dict[str, Any]]:
        return [doc async for doc in self.collection.find({"_id": {"$in": list(ids)}})]

    async def due(self, now: datetime, limit: int) -> list[dict[str, Any]]:
        cursor = self.collection.find({"next_due_at": {"$lte": now}}).sort(
            "next_due_at", ASCENDING).limit(limit).batch_size(limit)  # one round trip
        return [doc async for doc in cursor]

    async def write(self, writes: Sequence[tuple[dict[str, Any], int]]) -> set[str]:
        """Compare-and-set many clocks in one bulk write; returns the ids that lost a race."""
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

    async def count_open_by_stage(self) -> dict[str, int]:
        pipeline: list[dict[str, Any]] = [{"$match": {"state": {"$ne": "stopped"}}},
                                          {"$group": {"_id": "$stage", "n": {"$sum": 1}}}]
        return {row["_id"]: row["n"] async for row in await self.collection.aggregate(pipeline)}

    # -- the outbox -------------------------------------------------------------------------
    async def open_batch(self, batch_id: str, lease_until: datetime,
                         clocks: list[dict[str, Any]]) -> None:
        """Record a batch's messages (`[{clock_id, messages}]`) before claiming its clocks."""
        await self.outbox.insert_one({"_id": batch_id, "lease_until": lease_until,
                                      "clocks": clocks})

    async def close_batch(self, batch_id: str) -> None:
        await self.outbox.delete_one({"_id": batch_id})

    async def stranded_batches(self, now: datetime, limit: int) -> list[dict[str, Any]]:
        """Batches whose scanner died before publishing them (the collection only holds
        batches in flight, so this stays small without an index)."""
        cursor = self.outbox.find({"lease_until": {"$lte": now}}).limit(limit)
        return [doc async for doc in cursor]

    async def take_over(self, batch: dict[str, Any], lease_until: datetime) -> bool:
        """Renew a stranded batch's lease; False when another scanner took it first."""
        result = await self.outbox.update_one(
            {"_id": batch["_id"], "lease_until": batch["lease_until"]},
            {"$set": {"lease_until": lease_until}})
        return result.modified_count == 1
