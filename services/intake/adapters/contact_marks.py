"""The flood guard's marks: which submissions each reporter contact sent recently.

One document per stored chunk of complaints (`contact_marks`), holding for each of its
complaints the submission key, the contact keys (HMAC digests, never the contacts) and
when it was received, and all of the chunk's contact keys together (`keys`), on which a
multikey index (with `received_at`, the chunk's newest) finds the chunks of any contact.
The guard asks for a chunk's contacts in one query and keeps, of the chunks found, the
complaints of those contacts received since the window's start; usually it finds
nothing (a first-time reporter).

Why not the complaints themselves, as earlier versions counted (`contact_keys` indexed on
every complaint): on the embedded database a collection's first secondary index triples
what each of its documents costs to insert, whatever the index, so each complaint cost
0.39–0.45 ms of its CPU instead of 0.10, where a chunk's marks cost 0.10–0.12 ms per
complaint (`python -m benchmarks.contact_marks`). The price: storing a complaint and
counting it are two writes (sent together). A crash between them is repaired by the
redelivery that follows (intake commits a batch only once it is stored and answered),
which writes both again: marks without their complaint make the submission "stored
before", so it is admitted and stored; a complaint without its marks is counted from the
redelivery's. One submission marked twice (a redelivery, a re-send, two instances)
counts once, by its submission key.

A document's `_id` is derived from its submission keys, so a chunk written again as it was
is stored once. Marks expire `RETENTION` after their chunk's newest complaint (a TTL
index), well after the guard's hour.

Deployments upgraded from a version before the marks keep the complaints' index
(`recent_by_contact`): intake no longer creates it and never drops it, since the guard of
an earlier instance still running needs it. Complaints still carry their `contact_keys`,
so earlier instances count the new ones; new instances count only marks, so for the hour
after the upgrade they miss what earlier instances stored (the guard is a flood guard,
not a quota). Once no earlier instance runs, drop that index to save its cost on every
insert.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from shared.mongo import duplicates_in, find_in
from shared.name_ids import name_based_id

COLLECTION = "contact_marks"
RETENTION = timedelta(hours=3)
MARK_IDS = uuid.UUID("0c5f7a52-6b1e-4d0f-a3e9-2f4d8b6c1a77")  # namespace of marks' `_id`s
INDEXES = {
    COLLECTION: [
        IndexModel([("keys", ASCENDING), ("received_at", DESCENDING)], name="recent_by_contact"),
        IndexModel([("received_at", ASCENDING)], name="retention",
                   expireAfterSeconds=int(RETENTION.total_seconds())),
    ],
}


@dataclass(frozen=True)
class Mark:
    """One stored complaint, as the flood guard counts it."""

    submission_key: str
    contact_keys: Sequence[str]
    received_at: datetime


def marks_document(marks: Sequence[Mark]) -> dict[str, Any]:
    """The marks of one chunk as one document."""
    return {
        "_id": name_based_id(MARK_IDS, "\n".join(m.submission_key for m in marks)),
        "received_at": max(m.received_at for m in marks),
        "keys": sorted({key for m in marks for key in m.contact_keys}),
        "marks": [{"submission_key": m.submission_key, "contact_keys": list(m.contact_keys),
                   "received_at": m.received_at} for m in marks],
    }


class ContactMarks:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.collection = db[COLLECTION]

    async def add(self, marks: Sequence[Mark]) -> None:
        """Store a chunk's marks (those with a contact key); the same chunk again is
        stored once."""
        marks = [m for m in marks if m.contact_keys]
        if not marks:
            return
        try:
            await self.collection.insert_many([marks_document(marks)], ordered=False)
        except BulkWriteError as exc:  # already there: the same chunk written again
            duplicates_in(exc)

    async def recent(self, contact_keys: Sequence[str], since: datetime
                     ) -> list[tuple[str, list[str]]]:
        """`(submission_key, contact_keys)` of every complaint received since `since` from
        any of these contacts, each submission once."""
        if not contact_keys:
            return []
        wanted = set(contact_keys)
        found: dict[str, list[str]] = {}
        async for doc in find_in(self.collection, "keys", contact_keys,
                                 {"received_at": {"$gte": since}}, {"_id": 0, "marks": 1}):
            for mark in doc["marks"]:
                keys = mark["contact_keys"]
                if mark["received_at"] >= since and not wanted.isdisjoint(keys):
                    found[mark["submission_key"]] = keys
        return list(found.items())
