"""The sla service's application layer: lifecycle events move clocks; the scanner emits
what fell due. Rules live in `services.sla.domain`; this module loads, stores, publishes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any

import structlog
from pydantic import BaseModel, ValidationError

from services.sla import metrics
from services.sla.adapters.clocks import NEW, ClockStore
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
from shared.topics import Topics

log = structlog.get_logger("sla")

PublishAll = Callable[[Sequence[tuple[BaseModel, str]]], Awaitable[None]]
MAX_CONFLICT_ROUNDS = 20
OUTBOX_LEASE = timedelta(seconds=30)


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
                document = clock.to_record()
                if old is not None:  # keep emissions a crashed scan left to publish
                    document["outbox"] = old.get("outbox", [])
                    if old.get("outbox_lease_until") is not None:
                        document["outbox_lease_until"] = old["outbox_lease_until"]
                writes.append((document, old["version"] if old is not None else NEW))
        lost_clock_ids = await self.store.write(writes)
        return {clock_id.rsplit(":", 1)[0] for clock_id in lost_clock_ids}

    # -- the scanner ----------------------------------------------------------------------
    async def scan(self) -> int:
        """Emit everything due now; returns the number of emissions published."""
        now = self.clock.now()
        emitted = 0
        with metrics.SCAN_SECONDS.time():
            stranded = await self.store.stranded_outboxes(now, self.scan_batch)
            if stranded:
                emitted += await self._claim_and_publish(stranded, now, recover=True)
            while True:
                due = await self.store.due(now, self.scan_batch)
                if not due:
                    break
                emitted += await self._claim_and_publish(due, now)
                if len(due) < self.scan_batch:
                    break
        return emitted

    async def _claim_and_publish(self, documents: list[dict[str, Any]], now: Any,
                                 recover: bool = False) -> int:
        writes: list[tuple[dict[str, Any], int]] = []
        outboxes: dict[str, list[dict[str, Any]]] = {}
        for doc in documents:
            outbox = list(doc.get("outbox") or [])
            clock = SlaClock.from_record(doc)
            if not recover:
                clock, emissions = due_actions(clock, now, parent_of=self._parent_of,
                                               coordinator=self.policy.national_coordinator)
                outbox += [self._outbox_entry(e, now) for e in emissions]
                clock = _bump(clock)
            elif not outbox:
                continue
            updated = clock.to_record()
            if recover:
                updated["version"] = int(doc["version"]) + 1
            updated["outbox"] = outbox
            updated["outbox_lease_until"] = now + OUTBOX_LEASE
            writes.append((updated, int(doc["version"])))
            outboxes[updated["_id"]] = outbox
        lost = await self.store.write(writes)  # only the instance whose write lands publishes
        won = [clock_id for clock_id in outboxes if clock_id not in lost]
        items: list[tuple[BaseModel, str]] = []
        for clock_id in won:
            for entry in outboxes[clock_id]:
                message = _message(entry)
                items.append((message, self.topics.name(entry["topic"])))
                self._count(entry, message, now)
        if items:
            await self.publish_all(items)
        await self.store.clear_outbox(won)
        return len(items)

    def _outbox_entry(self, emission: Emission, now: Any) -> dict[str, Any]:
        message = emission.to_message(now)
        topic = "complaints.actions" if isinstance(message, Action) else "complaints.sla"
        return {"topic": topic, "message": message.model_dump(mode="json"),
                "scheduled_at": emission.scheduled_at, "kind": emission.kind.value}

    def _count(self, entry: dict[str, Any], message: BaseModel, now: Any) -> None:
        scheduled = entry.get("scheduled_at")
        if scheduled is not None:
            if scheduled.tzinfo is None:
                from datetime import UTC
                scheduled = scheduled.replace(tzinfo=UTC)
            metrics.LATENESS.observe(max((now - scheduled).total_seconds(), 0.0))
        kind = entry.get("kind")
        data = entry["message"]
        if kind == MarkKind.WARNING.value:
            metrics.WARNINGS.labels(str(data.get("agency_id")), data["stage"],
                                    str(data["threshold"])).inc()
        elif kind == MarkKind.BREACH.value:
            metrics.BREACHES.labels(str(data.get("agency_id")), data["stage"],
                                    str(data["level"])).inc()
        else:
            metrics.AUTO_CLOSES.inc()

    async def sample_gauges(self) -> None:
        counts = await self.store.count_open_by_stage()
        for stage in ("routing", "response", "resolution", "auto_close"):
            metrics.OPEN_CLOCKS.labels(stage).set(counts.get(stage, 0))


def _bump(clock: SlaClock) -> SlaClock:
    from dataclasses import replace

    return replace(clock, version=clock.version + 1)


def _message(entry: dict[str, Any]) -> BaseModel:
    data = entry["message"]
    if entry["topic"] == "complaints.actions":
        return Action.model_validate(data)
    return EVENT_TYPES[data["event_type"]].model_validate(data)
