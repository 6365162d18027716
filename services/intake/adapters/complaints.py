"""MongoDB store of complaints. One document per complaint, `_id` = its tracking id, which
intake derives from the submission key (`channel:channel_ref`, see
`shared.tracking_id.derived_tracking_id`): so the unique `_id` alone decides idempotency,
also between intake instances racing on the same submission, and a complaint's insert
updates no unique index besides it. The derivation key is drawn once per deployment, by
the first intake instance that needs it, and kept in the database (`intake_keys`): ids
must stay the same for as long as a submission can come again, whatever secrets are
rotated meanwhile, and a restore of the database brings the key back with the complaints.

A complaint whose tracking id is taken is either this very submission, stored before (a
redelivery, a re-send, another instance), or, rarely, another submission whose id clashed:
the store reads the holders of the taken ids and tells the two apart by their submission
key; a clashing submission is inserted again under its next attempt's id.

Deployments that stored complaints before ids were derived keep their unique index on
`submission_key` (intake no longer creates it, and never drops it): a complaint stored
then under a random id and submitted again is still refused by that index and answered
with its stored complaint. Once redeliveries of those submissions are no longer possible
(the submissions topic's retention and the channel adapters' retries are over), the index
can be dropped to save its cost on every insert.

The complaint document also carries its reporter's `contact_keys` (HMAC digests of the
contacts, never the contacts), but the flood guard counts marks of their own
(adapters/contact_marks.py): the complaints have no secondary index, since on the
embedded database the first one triples what every insert costs. Deployments from
before the marks keep the complaints' `recent_by_contact` index, which intake no longer
creates and never drops (earlier instances still running count with it); drop it once
none runs.

Reads are `_id` lookups that usually find nothing (a new submission): cheap on MongoDB
and on the embedded test database alike.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bson import Binary
from pymongo import IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from shared.mongo import find_in, insert_first_wins
from shared.tracking_id import DERIVATION_KEY_BYTES

COLLECTION = "complaints"
KEYS = "intake_keys"
TRACKING_ID_KEY = "tracking_id"  # the `_id` of the derivation key's document
LEGACY_SUBMISSION_KEY_INDEX = "submission_key_unique"  # made by earlier versions only
LEGACY_CONTACT_INDEX = "recent_by_contact"  # the flood guard's, before its marks

# No secondary index: every index makes every insert dearer (see the module's docstring).
INDEXES: dict[str, list[IndexModel]] = {COLLECTION: []}

MAX_ATTEMPTS = 8
"""Tracking ids tried per submission. Each further attempt is needed with a chance of
(stored complaints / 2^40): at ten million complaints, one submission in a hundred
thousand needs a second id, and eight in a row clash practically never."""

TrackingIdFor = Callable[[str, int], str]
"""(submission key, attempt) -> tracking id: `derived_tracking_id` under the deployment's
derivation key."""

_STORED = {"submission_key": 1, "event": 1}  # what answering a stored complaint needs


class TrackingIdsExhausted(RuntimeError):
    """A submission could not be stored under any of its tracking ids (each belongs to
    another complaint; or complaints kept vanishing between an insert and its read)."""


@dataclass
class InsertOutcome:
    inserted: list[str] = field(default_factory=list)  # submission keys newly stored
    # submission key -> its stored complaint (`_id`, `submission_key`, `event`)
    existing: dict[str, dict[str, Any]] = field(default_factory=dict)
    clashes: list[str] = field(default_factory=list)  # keys whose id is another's complaint
    vanished: list[str] = field(default_factory=list)  # keys whose id was taken, then free


class ComplaintStore:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.collection = db[COLLECTION]
        self.keys = db[KEYS]

    async def tracking_id_key(self) -> bytes:
        """The deployment's derivation key: drawn by the first instance that asks (its
        insert wins; any other instance's fails and it reads the winner's)."""
        drawn = {"_id": TRACKING_ID_KEY, "key": Binary(secrets.token_bytes(DERIVATION_KEY_BYTES))}
        await insert_first_wins(self.keys, [drawn])
        stored = await self.keys.find_one({"_id": TRACKING_ID_KEY})
        if stored is None:
            raise RuntimeError(f"the tracking id key is missing from {KEYS} after its insert")
        return bytes(stored["key"])

    async def insert_new(self, documents: Sequence[dict[str, Any]]) -> InsertOutcome:
        """Bulk insert; duplicates are sorted out by the unique `_id`, not by reading first.
        Only when an id is taken are its holders read, to tell a submission stored before
        (answered with its stored complaint) from a clash with another one."""
        outcome = InsertOutcome()
        if not documents:
            return outcome
        failed = await insert_first_wins(self.collection, documents)
        taken: dict[str, list[str]] = {}  # tracking id -> submission keys of the documents
        legacy: list[str] = []
        for index, document in enumerate(documents):
            key = document["submission_key"]
            error = failed.get(index)
            if error is None:
                outcome.inserted.append(key)
            elif "submission_key" in str(error.get("keyPattern") or error.get("errmsg", "")):
                legacy.append(key)  # stored under a random id, by an earlier version
            else:
                taken.setdefault(document["_id"], []).append(key)
        if taken:
            async for doc in find_in(self.collection, "_id", list(taken), projection=_STORED):
                for key in taken.pop(doc["_id"]):
                    if doc.get("submission_key") == key:
                        outcome.existing[key] = doc
                    else:
                        outcome.clashes.append(key)
            # Complaints are never deleted; should one go between the insert and the read,
            # its submission is tried again under the same id.
            outcome.vanished.extend(key for keys in taken.values() for key in keys)
        if legacy:
            outcome.existing.update(await self.find_by_submission_keys(legacy))
            outcome.vanished.extend(key for key in legacy if key not in outcome.existing)
        return outcome

    async def find_stored(self, keys: Iterable[str], tracking_id_for: TrackingIdFor
                          ) -> dict[str, dict[str, Any]]:
        """The stored complaint of each submission key that has one: looked up by its
        tracking ids, attempt after attempt while an attempt's id is another's complaint."""
        found: dict[str, dict[str, Any]] = {}
        attempts = dict.fromkeys(keys, 0)
        while attempts:
            ids: dict[str, list[str]] = {}  # (keys share an id only where ids clash)
            for key, attempt in attempts.items():
                ids.setdefault(tracking_id_for(key, attempt), []).append(key)
            following: dict[str, int] = {}
            async for doc in find_in(self.collection, "_id", list(ids), projection=_STORED):
                for key in ids[doc["_id"]]:
                    if doc.get("submission_key") == key:
                        found[key] = doc
                    elif attempts[key] + 1 < MAX_ATTEMPTS:
                        following[key] = attempts[key] + 1
            attempts = following
        return found

    async def find_by_submission_keys(self, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        """By the `submission_key` field: only where the legacy unique index makes it a
        lookup (see the module's docstring)."""
        if not keys:
            return {}
        cursor = find_in(self.collection, "submission_key", keys, projection=_STORED)
        return {doc["submission_key"]: doc async for doc in cursor}

    async def set_possible_duplicate(self, tracking_id: str, duplicate_of: str | None) -> None:
        """Repoint a stored complaint (before its event is published): its root's tracking
        id changed because the id derived for it was another complaint's (rare)."""
        await self.collection.update_one(
            {"_id": tracking_id}, {"$set": {"event.possible_duplicate_of": duplicate_of}})

    async def get(self, tracking_id: str) -> dict[str, Any] | None:
        return await self.collection.find_one({"_id": tracking_id})
