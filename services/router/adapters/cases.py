"""MongoDB store of cases, with a per-case outbox.

A case and the events its change produced are written in one document write (`outbox`);
the events are published afterwards, and then a marker `{tracking_id}@{version}` is
inserted into `published_outboxes` (an insert costs a fraction of an update, and the case
is written once per change, not twice). A case loaded with an outbox whose marker is
missing was left by a crash between the write and the publish: its events are published
again (same event ids), so nothing is lost and consumers drop the repeat by event_id.
`version` guards against two writers (e.g. during a consumer-group rebalance).

Open cases are counted in a tally (`shared.tally`: one document of counters, by status
and assignee), not by counting the collection: a count of every open case holds up the
embedded database for the best part of a second per 20,000 cases. Each case version
records the tally key of the version before it (`tally_from`: `[]` for a new case), and
the marker of a version is inserted in one transaction with that version's change to the
tally, so each change is counted exactly once, whoever marks it and however often the
event comes again. A version that is neither an outbox nor a change of the tally is not
marked. Versions stored before the tally existed carry no `tally_from` and change nothing:
the tally was counted after them (`establish_tally`, at start-up).

Rejected actions are remembered in `action_rejections` (one document per tracking id and
action id, holding the `action.rejected` event as first published): an action id, once
answered, keeps its answer, so a replay can neither change the case later nor draw a
different rejection.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from shared.contract import OPEN_STATUSES
from shared.mongo import find_in, insert_first_wins
from shared.tally import Key, Tally, changes, commit_all_but_losers, lost_race

COLLECTION = "cases"
REJECTIONS = "action_rejections"
PUBLISHED = "published_outboxes"
TALLY = "router_open_cases"
LEGACY_INDEX = "status_assignee"  # the index the gauges' counts used before the tally
_OPEN = frozenset(str(status) for status in OPEN_STATUSES)

# No secondary index on cases: every index makes every write dearer.
INDEXES: dict[str, list[Any]] = {}


def tally_keys(case: dict[str, Any]) -> list[Key]:
    """What a stored case counts for in the tally: (status, assignee) while it is open."""
    return [(case["status"], case.get("assignee"))] if case["status"] in _OPEN else []


def tally_from(case: dict[str, Any]) -> list[str | None]:
    """The `tally_from` of the next version of a case in this state."""
    keys = tally_keys(case)
    return list(keys[0]) if keys else []


def tally_change(document: dict[str, Any]) -> dict[Key, int]:
    """What this case version changes in the tally (nothing for a version stored before
    the tally existed)."""
    before = document.get("tally_from")
    if before is None:
        return {}
    return dict(changes([tuple(before)] if before else [], tally_keys(document["case"])))


def to_mark(documents: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The versions that need a marker: those with an outbox or a change to the tally."""
    return [d for d in documents if d.get("outbox") or tally_change(d)]


