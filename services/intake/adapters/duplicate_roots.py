"""The roots of the duplicate search: recent complaints that later ones may be near-copies of.

Stored in their own collection, in batches: each document of `duplicate_root_batches`
holds the roots one instance wrote in one statement (up to `BATCH_ROOTS`: tracking id,
category, region, received_at and the 512-byte text sketch of each) and the batch's
`expires_at`, when its newest root leaves the duplicate window, which a TTL index acts on.
A root is small and every document costs the database the same bookkeeping whatever its
size: on the embedded database one document per root cost 0.28 ms of its CPU per root
written and 0.07 ms per root read, a batch 0.01 ms for each (`benchmarks/root_batches.py`),
and every root is read again at a few refreshes.

Every intake instance keeps the live roots in memory and reads only what is new:
once at start all roots of the window, then every `refresh_seconds` the batches stored
since (by any instance), with an overlap for writes that commit late, beside the
handler rather than in its way. Its own new roots it adds as it stores them (and does not
decode again when a refresh reads them back). So a batch costs no database read for the
duplicate search, whatever (category, region) buckets it touches.

A root stored by another instance in the last few seconds may be missed: the same as two
near-copies processed at the same moment, and harmless, since the flag is advice. Roots
are written after their complaints, behind the handler (`RootWriter`: every second, not
one statement per batch): a crash in between loses those roots (missed flags), never
leaves a root without its complaint. A batch's `_id` is derived from its roots, so a
write tried again as it was is stored once; a root written again in another batch (a
retry that took newer roots along, a redelivered submission) is read once, by its
tracking id.

Versions before the batches stored one document per root in `duplicate_roots`; those are
read too (the same query), so roots written by an earlier instance during a rolling
upgrade are found, and that collection empties itself by its TTL index after the window.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Container, Hashable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

import structlog
from bson import Binary
from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from services.intake.domain.duplicates import Root, TextSketch
from shared.mongo import duplicates_in
from shared.name_ids import name_based_id

log = structlog.get_logger("intake.roots")

COLLECTION = "duplicate_root_batches"
LEGACY_COLLECTION = "duplicate_roots"  # one document per root, written by earlier versions
INDEXES = {
    COLLECTION: [
        # Expiry after the window, and the incremental read ("stored since").
        IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=0, name="roots_expiry"),
    ],
}
BATCH_ROOTS = 1000  # roots per document: about 700 KB, far below the 16 MB a document may hold
BATCH_IDS = uuid.UUID("5b1d6f0e-3c0a-4f7e-9d55-0c8e6a3f4b21")  # namespace of batch ids

REFRESH_SECONDS = 5.0
WRITE_SECONDS = 1.0  # how long new roots wait to be written together
MAX_WAITING = 20_000  # roots kept for writing while the database is away (then the oldest go)
# Re-read to catch roots another instance stored late (received_at well before the write
# landed, a batch held up). Every refresh reads the roots of the overlap again (at 200
# complaints/s, 60 s were 12,000 documents every 5 s), so it is kept to a few refreshes.
OVERLAP = timedelta(seconds=15)
ROOTS_PER_BUCKET = 200  # the newest; bounds memory and comparisons per complaint

Bucket = tuple[str | None, str | None]  # (category, region_code)
Stored = tuple[Bucket, datetime, Root]  # a root, with its bucket and when it was received


class RootStore:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.collection = db[COLLECTION]
        self.legacy = db[LEGACY_COLLECTION]

    async def add(self, roots: Sequence[Stored], window: timedelta) -> None:
        if not roots:
            return
        documents = [batch_document(roots[start:start + BATCH_ROOTS], window)
                     for start in range(0, len(roots), BATCH_ROOTS)]
        try:
            await self.collection.insert_many(documents, ordered=False)
        except BulkWriteError as exc:  # already there: the same write tried again
            duplicates_in(exc)

    async def expiring_after(self, moment: datetime, known: Container[str] = ()
                             ) -> tuple[list[Stored], datetime | None]:
        """The roots of the batches (and earlier versions' single roots) that expire after
        `moment`, except the `known` ones (not decoded), and the latest expiry among all of
        them (known ones included: the high-water mark)."""
        roots: list[Stored] = []
        latest: datetime | None = None
        since = {"expires_at": {"$gt": moment}}
        for collection, unpack in ((self.collection, _batch_roots),
                                   (self.legacy, _single_root)):
            async for doc in collection.find(since):
                expires = doc["expires_at"]
                latest = expires if latest is None or expires > latest else latest
                for entry in unpack(doc):
                    if entry["tracking_id"] not in known:
                        roots.append(_stored(entry))
        return roots, latest


def batch_document(roots: Sequence[Stored], window: timedelta) -> dict[str, Any]:
    """One batch of roots: its `_id` derived from its roots' tracking ids, its expiry the
    newest root's."""
    return {
        "_id": name_based_id(BATCH_IDS, "\n".join(root.tracking_id for _, _, root in roots)),
        "expires_at": max(at for _, at, _ in roots) + window,
        "roots": [{"tracking_id": root.tracking_id, "category": bucket[0],
                   "region_code": bucket[1], "received_at": at,
                   "sketch": Binary(root.sketch.to_bytes())} for bucket, at, root in roots],
    }


def _batch_roots(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return doc["roots"]  # type: ignore[no-any-return]


def _single_root(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [{**doc, "tracking_id": doc["_id"]}]


def _stored(entry: dict[str, Any]) -> Stored:
    return ((entry.get("category"), entry.get("region_code")), entry["received_at"],
            Root(entry["tracking_id"], TextSketch.from_bytes(bytes(entry["sketch"]))))


class RecentRoots:
    """The roots of the duplicate window, in memory: loaded once, then refreshed every
    `refresh_seconds` with what other instances stored. A refresh runs beside the
    handler (the batch that finds the cache stale is not held up by it); only the first
    load is waited for."""

    def __init__(self, store: RootStore, window: timedelta, *,
                 refresh_seconds: float = REFRESH_SECONDS,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.window = window
        self.refresh_seconds = refresh_seconds
        self.monotonic = monotonic
        self._buckets: dict[Hashable, list[tuple[datetime, Root]]] = {}
        self._known: set[str] = set()
        self._high_water: datetime | None = None  # the latest expires_at read
        self._refreshed_at: float | None = None
        self._refreshing: asyncio.Task[None] | None = None

    async def for_buckets(self, buckets: Iterable[Hashable], now: datetime
                          ) -> dict[Hashable, list[Root]]:
        """The roots received within the window before `now`, oldest first, per bucket."""
        if self._refreshed_at is None:
            await self._refresh(now)
        elif self.monotonic() - self._refreshed_at >= self.refresh_seconds and (
                self._refreshing is None or self._refreshing.done()):
            self._refreshing = asyncio.create_task(self._refresh_quietly(now))
        since = now - self.window
        return {bucket: [root for at, root in self._buckets.get(bucket, ()) if at >= since]
                for bucket in buckets}

    async def _refresh_quietly(self, now: datetime) -> None:
        try:
            await self._refresh(now)
        except Exception as exc:  # the database away: the next batch tries again
            self._refreshed_at = self.monotonic()
            log.warning("refreshing duplicate roots failed", error_type=type(exc).__name__)

    async def _refresh(self, now: datetime) -> None:
        start = now if self._high_water is None else self._high_water - OVERLAP
        found, latest = await self.store.expiring_after(start, self._known)
        for bucket, at, root in sorted(found, key=lambda entry: entry[1]):
            self._remember(bucket, at, root)
        # From every root read, this instance's own included: else, alone, it would read
        # everything since it started again and again.
        if latest is not None and (self._high_water is None or latest > self._high_water):
            self._high_water = latest
        if self._high_water is None:
            self._high_water = now
        self._refreshed_at = self.monotonic()
        self._forget_before(now - self.window)

    def add(self, bucket: Hashable, received_at: datetime, root: Root) -> None:
        """A root this instance just stored."""
        self._remember(bucket, received_at, root)

    def _remember(self, bucket: Hashable, at: datetime, root: Root) -> None:
        if root.tracking_id in self._known:
            return
        self._known.add(root.tracking_id)
        entries = self._buckets.setdefault(bucket, [])
        entries.append((at, root))
        if len(entries) > 1 and entries[-2][0] > at:
            entries.sort(key=lambda entry: entry[0])
        for _, dropped in entries[:-ROOTS_PER_BUCKET]:
            self._known.discard(dropped.tracking_id)
        del entries[:-ROOTS_PER_BUCKET]

    def _forget_before(self, since: datetime) -> None:
        for bucket in list(self._buckets):
            entries = self._buckets[bucket]
            if entries and entries[0][0] < since:
                kept = [(at, root) for at, root in entries if at >= since]
                for at, root in entries:
                    if at < since:
                        self._known.discard(root.tracking_id)
                if kept:
                    self._buckets[bucket] = kept
                else:
                    del self._buckets[bucket]


class RootWriter:
    """Writes this instance's new roots behind the handler: gathered for `interval`
    seconds, then one statement for all of them (one per batch was a tenth of the embedded
    database's time at 200 complaints/s). This instance's duplicate search has them in
    memory at once (`RecentRoots.add`); other instances read them at their next refresh.
    Roots that could not be written are tried again with the next ones."""

    def __init__(self, store: RootStore, window: timedelta, *,
                 interval: float = WRITE_SECONDS) -> None:
        self.store = store
        self.window = window
        self.interval = interval
        self._waiting: list[Stored] = []

    async def add(self, roots: Sequence[Stored]) -> None:
        """Queue roots of complaints already stored (returns at once)."""
        self._waiting += roots
        if len(self._waiting) > MAX_WAITING:
            log.warning("duplicate roots dropped unwritten",
                        roots=len(self._waiting) - MAX_WAITING)
            del self._waiting[:-MAX_WAITING]

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    async def write(self) -> None:
        roots, self._waiting = self._waiting, []
        try:
            await self.store.add(roots, self.window)
        except BaseException:
            self._waiting = roots + self._waiting
            raise

    async def run_forever(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.write()
            except Exception as exc:  # the database away: with the next ones
                log.warning("writing duplicate roots failed", roots=self.waiting,
                            error_type=type(exc).__name__)

    async def close(self) -> None:
        """The last write, once the handler has stopped."""
        try:
            await self.write()
        except Exception as exc:
            log.warning("duplicate roots lost at shutdown", roots=self.waiting,
                        error_type=type(exc).__name__)
