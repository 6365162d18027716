"""MongoDB store of SLA clocks and of the emission ledger.

Clocks (`sla_case_clocks`): one document per case, `_id` = the tracking id, holding the
case's stage clocks (routing, response, resolution, auto_close) and a `version`. A case
is one read and one write however many of its clocks an event moves: the first events
insert the document (the watcher keeps a new case back until its assignment comes, for a
few seconds, so usually both), later ones replace it. Every write is a compare-and-set: a new
case is an insert, every later write `replace_one({_id, version: expected}, doc,
upsert=True)`. When someone else changed (or created) the case first, the filter misses,
the upsert collides on `_id` and the write comes back as a duplicate-key error for exactly
that case. So concurrent sla instances, and the scanner racing the event consumer, never
overwrite each other: the loser reloads and decides again. The clocks have no secondary
index: every index makes every write dearer. A case's `next_due_at` (the earliest next mark
of its running clocks; none while every clock is paused, stopped or done) is written to a
due hint in the same transaction (`due_hints.py`), where the scanner finds it.

Open clocks (`tallies`, document `sla_open_clocks`, see `shared.tally`): the number of
clocks not stopped, by stage, for the `lapor_sla_open_clocks` gauge. Counting them from the
clocks is an `$unwind` over every case (1-2 s for 20,000 cases on the embedded database,
which holds up everything else meanwhile), so the count is kept with the writes instead:
each write adds what it changes to the tally in the same transaction as the clocks, so a
crash or a redelivery can neither lose nor repeat a change. A case remembers what the tally
counts for it as stored (`counted`). Inside a transaction a lost compare-and-set aborts
everything, so the writes are tried again without the losers. The tally is counted from
the clocks once, at start-up, when it does not exist (`establish_tally`); instances of an
earlier version write clocks without counting them, so stop them before starting this one.

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

from collections import Counter
from collections.abc import AsyncGenerator, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING, IndexModel, InsertOne, ReplaceOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from services.sla.adapters.due_hints import INDEXES as HINT_INDEXES
from services.sla.adapters.due_hints import DueHints, Entry, drop_legacy_index
from services.sla.domain import SlaClock
from shared.mongo import find_in, in_chunks, insert_first_wins
from shared.tally import Key, Tally, changes, commit_all_but_losers, lost_race

COLLECTION = "sla_case_clocks"
LEDGER = "sla_emissions"
TALLY = "sla_open_clocks"  # the tally of clocks not stopped, keyed by (stage,)
NEW = -1  # the version of a case that is not stored yet
WRITE_CHUNK = 32  # cases per write command (see ClockStore._write)
CLAIM_LEASE = timedelta(seconds=30)  # a claimer that has not published by then is presumed dead
LEDGER_RETENTION = timedelta(days=30)

INDEXES = {
    COLLECTION: [],  # read by `_id` only; the scanner reads the due hints
    **HINT_INDEXES,
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
    counted: tuple[str, ...] = ()  # the stages the tally counts for this case as stored
    hinted_in: str | None = None  # the due hint it was found by, if the scanner found it

    def with_clocks(self, clocks: Iterable[SlaClock]) -> CaseClocks:
        return replace(self, clocks=tuple(clocks))

    def open_stages(self) -> tuple[str, ...]:
        """The stages of the clocks that are not stopped."""
        return tuple(clock.stage.value for clock in self.clocks if clock.is_active)

    def tally_keys(self) -> list[Key]:
        """What the tally counts for this case: one `(stage,)` per open clock."""
        return [(stage,) for stage in self.open_stages()]

    def tally_change(self) -> Counter[Key]:
        """What writing this case does to the tally (zeros left out)."""
        return changes([(stage,) for stage in self.counted], self.tally_keys())

    def changed_from(self, before: CaseClocks) -> bool:
        return [(c.stage, c.version) for c in self.clocks] != [
            (c.stage, c.version) for c in before.clocks]

    def next_due_at(self) -> datetime | None:
        """The earliest next mark of the case's clocks (None: nothing to come)."""
        due = [at for at in (clock.next_due_at for clock in self.clocks) if at is not None]
        return min(due) if due else None

    def document(self) -> dict[str, Any]:
        return {"_id": self.tracking_id, "version": self.version + 1,
                "next_due_at": self.next_due_at(),
                "clocks": [clock.to_record() for clock in self.clocks]}

    def hint(self) -> Entry | None:
        """The due hint entry of this case as written (None when no mark is to come)."""
        at = self.next_due_at()
        return None if at is None else (self.tracking_id, self.version + 1, at)

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> CaseClocks:
        case = cls(document["_id"], tuple(SlaClock.from_record(record)
                                          for record in document["clocks"]),
                   int(document["version"]))
        return replace(case, counted=case.open_stages())


