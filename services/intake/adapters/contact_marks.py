"""The flood guard's marks: which submissions each reporter contact sent recently.

One document per stored chunk of complaints (`contact_marks`), holding for each of its
complaints the submission key, the contact keys (HMAC digests, never the contacts) and
when it was received, the chunk's newest `received_at`, and which intake process wrote it
(`writer`, an id each process draws at start). Every instance counts from memory
(adapters/recent_marks.py): it reads the window's marks once at start, adds its own as it
stores them, and reads the other writers' new chunks every second, by the index on
(`writer`, `received_at`).

Why not an index on the contacts: earlier versions counted the complaints by an index on
their `contact_keys`, then the chunks by a multikey index on all of a chunk's contact keys
(`keys`). On the embedded database a collection's first secondary index triples what
each of its documents costs to insert, and a multikey entry costs about 17 µs (two per
complaint), and the guard's query of a chunk's contacts 2.75 ms per 130 keys when none
was found (7.8–12.5 ms when half were): together 0.06–0.09 ms of the database's CPU per
complaint at the least, where the marks with one (`writer`, `received_at`) entry per
chunk cost 0.005–0.010 ms and a refresh 1.3–2.0 ms a second
(`python -m benchmarks.contact_marks`).

Storing a complaint and counting it are two writes (sent together). A crash between them
is repaired by the redelivery that follows (intake commits a batch only once it is stored
and answered), which writes both again: marks without their complaint make the
submission "stored before", so it is admitted and stored; a complaint without its marks
is counted from the redelivery's. One submission marked twice (a redelivery, a re-send,
two instances) counts once, by its submission key.

A document's `_id` is derived from its submission keys, so a chunk written again as it was
is stored once. Marks expire `RETENTION` after their chunk's newest complaint (a TTL
index), well after the guard's hour.

Rolling upgrades. Chunks still carry `keys`, so an instance of the version before reads
what new ones store, by its index `recent_by_contact`; that index is no longer created
and never dropped (an earlier instance may still run). Chunks written before have no
`writer`: new instances read them at start and at every refresh (`writer` null). Once no
earlier instance runs, drop `recent_by_contact` (and on deployments from before the
marks, the complaints' `recent_by_contact`) to save its cost on every insert.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from shared.mongo import duplicates_in
from shared.name_ids import name_based_id

COLLECTION = "contact_marks"
RETENTION = timedelta(hours=3)
MARK_IDS = uuid.UUID("0c5f7a52-6b1e-4d0f-a3e9-2f4d8b6c1a77")  # namespace of marks' `_id`s
INDEXES = {
    COLLECTION: [
        IndexModel([("writer", ASCENDING), ("received_at", ASCENDING)], name="by_writer"),
        IndexModel([("received_at", ASCENDING)], name="retention",
                   expireAfterSeconds=int(RETENTION.total_seconds())),
    ],
}
_MARKS_ONLY = {"received_at": 1, "marks": 1}


@dataclass(frozen=True)
class Mark:
    """One stored complaint, as the flood guard counts it."""

    submission_key: str
    contact_keys: Sequence[str]
    received_at: datetime


def marks_document(marks: Sequence[Mark], writer: str) -> dict[str, Any]:
    """The marks of one chunk as one document."""
    return {
        "_id": name_based_id(MARK_IDS, "\n".join(m.submission_key for m in marks)),
        "writer": writer,
        "received_at": max(m.received_at for m in marks),
        "keys": sorted({key for m in marks for key in m.contact_keys}),  # for earlier versions
        "marks": [{"submission_key": m.submission_key, "contact_keys": list(m.contact_keys),
                   "received_at": m.received_at} for m in marks],
    }


def marks_in(doc: dict[str, Any]) -> list[Mark]:
    return [Mark(m["submission_key"], m["contact_keys"], m["received_at"])
            for m in doc["marks"]]


class ContactMarks:
    """The stored marks. `writer` names this process's chunks (a new one at every start,
    so a restarted instance reads what it stored before as another's)."""

    def __init__(self, db: AsyncDatabase[dict[str, Any]], writer: str | None = None) -> None:
        self.collection = db[COLLECTION]
        self.writer = writer or uuid.uuid4().hex

    async def add(self, marks: Sequence[Mark]) -> list[Mark]:
        """Store a chunk's marks (those with a contact key, which it returns); the same
        chunk again is stored once."""
        marks = [m for m in marks if m.contact_keys]
        if not marks:
            return marks
        try:
            await self.collection.insert_many([marks_document(marks, self.writer)],
                                              ordered=False)
        except BulkWriteError as exc:  # already there: the same chunk written again
            duplicates_in(exc)
        return marks

    async def received_since(self, since: datetime, *, others_only: bool
                             ) -> list[dict[str, Any]]:
        """The chunks (`_id`, `received_at`, `marks`) whose newest complaint was received
        at or after `since`: every writer's, or only the other writers' (and those of
        versions before the writers, which have none): a range on each side of this
        writer, sent together, not `$ne`, which the embedded database answers by reading
        every chunk."""
        recent = {"received_at": {"$gte": since}}
        if not others_only:
            return await self.collection.find(recent, _MARKS_ONLY).to_list()
        found = await asyncio.gather(*(
            self.collection.find({"writer": writers, **recent}, _MARKS_ONLY).to_list()
            for writers in ({"$lt": self.writer}, {"$gt": self.writer}, None)))
        return [doc for docs in found for doc in docs]
