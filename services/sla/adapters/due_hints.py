"""Where the scanner finds the cases with a clock due: hints written with the clocks.

Earlier versions indexed `next_due_at` on every case document. On the embedded database a
collection's first secondary index nearly doubles what each of its documents costs to
write (0.14 against 0.08 ms of server CPU per case, with the hints below instead,
measured in transactions of 32 cases), and the case clocks are written for every
complaint. So the clocks carry no secondary index; instead each write of clocks adds one
`sla_due_hints` document (up to `HINT_CASES` cases) in the same transaction: for each case
written with a mark still to come, its tracking id, the version written and the time of
its next mark (`cases`), and the earliest of those times (`earliest`, indexed).

An entry is current while its case is still at the version it names: every later write of
the case adds an entry of its own, so an entry whose case has moved on is obsolete, and
stays so (versions only grow). The scanner reads the hints whose `earliest` has come,
loads the cases of their entries that are due, keeps those whose entry is current, and
prunes each hint: the obsolete due entries are dropped and `earliest` moves to the
earliest entry left, or the hint is deleted once nothing is left. A current entry is never
dropped, so a due case that was not advanced (another scanner holds its claim) is found
again by the next scan. Two scanners pruning one hint at once both write a superset of
what is still current, with an `earliest` no later than it should be: at worst a hint is
read once more than needed.

Deployments upgraded from the indexed layout get their hints once, at start-up
(`establish`), from the cases' `next_due_at`, before this instance writes clocks; then
the old index is dropped. As for the open-clock tally, stop every sla instance of an
earlier version first: it would write clocks without hints.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import datetime
from typing import Any, Protocol

import structlog
from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure

from shared.mongo import in_chunks, insert_first_wins
from shared.name_ids import name_based_id

log = structlog.get_logger("sla.hints")

HINTS = "sla_due_hints"
# Entries per hint document at most: small, as the scanner's write `$pull`s from a hint
# the entries it found cases by (on the embedded database, ten `$pull`s of 1,000 ids from
# hints of 1,000 entries made its 10,000 advances take 8.99 s instead of 2.96 without any
# `$pull`; with hints of 64, 4.04 s, against 4.81 with the earlier index).
HINT_CASES = 64
READ_BATCH = 64  # hint documents per cursor batch
ESTABLISHED = "established"  # the marker document: hints exist for every stored case
LEGACY_INDEX = "next_due_at"  # on the clocks, before the hints
HINT_IDS = uuid.UUID("5d0b7e0a-2c61-4a8e-9f37-4b1d6c2e8a90")  # namespace of established ids
INDEXES = {HINTS: [IndexModel([("earliest", ASCENDING)], name="earliest")]}

Entry = tuple[str, int, datetime]
"""A case as written: tracking id, version stored, time of its next mark."""


class Found(Protocol):
    """A case as the scanner found it: by the entry of which hint, if any."""

    @property
    def tracking_id(self) -> str: ...

    @property
    def hinted_in(self) -> str | None: ...


def hint_documents(entries: Sequence[Entry], *, derived_ids: bool = False
                   ) -> list[dict[str, Any]]:
    """The hint documents of one write's entries. `derived_ids`: ids from the entries,
    so the same entries written twice (two instances establishing) are stored once."""
    documents = []
    for chunk in in_chunks(entries, HINT_CASES):
        key = "\n".join(f"{tid}@{version}" for tid, version, _ in chunk)
        documents.append({
            "_id": name_based_id(HINT_IDS, key) if derived_ids else uuid.uuid4().hex,
            "earliest": min(at for _, _, at in chunk),
            "cases": [{"id": tid, "v": version, "at": at} for tid, version, at in chunk]})
    return documents


def pruned(hint: dict[str, Any], obsolete: set[str]) -> dict[str, Any] | None:
    """The hint's update once the entries of `obsolete` tracking ids are dropped: `$set`
    of what is left and its earliest mark, or None when nothing is left (delete the hint).
    An empty update (`{}`) when nothing changes."""
    left = [entry for entry in hint["cases"] if entry["id"] not in obsolete]
    if not left:
        return None
    earliest = min(entry["at"] for entry in left)
    if len(left) == len(hint["cases"]) and earliest == hint["earliest"]:
        return {}
    return {"$set": {"cases": left, "earliest": earliest}}


class DueHints:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.collection = db[HINTS]

    async def add(self, entries: Sequence[Entry], session: AsyncClientSession) -> None:
        if entries:
            await self.collection.insert_many(hint_documents(entries), session=session)

    async def drop_found(self, cases: Sequence[Found], session: AsyncClientSession) -> None:
        """Drop the entries these cases were found by (`hinted_in`), as they are written
        again: one `$pull` per hint (its `earliest` is set right when next read)."""
        by_hint: dict[str, list[str]] = {}
        for case in cases:
            if case.hinted_in is not None:
                by_hint.setdefault(case.hinted_in, []).append(case.tracking_id)
        for hint_id, tracking_ids in by_hint.items():
            await self.collection.update_one(
                {"_id": hint_id}, {"$pull": {"cases": {"id": {"$in": tracking_ids}}}},
                session=session)

    def come(self, now: datetime) -> AsyncIterator[dict[str, Any]]:
        """The hints whose earliest entry is due by `now`, earliest first, one cursor."""
        return self.collection.find({"earliest": {"$lte": now}}).sort(
            "earliest", ASCENDING).batch_size(READ_BATCH)

    async def prune(self, hints: Iterable[tuple[dict[str, Any], set[str]]]) -> None:
        """Drop each hint's obsolete entries (`(hint, obsolete tracking ids)`) and set its
        `earliest` right."""
        for hint, obsolete in hints:
            update = pruned(hint, obsolete)
            if update is None:
                await self.collection.delete_one({"_id": hint["_id"]})
            elif update:
                await self.collection.update_one({"_id": hint["_id"]}, update)

    async def establish(self, clocks: AsyncIterator[dict[str, Any]]) -> bool:
        """Hints for every case of `clocks` (documents with `_id`, `version` and
        `next_due_at`, in `_id` order), once: True when this call wrote them."""
        if await self.collection.find_one({"_id": ESTABLISHED}) is not None:
            return False
        entries: list[Entry] = []
        written = 0
        async for doc in clocks:
            entries.append((doc["_id"], int(doc["version"]), doc["next_due_at"]))
            if len(entries) == HINT_CASES:
                await insert_first_wins(self.collection, hint_documents(entries,
                                                                        derived_ids=True))
                written, entries = written + len(entries), []
        if entries:
            await insert_first_wins(self.collection, hint_documents(entries, derived_ids=True))
            written += len(entries)
        await insert_first_wins(self.collection, [{"_id": ESTABLISHED}])
        if written:
            log.warning("sla due hints written for the stored clocks", cases=written)
        return True


async def drop_legacy_index(db: AsyncDatabase[dict[str, Any]], collection: str) -> bool:
    """Drop the clocks' `next_due_at` index, if there: True when it was."""
    try:
        await db[collection].drop_index(LEGACY_INDEX)
    except OperationFailure:  # no such index (a new deployment, or dropped before)
        return False
    log.warning("sla clocks' next_due_at index dropped: the due hints replace it")
    return True