class ClockStore:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.collection = db[COLLECTION]
        self.ledger = db[LEDGER]
        self.tally = Tally(db, TALLY)
        self.hints = DueHints(db)

    # -- clocks -----------------------------------------------------------------------------
    async def for_cases(self, tracking_ids: Iterable[str]) -> dict[str, CaseClocks]:
        """Every requested case, stored or not (then NEW, without clocks)."""
        found = {tid: CaseClocks(tid) for tid in tracking_ids}
        async for doc in find_in(self.collection, "_id", list(found)):
            found[doc["_id"]] = CaseClocks.from_document(doc)
        return found

    async def due(self, now: datetime, batch: int) -> AsyncGenerator[list[CaseClocks]]:
        """The cases with a clock due by `now`, `batch` at a time (roughly oldest first:
        by hint, then by mark), from the due hints read through one cursor. The hints'
        obsolete entries met on the way are pruned (see `due_hints.py`)."""
        seen: set[str] = set()
        group: list[dict[str, Any]] = []
        entries = 0  # in `group`
        ready: list[CaseClocks] = []
        async for hint in self.hints.come(now):
            group.append(hint)
            entries += len(hint["cases"])
            if entries >= batch:
                ready += await self._due_in(group, now, seen)
                group, entries = [], 0
            while len(ready) >= batch:
                yield ready[:batch]
                ready = ready[batch:]
        if group:
            ready += await self._due_in(group, now, seen)
        for offset in range(0, len(ready), batch):
            yield ready[offset:offset + batch]

    async def _due_in(self, hints: list[dict[str, Any]], now: datetime, seen: set[str]
                      ) -> list[CaseClocks]:
        """The cases of these hints' due entries that are still as hinted (not yet
        yielded by this scan), by mark; prunes the entries found obsolete."""
        due = [(hint, entry) for hint in hints for entry in hint["cases"]
               if entry["at"] <= now]
        stored = {doc["_id"]: doc async for doc in find_in(
            self.collection, "_id", sorted({entry["id"] for _, entry in due}))}
        current: dict[str, str] = {}  # tracking id -> the hint its current entry is in
        obsolete: dict[str, set[str]] = {hint["_id"]: set() for hint in hints}
        for hint, entry in due:
            doc = stored.get(entry["id"])
            if doc is not None and doc["version"] == entry["v"]:
                current[entry["id"]] = hint["_id"]
            else:
                obsolete[hint["_id"]].add(entry["id"])
        await self.hints.prune((hint, obsolete[hint["_id"]]) for hint in hints)
        found = sorted((stored[tid] for tid in current.keys() - seen),
                       key=lambda doc: doc["next_due_at"])
        seen.update(current)
        return [replace(CaseClocks.from_document(doc), hinted_in=current[doc["_id"]])
                for doc in found]

    async def write(self, cases: Sequence[CaseClocks]) -> set[str]:
        """Compare-and-set many cases (each against the version it was computed from) and
        add what they change to the open-clock tally, in one transaction; returns the
        tracking ids that lost a race. A lost compare-and-set aborts the transaction (none
        of its writes happened), so it is run again without the losers until it commits
        or nothing is left."""
        return await commit_all_but_losers(self.collection.database, cases,
                                           lambda case: case.tracking_id, self._write)

    async def _write(self, cases: Sequence[CaseClocks], session: AsyncClientSession) -> None:
        # A new case is an insert (the cheapest write); either way a concurrent writer that
        # got there first shows up as a duplicate key on `_id`. Inserts and replaces go as
        # separate commands: after a failed command the transaction is gone, and a further
        # command of the same bulk would only report that, hiding the duplicates.
        # Each command carries at most WRITE_CHUNK cases: the embedded database answers one
        # statement at a time, and one write of a whole second's cases (about 200) took
        # 70-210 ms, with every other service's statements queued behind it.
        inserts = [case for case in cases if case.version == NEW]
        replaces = [case for case in cases if case.version != NEW]
        for group in (*in_chunks(inserts, WRITE_CHUNK), *in_chunks(replaces, WRITE_CHUNK)):
            requests = [InsertOne(case.document()) if case.version == NEW else
                        ReplaceOne({"_id": case.tracking_id, "version": case.version},
                                   case.document(), upsert=True) for case in group]
            try:
                await self.collection.bulk_write(requests, ordered=False, session=session)
            except BulkWriteError as exc:
                raise lost_race(exc, [case.tracking_id for case in group]) from exc
        await self.hints.add([entry for entry in (case.hint() for case in cases) if entry],
                             session)
        # The scanner's writes make the entries it found the cases by obsolete: dropped
        # now, one update per hint, rather than looked up again once the scan meets them.
        await self.hints.drop_found([case for case in cases if case.version != NEW], session)
        delta: Counter[Key] = Counter()
        for case in cases:
            delta.update(case.tally_change())
        await self.tally.add(delta, session)

    async def establish_hints(self) -> bool:
        """Write due hints for the stored clocks if they have none yet (a deployment of
        the indexed layout), then drop the old index; True when this call wrote them. Run
        before this process writes clocks."""
        clocks = self.collection.find({"next_due_at": {"$ne": None}},
                                      {"version": 1, "next_due_at": 1}).sort("_id", ASCENDING)
        established = await self.hints.establish(aiter(clocks))
        await drop_legacy_index(self.collection.database, COLLECTION)
        return established

    async def count_open_by_stage(self) -> dict[str, int]:
        """Counts every clock not stopped, by stage: a pass over the whole collection, only
        for establishing the tally."""
        pipeline: list[dict[str, Any]] = [
            {"$unwind": "$clocks"},
            {"$match": {"clocks.state": {"$ne": "stopped"}}},
            {"$group": {"_id": "$clocks.stage", "n": {"$sum": 1}}}]
        return {row["_id"]: row["n"] async for row in await self.collection.aggregate(pipeline)}

    async def establish_tally(self) -> bool:
        """Count the open-clock tally from the clocks if it does not exist (True when this
        call created it). Run before this process writes clocks."""
        async def count() -> dict[Key, int]:
            return {(stage,): n for stage, n in (await self.count_open_by_stage()).items()}

        return await self.tally.establish(count)

    async def open_by_stage(self) -> dict[str, int] | None:
        """The open clocks by stage, from the tally (one read); None while it does not
        exist."""
        counts = await self.tally.read()
        if counts is None:
            return None
        return {str(key[0]): n for key, n in counts.items()}

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
