"""MongoDB store of SLA clocks and of the emission ledger.

Clocks (`sla_case_clocks`): one document per case, `_id` = the tracking id, holding the
case's stage clocks (routing, response, resolution, auto_close) and a `version`. A case
is one read and one write however many of its clocks an event moves: `complaint.received`
inserts the document, the assignment replaces it. Every write is a compare-and-set: a new
case is an insert, every later write `replace_one({_id, version: expected}, doc,
upsert=True)`. When someone else changed (or created) the case first, the filter misses,
the upsert collides on `_id` and the write comes back as a duplicate-key error for exactly
that case. So concurrent sla instances, and the scanner racing the event consumer, never
overwrite each other: the loser reloads and decides again. The only secondary index is
`next_due_at`, the earliest next mark of the case's running clocks (none while every clock
is paused, stopped or done): every index makes every write dearer.

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
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING, IndexModel, InsertOne, ReplaceOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from services.sla.domain import SlaClock
from shared.mongo import duplicates_in, find_in, insert_first_wins

COLLECTION = "sla_case_clocks"
LEDGER = "sla_emissions"
NEW = -1  # the version of a case that is not stored yet
CLAIM_LEASE = timedelta(seconds=30)  # a claimer that has not published by then is presumed dead
LEDGER_RETENTION = timedelta(days=30)

INDEXES = {
    COLLECTION: [
        # The scanner's query: its cost grows with the due cases, not the open ones.
        IndexModel([("next_due_at", ASCENDING)], name="next_due_at"),
    ],
    LEDGER: [
        IndexModel([("claimed_at", ASCENDING)], name="retention",
                   expireAfterSeconds=int(LEDGER_RETENTION.total_seconds())),
    ],
}


@dataclass(frozen=True)
class CaseClocks:
    """A case's clocks as read (`version` = the stored version, NEW if none) or as to be
    written (the version it was computed from: the compare-and-set token)."""

    tracking_id: str
    clocks: tuple[SlaClock, ...] = ()
    version: int = NEW

    def with_clocks(self, clocks: Iterable[SlaClock]) -> CaseClocks:
        return replace(self, clocks=tuple(clocks))

    def changed_from(self, before: CaseClocks) -> bool:
        return [(c.stage, c.version) for c in self.clocks] != [
            (c.stage, c.version) for c in before.clocks]

    def document(self) -> dict[str, Any]:
        due = [at for at in (clock.next_due_at for clock in self.clocks) if at is not None]
        return {"_id": self.tracking_id, "version": self.version + 1,
                "next_due_at": min(due) if due else None,
                "clocks": [clock.to_record() for clock in self.clocks]}

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> CaseClocks:
        return cls(document["_id"], tuple(SlaClock.from_record(record)
                                          for record in document["clocks"]),
                   int(document["version"]))


class ClockStore:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.collection = db[COLLECTION]
        self.ledger = db[LEDGER]

    # -- clocks -----------------------------------------------------------------------------
    async def for_cases(self, tracking_ids: Iterable[str]) -> dict[str, CaseClocks]:
        """Every requested case, stored or not (then NEW, without clocks)."""
        found = {tid: CaseClocks(tid) for tid in tracking_ids}
        async for doc in find_in(self.collection, "_id", list(found)):
            found[doc["_id"]] = CaseClocks.from_document(doc)
        return found

    async def due(self, now: datetime, batch: int) -> AsyncGenerator[list[CaseClocks]]:
        """The cases with a clock due by `now`, oldest first, `batch` at a time from one
        cursor (the server evaluates the query once; each further batch is a cheap
        getMore)."""
        cursor = self.collection.find({"next_due_at": {"$lte": now}}).sort(
            "next_due_at", ASCENDING).batch_size(batch)
        chunk: list[CaseClocks] = []
        async for doc in cursor:
            chunk.append(CaseClocks.from_document(doc))
            if len(chunk) == batch:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    async def write(self, cases: Sequence[CaseClocks]) -> set[str]:
        """Compare-and-set many cases in one bulk write (each against the version it was
        computed from); returns the tracking ids that lost a race."""
        if not cases:
            return set()
        # A new case is an insert (the cheapest write); either way a concurrent writer
        # that got there first shows up as a duplicate key on `_id`.
        requests: list[InsertOne[dict[str, Any]] | ReplaceOne[dict[str, Any]]] = [
            InsertOne(case.document()) if case.version == NEW
            else ReplaceOne({"_id": case.tracking_id, "version": case.version},
                            case.document(), upsert=True)
            for case in cases]
        try:
            await self.collection.bulk_write(requests, ordered=False)
        except BulkWriteError as exc:
            return {cases[index].tracking_id for index in duplicates_in(exc)}
        return set()

    async def count_open_by_stage(self) -> dict[str, int]:
        pipeline: list[dict[str, Any]] = [
            {"$unwind": "$clocks"},
            {"$match": {"clocks.state": {"$ne": "stopped"}}},
            {"$group": {"_id": "$clocks.stage", "n": {"$sum": 1}}}]
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
