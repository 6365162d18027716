"""Counts kept with the writes that change them.

A gauge such as "open cases by status" can be read by counting the collection, but that
count grows with the backlog, and on a database that answers one statement at a time it
holds up everything else while it runs (measured on the embedded database: 0.8 s for
20,000 cases). A `Tally` is one small document of counters instead. Whoever changes what
is counted adds the change to the tally *in the same transaction* as the change itself
(`in_transaction`), so a crash or a redelivery can neither lose nor repeat it, and reading
the gauges is one `find_one`.

The tally is counted from the collection once, when it does not exist yet
(`establish`): at the first start, or after an operator deleted it to have it counted
again (with every writer stopped, so nothing changes during the count).

Keys are tuples of strings (or None), stored as one field name each: `.` and `$` are not
allowed in a field path, so parts are %-escaped and joined with `|`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from functools import partial
from typing import Any, TypeVar

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from shared.mongo import duplicates_in, insert_first_wins

COLLECTION = "tallies"
NONE = "-"  # stands for None (a part that is "-" itself is escaped)
_ESCAPES = (("%", "%25"), (".", "%2E"), ("|", "%7C"), ("$", "%24"))
_DASH = "%2D"
T = TypeVar("T")
Item = TypeVar("Item")
Key = tuple[str | None, ...]


def field_of(key: Key) -> str:
    """The field name of a key: parts escaped and joined by `|`."""
    parts = []
    for part in key:
        if part is None:
            parts.append(NONE)
            continue
        for raw, escaped in _ESCAPES:
            part = part.replace(raw, escaped)
        parts.append(_DASH if part == NONE else part)
    return "|".join(parts)


def key_of(field: str) -> Key:
    """The key a field name stands for (the inverse of `field_of`)."""
    parts: list[str | None] = []
    for part in field.split("|"):
        if part == NONE:
            parts.append(None)
            continue
        part = part.replace(_DASH, NONE)  # "%" itself is "%25": "%2D" came from a "-"
        for raw, escaped in reversed(_ESCAPES):
            part = part.replace(escaped, raw)
        parts.append(part)
    return tuple(parts)


def changes(before: Iterable[Key], after: Iterable[Key]) -> Counter[Key]:
    """What moves from `before` to `after` does to the counts (zeros left out)."""
    delta: Counter[Key] = Counter(after)
    delta.subtract(Counter(before))
    return Counter({key: n for key, n in delta.items() if n})


async def in_transaction(db: AsyncDatabase[dict[str, Any]],
                         work: Callable[[AsyncClientSession], Awaitable[T]]) -> T:
    """Run `work(session)` as one transaction: all its writes happen, or none. Transient
    transaction errors are retried by the driver; any other error aborts and is raised.
    A failed command ends the transaction, so give it no unordered bulk that mixes kinds of
    write: on the embedded database, a duplicate key in the first kind is then reported
    only as "no such transaction" by the next, which the driver retries as transient until
    it times out. A bulk of inserts only (or of replaces only) reports every duplicate."""
    async with db.client.start_session() as session:
        return await session.with_transaction(work)


class LostRace(Exception):
    """Raised by a transaction's work: these items (by key) lost to a writer that got
    there first (a duplicate key); the transaction is aborted, nothing of it written."""

    def __init__(self, keys: set[str]) -> None:
        super().__init__(f"{len(keys)} written by someone else first")
        self.keys = keys


def lost_race(exc: BulkWriteError, keys: Sequence[str]) -> LostRace:
    """The `LostRace` of an unordered bulk whose write `i` was for `keys[i]` (any write
    error other than a duplicate key is raised as it is)."""
    return LostRace({keys[index] for index in duplicates_in(exc)})


async def commit_all_but_losers(db: AsyncDatabase[dict[str, Any]], items: Sequence[Item],
                                key: Callable[[Item], str],
                                work: Callable[[Sequence[Item], AsyncClientSession],
                                               Awaitable[None]]) -> set[str]:
    """Write `items` with `work(items, session)` in one transaction; when some lose a race
    (`LostRace`), the transaction is run again without them, until it commits or nothing
    is left. Returns the keys of the losers."""
    lost: set[str] = set()
    pending = list(items)
    while pending:
        try:
            await in_transaction(db, partial(work, pending))
            return lost
        except LostRace as exc:
            if not exc.keys & {key(item) for item in pending}:
                raise  # no progress possible: not a loss of these items
            lost |= exc.keys
            pending = [item for item in pending if key(item) not in exc.keys]
    return lost


class Tally:
    def __init__(self, db: AsyncDatabase[dict[str, Any]], name: str) -> None:
        self.collection: AsyncCollection[dict[str, Any]] = db[COLLECTION]
        self.name = name

    async def add(self, delta: Mapping[Key, int], session: AsyncClientSession) -> None:
        """Add `delta` to the counts, inside the caller's transaction."""
        increments = {f"counts.{field_of(key)}": n for key, n in delta.items() if n}
        if increments:
            await self.collection.update_one({"_id": self.name}, {"$inc": increments},
                                             session=session)

    async def read(self) -> dict[Key, int] | None:
        """The counts (zeros left out), or None while the tally does not exist."""
        document = await self.collection.find_one({"_id": self.name})
        if document is None:
            return None
        return {key_of(field): int(n) for field, n in document.get("counts", {}).items()
                if n}

    async def establish(self, count: Callable[[], Awaitable[Mapping[Key, int]]]) -> bool:
        """Count the tally if it does not exist; True when this call created it. Run it
        before this process writes anything counted: of several processes starting at
        once, the first insert wins, and none of them has written yet."""
        if await self.collection.find_one({"_id": self.name}, {"_id": 1}) is not None:
            return False
        counts = {field_of(key): n for key, n in (await count()).items() if n}
        taken = await insert_first_wins(self.collection, [{"_id": self.name, "counts": counts}])
        return not taken
