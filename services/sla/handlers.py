"""The sla service's application layer: lifecycle events move clocks; the scanner emits
what fell due. Rules live in `services.sla.domain`; this module loads, stores, publishes."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import structlog
from pydantic import BaseModel, ValidationError

from services.sla import metrics
from services.sla.adapters.clocks import NEW, OUTBOX_LEASE, ClockStore, clock_document
from services.sla.domain import (
    Calendars,
    Emission,
    MarkKind,
    SlaClock,
    SlaPolicy,
    apply_received,
    apply_status_event,
    due_actions,
)
from shared.agencies import AgencyRegistry
from shared.clock import Clock
from shared.codec import NotAJsonObject, decode_event
from shared.consumer import DeadLetter, InboundRecord
from shared.contract import Action, ComplaintReceived, ComplaintStatusChanged
from shared.contract.events import EVENT_TYPES
from shared.topics import ACTIONS, SLA, Topics

log = structlog.get_logger("sla")

PublishAll = Callable[[Sequence[tuple[BaseModel, str]]], Awaitable[None]]
MAX_CONFLICT_ROUNDS = 20
MAX_BATCHES_PER_SCAN = 1000  # a bound, not a target: one scan handles up to this many batches
UNASSIGNED = "none"  # the agency label of routing-stage metrics (no assignee yet)


@dataclass
class _Batch:
    """One scanner batch: its outbox id, and the messages of the clocks it claimed."""

    batch_id: str
    claimed: int = 0
    messages: list[tuple[dict[str, Any], BaseModel]] = field(default_factory=list)
    recorded: bool = False  # an outbox entry exists (to delete once published)


class SlaWatcher:
    def __init__(self, *, store: ClockStore, publish_all: PublishAll, topics: Topics,
                 policy: SlaPolicy, agencies: AgencyRegistry, clock: Clock,
                 scan_batch: int = 1000) -> None:
        self.store = store
        self.publish_all = publish_all
        self.topics = topics
        self.policy = policy
        self.agencies = agencies
        self.clock = clock
        self.calendars = Calendars(policy.extra_closed_days)
        self.scan_batch = scan_batch

    def _timezone_of(self, agency_id: str | None) -> str | None:
        agency = self.agencies.get(agency_id)
        return agency.timezone if agency else None

    def _parent_of(self, agency_id: str) -> str | None:
        parent = self.agencies.parent(agency_id)
        return parent.id if parent else None

    # -- lifecycle events -----------------------------------------------------------------
    async def handle_events(self, records: Sequence[InboundRecord]) -> list[DeadLetter]:
        dead: list[DeadLetter] = []
        by_case: dict[str, list[ComplaintReceived | ComplaintStatusChanged]] = {}
        for record in records:
            try:
                event = decode_event(record.value)
            except (NotAJsonObject, ValidationError, ValueError) as exc:
                dead.append(DeadLetter(record, str(exc)[:500], "invalid_event"))
                continue
            if isinstance(event, ComplaintReceived | ComplaintStatusChanged):
                by_case.setdefault(event.tracking_id, []).append(event)
        pending = by_case
        for _ in range(MAX_CONFLICT_ROUNDS):
            if not pending:
                return dead
            lost = await self._apply(pending)
            metrics.CLOCK_CONFLICTS.inc(len(lost))
            pending = {tid: events for tid, events in pending.items() if tid in lost}
        raise RuntimeError(f"clock writes kept conflicting for {len(pending)} cases")

    async def _apply(self, by_case: dict[str, list[Any]]) -> set[str]:
        stored = await self.store.for_cases(list(by_case))
        writes: list[tuple[dict[str, Any], int]] = []
        for tracking_id, events in by_case.items():
            before = {doc["_id"]: doc for doc in stored[tracking_id]}
            clocks: tuple[SlaClock, ...] = tuple(SlaClock.from_record(d) for d in before.values())
            for event in events:
                if isinstance(event, ComplaintReceived):
                    clocks = apply_received(clocks, event, policy=self.policy,
                                            calendars=self.calendars,
                                            timezone_of=self._timezone_of)
                else:
                    clocks = apply_status_event(clocks, event, policy=self.policy,
                                                calendars=self.calendars,
                                                timezone_of=self._timezone_of)
            for clock in clocks:
                old = before.get(clock.clock_id)
                if old is not None and old.get("version") == clock.version:
                    continue  # unchanged
                writes.append((clock_document(clock, old),
                               old["version"] if old is not None else NEW))
        lost_clock_ids = await self.store.write(writes)
        return {clock_id.rsplit(":", 1)[0] for clock_id in lost_clock_ids}

    # -- the scanner ----------------------------------------------------------------------
    async def scan(self) -> int:
        """Emit everything due now; returns the number of messages published.

        First the batches an instance left unpublished when it died (their lease ran out),
        then the due clocks from the `next_due_at` index, oldest first, a batch at a time:
        the batch's messages go to the outbox in one write, its clocks are claimed with one
        bulk compare-and-set write (of several instances only the one whose write lands
        publishes a clock's marks), then the messages of the won claims are published
        concurrently and the outbox entry is deleted, while the next batch is fetched and
        claimed. A full batch means there may be more: the next batch is fetched at once.
        """
        now = self.clock.now()
        with metrics.SCAN_SECONDS.time():
            emitted = await self._recover(now)
            publishing: asyncio.Task[int] | None = None
            try:
                for _ in range(MAX_BATCHES_PER_SCAN):
                    due = await self.store.due(now, self.scan_batch)
                    if not due:
                        break
                    batch = await self._claim(due, now)
                    if publishing is not None:  # one batch publishes while the next is claimed
                        emitted += await publishing
                    publishing = asyncio.create_task(self._publish_batch(batch, now))
                    if len(due) < self.scan_batch or not batch.claimed:
                        break  # done, or every clock went to a faster instance: next round
            finally:
                if publishing is not None:
                    emitted += await publishing
        return emitted

    async def _claim(self, documents: list[dict[str, Any]], now: datetime) -> _Batch:
        """Record the due messages in the outbox, then claim their clocks in one bulk write."""
        batch = _Batch(str(uuid.uuid4()))
        writes: list[tuple[dict[str, Any], int]] = []
        outbox: dict[str, list[tuple[dict[str, Any], BaseModel]]] = {}
        for doc in documents:
            clock, emissions = due_actions(SlaClock.from_record(doc), now,
                                           parent_of=self._parent_of,
                                           coordinator=self.policy.national_coordinator)
            clock = replace(clock, version=int(doc["version"]) + 1)
            messages = [self._outbox_entry(e, now) for e in emissions]
            writes.append((clock_document(clock, doc, batch.batch_id if messages else None),
                           int(doc["version"])))
            if messages:
                outbox[clock.clock_id] = messages
        if outbox:
            await self.store.open_batch(batch.batch_id, now + OUTBOX_LEASE, [
                {"clock_id": clock_id, "messages": [entry for entry, _ in messages]}
                for clock_id, messages in outbox.items()])
        lost = await self.store.write(writes)  # only the instance whose write lands publishes
        batch.claimed = len(writes) - len(lost)
        batch.messages = [m for clock_id, ms in outbox.items() if clock_id not in lost for m in ms]
        batch.recorded = bool(outbox)
        return batch

    async def _publish_batch(self, batch: _Batch, now: datetime) -> int:
        published = await self._publish(batch.messages, now)
        if batch.recorded:
            await self.store.close_batch(batch.batch_id)
        return published

    async def _recover(self, now: datetime) -> int:
        """Publish the batches of an instance that died between claiming and publishing:
        the messages of the clocks its claim reached (their `claimed_by` names the batch)."""
        published = 0
        for stranded in await self.store.stranded_batches(now, self.scan_batch):
            if not await self.store.take_over(stranded, now + OUTBOX_LEASE):
                continue  # another instance is on it
            entries = {entry["clock_id"]: entry["messages"] for entry in stranded["clocks"]}
            claimed = {doc["_id"] for doc in await self.store.get(entries)
                       if stranded["_id"] in (doc.get("claimed_by") or [])}
            published += await self._publish(
                [(entry, _message(entry)) for clock_id, messages in entries.items()
                 if clock_id in claimed for entry in messages], now)
            await self.store.close_batch(stranded["_id"])
            log.info("sla outbox recovered", batch_id=stranded["_id"], clocks=len(claimed))
        return published

    async def _publish(self, messages: list[tuple[dict[str, Any], BaseModel]], now: datetime
                       ) -> int:
        if messages:
            await self.publish_all([(message, self.topics.name(entry["topic"]))
                                    for entry, message in messages])
            for entry, _ in messages:
                self._count(entry, now)
        return len(messages)

    def _outbox_entry(self, emission: Emission, now: datetime
                      ) -> tuple[dict[str, Any], BaseModel]:
        """The outbox record of an emission, and the message itself (to publish)."""
        message = emission.to_message(now)
        topic = ACTIONS if isinstance(message, Action) else SLA
        return ({"id": emission.emission_id, "topic": topic,
                 "message": message.model_dump(mode="json"),
                 "scheduled_at": emission.scheduled_at, "kind": emission.kind.value}, message)

    def _count(self, entry: dict[str, Any], now: datetime) -> None:
        scheduled = entry.get("scheduled_at")
        if scheduled is not None:
            metrics.LATENESS.observe(max((now - _utc(scheduled)).total_seconds(), 0.0))
        kind = entry.get("kind")
        data = entry["message"]
        agency = data.get("agency_id") or UNASSIGNED
        if kind == MarkKind.WARNING.value:
            metrics.WARNINGS.labels(agency, data["stage"], str(data["threshold"])).inc()
        elif kind == MarkKind.BREACH.value:
            metrics.BREACHES.labels(agency, data["stage"], str(data["level"])).inc()
        else:
            metrics.AUTO_CLOSES.inc()

    async def sample_gauges(self) -> None:
        counts = await self.store.count_open_by_stage()
        for stage in ("routing", "response", "resolution", "auto_close"):
            metrics.OPEN_CLOCKS.labels(stage).set(counts.get(stage, 0))


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _message(entry: dict[str, Any]) -> BaseModel:
    data = entry["message"]
    if entry["topic"] == ACTIONS:
        return Action.model_validate(data)
    return EVENT_TYPES[data["event_type"]].model_validate(data)
