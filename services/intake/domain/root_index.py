"""A bucket's roots with an inverted index: which roots hold each hash of a text sketch.

A bucket keeps up to 200 roots (the newest of the week's duplicate window), and comparing
a new complaint with each of them took 326 µs per complaint with 200 roots on the load
generator's texts: more than the rest of intake's work on it. A root can only be a
near-duplicate if it shares at least `DUPLICATE_THRESHOLD` of the new sketch's hashes
(`most_similar`'s own bound), so the search looks only at the roots holding one of the
new sketch's rarest hashes, and compares only those that share enough: 93 µs with 200
roots, 24 instead of 55 µs with 30 (`python -m benchmarks.duplicate_sketch`). The answer
is the one a comparison with every root gives (unit tests check it on random texts and
at the bound). The index costs about twice a root's sketch in memory (5.4 KB a root
with ten roots per bucket, beside the sketch's 2.6 KB).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from .duplicates import DUPLICATE_THRESHOLD, Root, TextSketch


class RootIndex:
    """One bucket's roots, oldest first by `received_at` (ties: in the order added)."""

    def __init__(self) -> None:
        self._roots: dict[str, tuple[datetime, Root]] = {}  # in age order
        self._position: dict[str, int] = {}  # age order, for sorting a few hits
        # Sketch hash -> the root holding it, or the set of those (most hashes of a
        # bucket are one root's: a string each takes a third of a set's memory).
        self._holders: dict[int, str | set[str]] = {}
        self._last: datetime | None = None

    def __len__(self) -> int:
        return len(self._roots)

    def __contains__(self, tracking_id: object) -> bool:
        return tracking_id in self._roots

    def add(self, root: Root, received_at: datetime) -> bool:
        """Add a root (False if it is here already)."""
        tracking_id = root.tracking_id
        if tracking_id in self._roots:
            return False
        self._roots[tracking_id] = (received_at, root)
        self._position[tracking_id] = len(self._position)
        for value in root.sketch.hashes:
            holders = self._holders.get(value)
            if holders is None:
                self._holders[value] = tracking_id
            elif isinstance(holders, str):
                self._holders[value] = {holders, tracking_id}
            else:
                holders.add(tracking_id)
        if self._last is not None and received_at < self._last:
            self._reorder()  # stored late by another instance: rare
        else:
            self._last = received_at
        return True

    def _reorder(self) -> None:
        ordered = sorted(self._roots.items(), key=lambda item: (item[1][0],
                                                                self._position[item[0]]))
        self._roots = dict(ordered)
        self._position = {tracking_id: n for n, (tracking_id, _) in enumerate(ordered)}
        self._last = ordered[-1][1][0]

    def _remove(self, tracking_ids: Iterable[str]) -> list[str]:
        removed = []
        for tracking_id in tracking_ids:
            _, root = self._roots.pop(tracking_id)
            del self._position[tracking_id]
            for value in root.sketch.hashes:
                holders = self._holders[value]
                if isinstance(holders, str):
                    del self._holders[value]
                else:
                    holders.discard(tracking_id)
                    if len(holders) == 1:
                        self._holders[value] = holders.pop()
            removed.append(tracking_id)
        if not self._roots:
            self._last = None
        return removed

    def keep_newest(self, n: int) -> list[str]:
        """Drop all but the `n` newest roots; the ids dropped."""
        excess = len(self._roots) - n
        if excess <= 0:
            return []
        return self._remove(list(self._roots)[:excess])

    def drop_before(self, since: datetime) -> list[str]:
        """Drop the roots received before `since`; the ids dropped."""
        if not self._roots or next(iter(self._roots.values()))[0] >= since:
            return []  # the oldest is recent enough: nothing to look at
        old = [tracking_id for tracking_id, (at, _) in self._roots.items() if at < since]
        return self._remove(old)

    def roots(self, since: datetime | None = None) -> list[Root]:
        """The roots received since `since` (all by default), oldest first."""
        return [root for at, root in self._roots.values() if since is None or at >= since]

    def sharing(self, sketch: TextSketch, since: datetime | None = None) -> list[Root]:
        """The roots received since `since`, oldest first, that share enough hashes with
        `sketch` to be a near-duplicate of it; every other root would fail
        `most_similar`'s bound.

        A root sharing `need` of the sketch's `n` hashes misses at most `n - need` of
        them, so it holds at least one of any `n - need + 1`: only the roots holding one of
        the sketch's rarest hashes are looked at (a prefix filter), each then checked with
        one set intersection."""
        mine = sketch.members
        at_least = DUPLICATE_THRESHOLD * len(mine)
        need = math.ceil(at_least)
        found_holders = [holders for holders in map(self._holders.get, sketch.hashes)
                         if holders is not None]
        # Rarest first: hashes no root holds, then those one root holds, then the rest.
        single = [holders for holders in found_holders if isinstance(holders, str)]
        shared = sorted((holders for holders in found_holders if not isinstance(holders, str)),
                        key=len)
        probe = len(mine) - need + 1 - (len(mine) - len(found_holders))
        if not mine or probe <= 0:
            return []
        seen = set(single[:probe])
        seen.update(*shared[:max(probe - len(single), 0)])
        hits = sorted((tracking_id for tracking_id in seen
                       if len(mine & self._roots[tracking_id][1].sketch.members) >= at_least),
                      key=self._position.__getitem__)
        found = (self._roots[tracking_id] for tracking_id in hits)
        return [root for at, root in found if since is None or at >= since]


@dataclass
class BucketRoots:
    """What the duplicate search compares a bucket's new complaints with: the indexed
    roots received since `since`, then `more` (roots not indexed yet, oldest first)."""

    index: RootIndex = field(default_factory=RootIndex)
    since: datetime | None = None
    more: list[Root] = field(default_factory=list)

    def __iter__(self) -> Iterator[Root]:
        return iter(self.index.roots(self.since) + self.more)

    def with_more(self, roots: Sequence[Root]) -> BucketRoots:
        """These roots as well, after the indexed ones (those indexed already left out)."""
        known = {root.tracking_id for root in self.more}
        extra = [root for root in roots
                 if root.tracking_id not in self.index and root.tracking_id not in known]
        return BucketRoots(self.index, self.since, [*self.more, *extra])

    def candidates(self, sketch: TextSketch) -> list[Root]:
        """The roots, oldest first, that `most_similar` must look at for `sketch`."""
        return self.index.sharing(sketch, self.since) + self.more