class CaseStore:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.collection = db[COLLECTION]
        self.rejections = db[REJECTIONS]
        self.published = db[PUBLISHED]
        self.tally = Tally(db, TALLY)

    async def get(self, tracking_id: str) -> dict[str, Any] | None:
        return await self.collection.find_one({"_id": tracking_id})

    async def get_many(self, tracking_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        cursor = find_in(self.collection, "_id", tracking_ids)
        return {doc["_id"]: doc async for doc in cursor}

    async def insert_new(self, documents: Sequence[dict[str, Any]]) -> set[str]:
        """Insert new cases; returns the ids that already existed (left untouched)."""
        existing = await insert_first_wins(self.collection, documents)
        return {documents[index]["_id"] for index in existing}

    async def replace(self, document: dict[str, Any], expected_version: int) -> bool:
        """Write the new state and its outbox if nobody changed the case meanwhile."""
        result = await self.collection.replace_one(
            {"_id": document["_id"], "version": expected_version}, document)
        return result.modified_count == 1

    @staticmethod
    def outbox_key(document: dict[str, Any]) -> str:
        return f"{document['_id']}@{document.get('version', 1)}"

    async def mark_published(self, documents: Sequence[dict[str, Any]]) -> None:
        """Record that these case versions are published, and add their changes to the
        tally, in one transaction. A version marked before (a redelivery, or another
        instance) aborts the transaction; it is left out and the rest tried again."""
        await commit_all_but_losers(self.collection.database, to_mark(documents),
                                    self.outbox_key, self._mark)

    async def _mark(self, documents: Sequence[dict[str, Any]],
                    session: AsyncClientSession) -> None:
        keys = [self.outbox_key(d) for d in documents]
        try:
            await self.published.insert_many([{"_id": key} for key in keys], ordered=False,
                                              session=session)
        except BulkWriteError as exc:
            raise lost_race(exc, keys) from exc
        total: Counter[Key] = Counter()
        for document in documents:
            total.update(tally_change(document))
        await self.tally.add(total, session)

    async def unpublished(self, documents: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Of these stored cases, the versions never marked published (a crash came
        between the write and the marker)."""
        pending = to_mark(documents)
        if not pending:
            return []
        keys = [self.outbox_key(d) for d in pending]
        marked = {doc["_id"] async for doc in find_in(self.published, "_id", keys)}
        return [d for d, key in zip(pending, keys, strict=True) if key not in marked]

    # -- the tally of open cases ------------------------------------------------------------
    async def open_counts(self) -> dict[tuple[str, str | None], int] | None:
        """Open cases by (status, assignee agency), from the tally (one small read); None
        while the tally is not counted yet."""
        counts = await self.tally.read()
        if counts is None:
            return None
        return {(str(key[0]), key[1]): n for key, n in counts.items()}

    async def establish_tally(self) -> bool:
        """Count the tally of open cases if there is none (the first start, or an
        operator deleted it with every router stopped); True when this call counted it.
        Run before this process writes a case."""
        async def count() -> dict[Key, int]:
            return {tuple(key): n for key, n in (await self.count_open()).items()}
        return await self.tally.establish(count)

    async def drop_legacy_index(self) -> None:
        """Drop the status index earlier versions counted with (the tally replaces it)."""
        indexes = await self.collection.index_information()
        if LEGACY_INDEX in indexes:
            await self.collection.drop_index(LEGACY_INDEX)

    async def count_open(self) -> dict[tuple[str, str | None], int]:
        """Open cases by (status, assignee agency), counted from the cases in one pass (a
        full read of the collection: for establishing the tally only)."""
        pipeline: list[dict[str, Any]] = [
            {"$match": {"case.status": {"$in": sorted(str(s) for s in OPEN_STATUSES)}}},
            {"$group": {"_id": {"s": "$case.status", "a": "$case.assignee"},
                        "n": {"$sum": 1}}},
        ]
        return {(row["_id"]["s"], row["_id"].get("a")): row["n"]
                async for row in await self.collection.aggregate(pipeline)}

    # -- remembered rejections ------------------------------------------------------------
    @staticmethod
    def rejection_key(tracking_id: str, action_id: str) -> str:
        return f"{tracking_id}/{action_id}"

    async def rejections_for(self, keys: Sequence[tuple[str, str]]
                             ) -> dict[tuple[str, str], dict[str, Any]]:
        """The stored `action.rejected` events of these (tracking_id, action_id) pairs."""
        if not keys:
            return {}
        ids = [self.rejection_key(t, a) for t, a in keys]
        cursor = find_in(self.rejections, "_id", ids)
        return {(doc["tracking_id"], doc["action_id"]): doc["event"] async for doc in cursor}

    async def remember_rejection(self, tracking_id: str, action_id: str,
                                 event: dict[str, Any]) -> dict[str, Any]:
        """Store the rejection unless one is stored already; returns the stored event."""
        stored = await self.rejections.find_one_and_update(
            {"_id": self.rejection_key(tracking_id, action_id)},
            {"$setOnInsert": {"tracking_id": tracking_id, "action_id": action_id,
                              "event": event}},
            upsert=True, return_document=ReturnDocument.AFTER)
        assert stored is not None  # upsert with ReturnDocument.AFTER always returns one
        return stored["event"]  # type: ignore[no-any-return]
