"""The sla service's application layer: lifecycle events move clocks; the scanner emits
what fell due. Rules live in `services.sla.domain`; this module loads, stores, publishes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from pydantic import BaseModel

from services.sla import metrics
from services.sla.adapters.clocks import CLAIM_LEASE, NEW, CaseClocks, ClockStore
from services.sla.domain import (
    Calendars,
    Emission,
    MarkKind,
    SlaClock,
    SlaPolicy,
    Stage,
    apply_received,
    apply_status_event,
    due_actions,
    record_sent,
)
from shared.agencies import AgencyRegistry
from shared.clock import Clock, as_utc
from shared.consumer import DeadLetter, InboundRecord, decode_events
from shared.contract import Action, ComplaintReceived, ComplaintStatusChanged
from shared.topics import Topics

log = structlog.get_logger("sla")

PublishAll = Callable[[Sequence[tuple[BaseModel, str]]], Awaitable[None]]
MAX_CONFLICT_ROUNDS = 20
MAX_HELD = 10_000  # new cases kept back at most (a catch-up reads fast): the rest are written
MAX_ROUNDS_PER_SCAN = 100  # a bound, not a target: one scan handles up to this many rounds
ROUND_BATCHES = 20  # batches per round: the clocks a round keeps in memory to advance
UNASSIGNED = "none"  # the agency label of routing-stage metrics (no assignee yet)


@dataclass(frozen=True)
class _Advance:
    """A case write the scanner owes once its messages are published: the advanced clocks
    (with the version they were computed from) and, per clock id, the emissions they
    record as sent."""

    case: CaseClocks
    sent: dict[str, frozenset[str]]


LifecycleEvent = ComplaintReceived | ComplaintStatusChanged
Item = tuple[InboundRecord, LifecycleEvent]


@dataclass(frozen=True)
class _Held:
    """A new case whose only event so far is its complaint.received, kept back (since
    `since`) for a later batch, which usually brings its assignment: the case is then
    inserted once, where it would otherwise be inserted and then replaced."""

    since: datetime
    items: tuple[Item, ...]
    clocks: tuple[SlaClock, ...]  # what its events made of a new case, kept to build on


class SlaWatcher:
    def __init__(self, *, store: ClockStore, publish_all: PublishAll, topics: Topics,
                 policy: SlaPolicy, agencies: AgencyRegistry, clock: Clock,
                 scan_batch: int = 1000, hold: timedelta = timedelta(0),
                 scan_interval: timedelta = timedelta(seconds=5), max_held: int = MAX_HELD
                 ) -> None:
        self.store = store
        self.publish_all = publish_all
        self.topics = topics
        self.policy = policy
        self.agencies = agencies
        self.clock = clock
        self.calendars = Calendars(policy.extra_closed_days)
        self.scan_batch = scan_batch
        self.scan_limit = scan_batch * ROUND_BATCHES
        self._tally_missing = False  # warned once per absence, not every scan
        # Received-only new cases kept back for the next batch (see `_Held`): at most
        # `hold`, plus one scan interval until `release_held` writes them. A case is kept
        # back only while none of its marks can fall due before it is written (the scanner
        # sees written cases only), and its records are not committed meanwhile (`holds`).
        self.hold = hold
        self.scan_interval = scan_interval
        self.max_held = max_held
        self._held: dict[str, _Held] = {}
        self._lock = asyncio.Lock()  # the held cases change under it only

    def _timezone_of(self, agency_id: str | None) -> str | None:
        agency = self.agencies.get(agency_id)
        return agency.timezone if agency else None

    def _parent_of(self, agency_id: str) -> str | None:
        parent = self.agencies.parent(agency_id)
        return parent.id if parent else None

    # -- lifecycle events -----------------------------------------------------------------
    async def handle_events(self, records: Sequence[InboundRecord]) -> list[DeadLetter]:
        events, dead = decode_events(records, LifecycleEvent)
        async with self._lock:
            held = self._held
            by_case: dict[str, list[Item]] = {tid: list(h.items) for tid, h in held.items()}
            for record, event in events:
                by_case.setdefault(event.tracking_id, []).append((record, event))
            # Only once everything is written: a failed batch is retried with the cases
            # that were held before it still held.
            self._held = await self._settle(by_case, held)
            metrics.CASES_WAITING.set(len(self._held))
        return dead

    async def release_held(self) -> None:
        """Write the cases held for `hold` or longer (the scan loop calls this before each
        scan, so a case is never held much longer, also when no more events come)."""
        async with self._lock:
            now = self.clock.now()
            await self._write_held({tid for tid, h in self._held.items()
                                    if h.since + self.hold <= now})

    async def write_held(self, partitions: set[tuple[str, int]]) -> None:
        """Write the held cases of partitions this instance is losing, at once: the commit
        of the batch under way may pass their records (their bound is gone with them), and
        the partitions' new owner then reads from there."""
        async with self._lock:
            await self._write_held({tid for tid, h in self._held.items()
                                    if any((r.topic, r.partition) in partitions
                                           for r, _ in h.items)})

    async def _write_held(self, cases: set[str]) -> None:
        if not cases:
            return
        due = {tid: self._held[tid] for tid in cases}
        await self._settle({tid: list(h.items) for tid, h in due.items()}, due, may_hold=False)
        self._held = {tid: h for tid, h in self._held.items() if tid not in due}
        metrics.CASES_WAITING.set(len(self._held))

    def holds(self) -> dict[tuple[str, int], int]:
        """Per partition, the offset of the earliest record held: the commit stops there."""
        earliest: dict[tuple[str, int], int] = {}
        for held in self._held.values():
            for record, _ in held.items:
                key = (record.topic, record.partition)
                earliest[key] = min(record.offset, earliest.get(key, record.offset))
        return earliest

    async def _settle(self, by_case: dict[str, list[Item]], held: dict[str, _Held],
                      *, may_hold: bool = True) -> dict[str, _Held]:
        """Apply and write every case (`held`: those held before, whose items come first),
        retrying those that lost a race; returns the cases kept back instead of written."""
        pending = by_case
        kept: dict[str, _Held] = {}
        fresh = True  # held cases were not stored when held: build on what they were then
        for _ in range(MAX_CONFLICT_ROUNDS):
            if not pending:
                return kept
            lost, again = await self._apply(pending, held, fresh, may_hold)
            kept.update(again)
            fresh = False  # a lost case is applied afresh to what is stored
            metrics.CLOCK_CONFLICTS.inc(len(lost))
            pending = {tid: items for tid, items in pending.items() if tid in lost}
        raise RuntimeError(f"clock writes kept conflicting for {len(pending)} cases")

    async def _apply(self, by_case: dict[str, list[Item]], held: dict[str, _Held],
                     fresh: bool, may_hold: bool) -> tuple[set[str], dict[str, _Held]]:
        """Apply each case's events to its stored clocks (a case held before, while
        `fresh`: to the clocks its held events made, with the events that came since); one
        bulk compare-and-set write for the cases that changed and are not kept back.
        Returns the cases that lost a race (to retry) and those kept back."""
        start = held if fresh else {}
        stored = await self.store.for_cases(tid for tid in by_case if tid not in start)
        now = self.clock.now()
        writes: list[CaseClocks] = []
        kept: dict[str, _Held] = {}
        for tracking_id, items in by_case.items():
            before = stored.get(tracking_id) or CaseClocks(tracking_id)
            clocks, todo = before.clocks, items
            if tracking_id in start:
                clocks, todo = start[tracking_id].clocks, items[len(start[tracking_id].items):]
            for _, event in todo:
                if isinstance(event, ComplaintReceived):
                    clocks = apply_received(clocks, event, policy=self.policy,
                                            calendars=self.calendars,
                                            timezone_of=self._timezone_of)
                else:
                    clocks = apply_status_event(clocks, event, policy=self.policy,
                                                calendars=self.calendars,
                                                timezone_of=self._timezone_of)
            after = before.with_clocks(clocks)
            if not after.changed_from(before):
                continue
            held_since = held[tracking_id].since if tracking_id in held else now
            if may_hold and len(kept) < self.max_held and self._may_hold(
                    before, items, after, held_since, now):
                kept[tracking_id] = _Held(held_since, tuple(items), after.clocks)
            else:
                writes.append(after)
        return await self.store.write(writes), kept

    def _may_hold(self, before: CaseClocks, items: list[Item], after: CaseClocks,
                  since: datetime, now: datetime) -> bool:
        """Whether a case may wait for a later batch: a new case with nothing but its
        complaint.received, held for less than `hold`, none of whose marks can fall due
        before it is written (at the latest one scan interval after `hold`)."""
        if not self.hold or before.version != NEW or since + self.hold <= now:
            return False
        if not all(isinstance(event, ComplaintReceived) for _, event in items):
            return False
        due = [clock.next_due_at for clock in after.clocks if clock.next_due_at is not None]
        return not due or min(due) > now + self.hold + self.scan_interval

    # -- the scanner ----------------------------------------------------------------------
    async def scan(self) -> int:
        """Emit everything due now; returns the number of messages published.

        A round reads the cases with a clock due from the due hints (roughly oldest first),
        through one cursor, a batch at a time. Per batch: one insert of ledger entries claims the
        batch's emissions (of several instances only the one whose insert lands publishes an
        emission; a lapsed claim is taken over), then the won messages are published while
        the next batch is claimed. Once the round's messages are out, the cases' clocks are
        advanced (marks recorded as sent, `next_due_at` moved on) with one bulk
        compare-and-set write per batch. Publishing comes first: a clock is only advanced
        once its messages are acknowledged by the broker, so a crash in between repeats a
        message (same id) and never loses one. A round stops after `scan_limit` cases and
        the next round starts at once.
        """
        now = self.clock.now()
        published = 0
        with metrics.SCAN_SECONDS.time():
            for _ in range(MAX_ROUNDS_PER_SCAN):
                emitted, seen = await self._round(now)
                published += emitted
                if seen < self.scan_limit:
                    break
        return published

    async def _round(self, now: datetime) -> tuple[int, int]:
        advances: list[_Advance] = []
        published, seen = 0, 0
        publishing: asyncio.Task[int] | None = None
        try:
            async with aclosing(self.store.due(now, self.scan_batch)) as batches:
                async for cases in batches:
                    seen += len(cases)
                    messages, batch_advances = await self._claim(cases, now)
                    advances.extend(batch_advances)
                    if publishing is not None:  # one batch publishes while the next is claimed
                        published += await publishing
                    publishing = asyncio.create_task(self._publish(messages, now))
                    if seen >= self.scan_limit:
                        break
        finally:
            if publishing is not None:
                published += await publishing
        for offset in range(0, len(advances), self.scan_batch):
            await self._advance(advances[offset:offset + self.scan_batch])
        return published, seen

    async def _claim(self, cases: list[CaseClocks], now: datetime
                     ) -> tuple[list[Emission], list[_Advance]]:
        """Claim the batch's emissions in the ledger; returns the won emissions, in order,
        and the case writes to make once they are published."""
        due: list[tuple[CaseClocks, list[tuple[SlaClock, SlaClock, list[Emission]]]]] = []
        entries: list[dict[str, Any]] = []
        for case in cases:
            per_clock = []
            for clock in case.clocks:
                advanced, emissions = due_actions(clock, now, parent_of=self._parent_of,
                                                  coordinator=self.policy.national_coordinator)
                per_clock.append((clock, advanced, emissions))
                entries.extend({"_id": e.emission_id, "clock_id": clock.clock_id,
                                "kind": e.kind.value, "claimed_at": now,
                                "lease_until": now + CLAIM_LEASE} for e in emissions)
            due.append((case, per_clock))
        taken = await self.store.claim(entries)
        if taken:
            taken -= await self._take_over_lapsed(due, taken, now)
        won: list[Emission] = []
        advances: list[_Advance] = []
        for case, per_clock in due:
            clocks: list[SlaClock] = []
            sent: dict[str, frozenset[str]] = {}
            for clock, advanced, emissions in per_clock:
                mine = [e for e in emissions if e.emission_id not in taken]
                won.extend(mine)
                if mine:
                    sent[clock.clock_id] = frozenset(e.emission_id for e in mine)
                if len(mine) == len(emissions):  # everything (or nothing) due was ours
                    clocks.append(advanced)
                else:
                    clocks.append(record_sent(clock, sent.get(clock.clock_id, frozenset())))
            after = case.with_clocks(clocks)
            if after.changed_from(case):
                advances.append(_Advance(after, sent))
        return won, advances

    async def _take_over_lapsed(self, due: list[Any], taken: set[str], now: datetime
                                ) -> set[str]:
        """Of the emissions another claimer holds, those whose lease ran out (the claimer
        died before publishing) and that this scanner now took over. A claim is never older
        than its mark, so one whose mark fell due less than a lease ago still holds: the
        ledger is read only for the others."""
        old_enough = {e.emission_id for _, per_clock in due for _, _, emissions in per_clock
                      for e in emissions
                      if e.emission_id in taken and e.scheduled_at + CLAIM_LEASE <= now}
        if not old_enough:
            return set()
        won = set()
        for entry in await self.store.claims(old_enough):
            if as_utc(entry["lease_until"]) <= now and await self.store.take_over(
                    entry, now, now + CLAIM_LEASE):
                log.info("sla claim taken over", emission_id=entry["_id"],
                         clock_id=entry["clock_id"])
                won.add(entry["_id"])
        return won

    async def _advance(self, advances: list[_Advance]) -> None:
        """Write the advanced cases (compare-and-set); a case changed meanwhile by the event
        consumer is reloaded and its sent marks recorded on the new version."""
        pending = advances
        for _ in range(MAX_CONFLICT_ROUNDS):
            lost = await self.store.write([a.case for a in pending])
            if not lost:
                return
            metrics.CLOCK_CONFLICTS.inc(len(lost))
            sent = {a.case.tracking_id: a.sent for a in pending if a.case.tracking_id in lost}
            pending = []
            for case in (await self.store.for_cases(sent)).values():
                marks = sent[case.tracking_id]
                after = case.with_clocks(
                    record_sent(clock, marks[clock.clock_id]) if clock.clock_id in marks
                    else clock for clock in case.clocks)
                if after.changed_from(case):
                    pending.append(_Advance(after, marks))
            if not pending:
                return
        raise RuntimeError(f"clock writes kept conflicting for {len(pending)} cases")

    async def _publish(self, emissions: list[Emission], now: datetime) -> int:
        if emissions:
            await self.publish_all([(message, self.topics.actions if isinstance(
                message, Action) else self.topics.sla) for message in (
                e.to_message(now) for e in emissions)])
            for emission in emissions:
                self._count(emission, now)
        return len(emissions)

    def _count(self, emission: Emission, now: datetime) -> None:
        metrics.LATENESS.observe(max((now - emission.scheduled_at).total_seconds(), 0.0))
        agency = emission.agency_id or UNASSIGNED
        if emission.kind is MarkKind.WARNING:
            metrics.WARNINGS.labels(agency, emission.stage.value, str(emission.threshold)).inc()
        elif emission.kind is MarkKind.BREACH:
            metrics.BREACHES.labels(agency, emission.stage.value, str(emission.level)).inc()
        else:
            metrics.AUTO_CLOSES.inc()

    async def sample_gauges(self) -> None:
        """Set the open-clock gauges from the tally (one read). While the tally does not
        exist (deleted to be counted again at the next start), they keep their values."""
        counts = await self.store.open_by_stage()
        if counts is None:
            if not self._tally_missing:
                log.warning("sla open-clock tally missing: gauges not updated until an "
                            "instance starts and counts it")
            self._tally_missing = True
            return
        self._tally_missing = False
        for stage in Stage:
            metrics.OPEN_CLOCKS.labels(stage.value).set(counts.get(stage.value, 0))
