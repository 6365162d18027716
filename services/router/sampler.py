"""Samples the case gauges (open cases by status, triage backlog) from the database.

Counters are counted where things happen; these two are states, read from the cases
collection, so every router instance reports the same numbers whichever partitions it
holds. A sample is taken every `interval` seconds, and sooner (at most once per
`min_gap`) after this instance changed a case, so the gauges follow activity without a
query per message (one aggregate gives both gauges). On a busy database a sample is a
burst of work that delays the pipeline's own statements, so the gap is seconds, in step
with a Prometheus scrape, not one; and since a sample counts every open case, never
sooner than its cost allows (`shared.sampling`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter

import structlog

from services.router import metrics
from services.router.adapters.cases import CaseStore
from shared.contract import OPEN_STATUSES, Status
from shared.sampling import SampleSchedule

log = structlog.get_logger("router.sampler")


async def sample_cases(store: CaseStore) -> dict[str, int]:
    counts: Counter[str] = Counter()
    by_agency: Counter[str] = Counter()
    for (status, assignee), n in (await store.count_open()).items():
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
                 min_gap: float = 5.0) -> None:
        self.store = store
        self.interval = interval
        self.min_gap = min_gap
        self.schedule = SampleSchedule(interval)
        self._changed = asyncio.Event()

    def changed(self) -> None:
        """Cases changed here: sample soon."""
        self._changed.set()

    async def run(self) -> None:
        while True:
            try:
                await self.schedule.take(lambda: sample_cases(self.store))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database may be away for a while: try again
                log.warning("sampling cases failed", error_type=type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), self.interval)
            # Let a burst of changes settle; never sample a large backlog back to back.
            await asyncio.sleep(max(self.min_gap,
                                    self.schedule.cost_allows_at - time.monotonic()))
            self._changed.clear()
