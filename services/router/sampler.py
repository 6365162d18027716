"""Samples the case gauges (open cases by status and by agency, triage backlog).

Counters are counted where things happen; these are states, read from the tally of open
cases that the case writes keep in the database (`adapters.cases`), so every router
instance reports the same numbers whichever partitions it holds. A sample is one small
read: taken every `interval` seconds, and sooner (at most once per `min_gap`) after this
instance changed a case, so the gauges follow activity without a read per message.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter

import structlog

from services.router import metrics
from services.router.adapters.cases import CaseStore
from shared.contract import OPEN_STATUSES, Status

log = structlog.get_logger("router.sampler")


async def sample_cases(store: CaseStore) -> dict[str, int] | None:
    """Set the gauges from the tally; None (gauges untouched) while there is no tally."""
    open_counts = await store.open_counts()
    if open_counts is None:
        return None
    counts: Counter[str] = Counter()
    by_agency: Counter[str] = Counter()
    for (status, assignee), n in open_counts.items():
        counts[status] += n
        if assignee is not None:
            by_agency[assignee] += n
    for status in OPEN_STATUSES:  # zero, not a stale value, once a status empties
        metrics.OPEN_CASES.labels(str(status)).set(counts.get(str(status), 0))
    metrics.TRIAGE_BACKLOG.set(counts.get(str(Status.TRIAGE), 0))
    for agency_id in set(_reported_agencies) - set(by_agency):
        metrics.OPEN_CASES_BY_AGENCY.labels(agency_id).set(0)  # emptied: zero, not stale
    for agency_id, n in by_agency.items():
        metrics.OPEN_CASES_BY_AGENCY.labels(agency_id).set(n)
    _reported_agencies.update(by_agency)
    return dict(counts)


_reported_agencies: set[str] = set()  # agency ids are few and bounded by the registry


class CaseSampler:
    def __init__(self, store: CaseStore, *, interval: float = 15.0,
                 min_gap: float = 1.0) -> None:
        self.store = store
        self.interval = interval
        self.min_gap = min_gap
        self._changed = asyncio.Event()

    def changed(self) -> None:
        """Cases changed here: sample soon."""
        self._changed.set()

    async def run(self) -> None:
        while True:
            try:
                await sample_cases(self.store)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database may be away for a while: try again
                log.warning("sampling cases failed", error_type=type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), self.interval)
            await asyncio.sleep(self.min_gap)  # let a burst of changes settle
            self._changed.clear()
