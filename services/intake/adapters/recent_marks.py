"""The flood guard's window in memory: the recent complaints of each reporter contact.

Every intake instance keeps the marks of the window (adapters/contact_marks.py) in
memory: read once at start (every writer's chunks received within the window), its own
added as it stores them, and every `refresh_seconds` the chunks the other writers stored
since the last read, with an overlap for chunks that landed late (their `received_at` is
their batch's start). The refresh is waited for by the chunk that finds the window stale,
so the guard counts every mark another instance stored before the last refresh: at most
`refresh_seconds` late, where counting by a query per chunk was only as late as the
writes in flight. An instance alone never admits more than the limit for a contact;
instances racing within a second may together (the guard is a flood guard, not a quota).

Memory grows with the window's marked complaints (one entry per complaint with a
contact, about 1 KB with its keys), at most `max_marks` (`LAPOR_INTAKE_FLOOD_GUARD_MAX_MARKS`,
500,000 by default, an hour at 140 complaints a second); then the oldest go, with a
warning in the log and in `take_forgotten` (the handler's metric).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

import structlog

from services.intake.adapters.contact_marks import ContactMarks, Mark, marks_in

log = structlog.get_logger("intake.marks")

REFRESH_SECONDS = 1.0
# Chunks are stamped with their batch's start and land when the batch stores them; a
# refresh reads again the other writers' chunks of this long before the last one.
OVERLAP = timedelta(seconds=10)
MAX_MARKS = 500_000  # about 1 KB each with their keys (LAPOR_INTAKE_FLOOD_GUARD_MAX_MARKS)


class RecentMarks:
    def __init__(self, store: ContactMarks, window: timedelta, *,
                 refresh_seconds: float = REFRESH_SECONDS,
                 monotonic: Callable[[], float] = time.monotonic,
                 max_marks: int = MAX_MARKS) -> None:
        self.store = store
        self.window = window
        self.refresh_seconds = refresh_seconds
        self.monotonic = monotonic
        self.max_marks = max_marks
        self._marks: dict[str, Mark] = {}  # by submission key
        self._by_contact: dict[str, set[str]] = {}  # contact key -> submission keys
        self._order: deque[tuple[datetime, str]] = deque()  # for forgetting, about oldest first
        self._chunks: dict[Any, datetime] = {}  # other writers' chunks read, within the overlap
        self._read_until: datetime | None = None  # `now` of the last read
        self._read_at: float | None = None
        self._overflowed = 0  # marks forgotten early since the last read, the window full
        self._forgotten_untold = 0  # ... since the last `take_forgotten`
        self._reading: asyncio.Future[None] | None = None

    async def recent(self, contact_keys: Iterable[str], now: datetime
                     ) -> list[tuple[str, list[str]]]:
        """`(submission_key, contact_keys)` of every complaint received within the window
        before `now` from any of these contacts, each submission once."""
        if self._read_at is None or self.monotonic() - self._read_at >= self.refresh_seconds:
            reading = self._reading  # (chunks asking together share one read)
            if reading is None or reading.done():  # (done: its waiter was cancelled)
                if reading is not None and not reading.cancelled():
                    reading.exception()  # seen by no one: not worth a warning at exit
                reading = self._reading = asyncio.ensure_future(self._read(now))
            try:
                await asyncio.shield(reading)
            finally:
                if self._reading is reading and reading.done():
                    self._reading = None
        since = now - self.window
        self._forget_before(since)
        found: dict[str, list[str]] = {}
        marks = self._marks
        for contact in contact_keys:
            for key in self._by_contact.get(contact, ()):
                mark = marks[key]
                if mark.received_at >= since:
                    found[key] = list(mark.contact_keys)
        return list(found.items())

    @property
    def size(self) -> int:
        """How many complaints the window holds."""
        return len(self._marks)

    def take_forgotten(self) -> int:
        """How many complaints were forgotten early (the window full) since the last call."""
        forgotten, self._forgotten_untold = self._forgotten_untold, 0
        return forgotten

    async def add(self, marks: Sequence[Mark]) -> None:
        """Store a chunk's marks, then count them."""
        for mark in await self.store.add(marks):
            self._remember(mark)

    async def _read(self, now: datetime) -> None:
        if self._read_until is None:
            chunks = await self.store.received_since(now - self.window, others_only=False)
        else:
            since = self._read_until - OVERLAP
            chunks = await self.store.received_since(since, others_only=True)
            for chunk_id in [c for c, at in self._chunks.items() if at < since]:
                del self._chunks[chunk_id]
        for chunk in chunks:
            if chunk["_id"] not in self._chunks:
                self._chunks[chunk["_id"]] = chunk["received_at"]
                for mark in marks_in(chunk):
                    self._remember(mark)
        self._read_until = max(now, self._read_until or now)
        self._read_at = self.monotonic()
        if self._overflowed:
            log.warning("flood guard window full: the oldest marks forgotten",
                        forgotten=self._overflowed, max_marks=self.max_marks)
            self._overflowed = 0

    def _remember(self, mark: Mark) -> None:
        if mark.submission_key in self._marks:
            return
        self._marks[mark.submission_key] = mark
        for contact in mark.contact_keys:
            self._by_contact.setdefault(contact, set()).add(mark.submission_key)
        self._order.append((mark.received_at, mark.submission_key))
        while len(self._marks) > self.max_marks:
            if self._forget(self._order.popleft()[1]):
                self._overflowed += 1
                self._forgotten_untold += 1

    def _forget_before(self, since: datetime) -> None:
        order = self._order
        marks = self._marks
        while order and order[0][0] < since:
            key = order.popleft()[1]
            mark = marks.get(key)
            if mark is not None and mark.received_at < since:  # (not one counted again since)
                self._forget(key)

    def _forget(self, key: str) -> bool:
        mark = self._marks.pop(key, None)
        if mark is None:
            return False
        for contact in mark.contact_keys:
            keys = self._by_contact.get(contact)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._by_contact[contact]
        return True
