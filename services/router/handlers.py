"""The router's application layer: complaints in -> cases routed; actions in -> lifecycle
transitions out. Decisions come from the pure domain (routing, lifecycle); this module
loads, stores and publishes."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import structlog
from pydantic import BaseModel, ValidationError

from services.router import metrics
from services.router.adapters.cases import CaseStore, tally_from
from services.router.domain.case import Case
from services.router.domain.lifecycle import (
    DEFAULT_MAX_REASSIGNMENTS,
    Accepted,
    Duplicate,
    Outcome,
    Rejected,
    apply_action,
    route_new_case,
)
from services.router.domain.reasons import RejectionReason
from services.router.domain.routing import RoutingDecision, RuleBook, TriageDecision, route
from services.router.domain.rules import RoutingRule
from shared.agencies import AgencyRegistry
from shared.citizen_secret import hash_citizen_secret, verify_citizen_secret
from shared.clock import Clock
from shared.codec import NotAJsonObject, decode, parse_object
from shared.consumer import DeadLetter, InboundRecord
from shared.contract import (
    Action,
    ActionName,
    ActionRejected,
    ComplaintNeedsTriage,
    ComplaintReceived,
    ComplaintRouted,
    ComplaintSummary,
    Envelope,
    Reporter,
    Status,
)
from shared.contract.events import EVENT_TYPES
from shared.logging import bind_event, unbind_event
from shared.name_ids import name_based_id
from shared.topics import ROUTED, STATUS, TRIAGE, Topics

log = structlog.get_logger("router")

PublishAll = Callable[[Sequence[tuple[BaseModel, str]]], Awaitable[None]]



def rejection_event_id(tracking_id: str, action_id: str) -> str:
    """One answer per action: a replayed action id gets the very same `action.rejected`."""
    return name_based_id(uuid.NAMESPACE_URL,
                         f"lapor:action.rejected/{tracking_id}/{action_id}")


class _OutboxEntry(dict[str, Any]):
    """An outbox entry as stored (`topic`, and `event` as JSON values) that still holds the
    event it was made from, so a case version published by the process that built it
    is not validated back from its stored form (6 µs per routed complaint, about 2 % of
    the router's CPU); one read from the database is a plain dict."""

    def __init__(self, event: Envelope, topic: str) -> None:
        super().__init__(topic=topic, event=event.model_dump(mode="json"))
        self.event = event


class Router:
    def __init__(self, *, store: CaseStore, publish_all: PublishAll, topics: Topics,
                 rules: Sequence[RoutingRule], agencies: AgencyRegistry, clock: Clock,
                 max_reassignments: int = DEFAULT_MAX_REASSIGNMENTS,
                 on_change: Callable[[], None] = lambda: None) -> None:
        self.store = store
        self.on_change = on_change  # cases changed (the gauges' sampler looks sooner)
        self.publish_all = publish_all
        self.topics = topics
        self.rules = RuleBook(rules)  # indexed by region once, not scanned per complaint
        self.agencies = agencies
        self.clock = clock
        self.max_reassignments = max_reassignments

    # -- outbox -------------------------------------------------------------------------
    def _outbox_entry(self, event: Envelope, topic: str) -> dict[str, Any]:
        return _OutboxEntry(event, topic)

    async def _flush(self, documents: Sequence[dict[str, Any]]) -> None:
        """Publish the outbox of these case versions, then mark them published (which
        also counts their change in the tally of open cases)."""
        items: list[tuple[BaseModel, str]] = []
        for document in documents:
            for entry in document.get("outbox") or ():
                event = entry.event if isinstance(entry, _OutboxEntry) else \
                    EVENT_TYPES[entry["event"]["event_type"]].model_validate(entry["event"])
                items.append((event, self.topics.name(entry["topic"])))
        if items:
            await self.publish_all(items)
        await self.store.mark_published(documents)

    def _outcome_event(self, case: Case, outcome: Outcome, document: dict[str, Any]
                       ) -> tuple[Envelope, str]:
        summary = ComplaintSummary.model_validate(document["summary"])
        if isinstance(outcome, RoutingDecision):
            agency = self.agencies.require(outcome.agency_id)
            reporter = document.get("reporter")
            return ComplaintRouted(
                tracking_id=case.tracking_id, occurred_at=self.clock.now(),
                agency_id=agency.id, agency_name=agency.name, rule_id=outcome.rule_id,
                reason=outcome.reason, complaint=summary,
                reporter=Reporter.model_validate(reporter) if reporter else None,
            ), ROUTED
        return ComplaintNeedsTriage(tracking_id=case.tracking_id, occurred_at=self.clock.now(),
                                    reason=outcome.reason, complaint=summary), TRIAGE

    def _events_of(self, accepted: Accepted, document: dict[str, Any]) -> list[dict[str, Any]]:
        entries = []
        if accepted.outcome is not None:
            event, topic = self._outcome_event(accepted.case, accepted.outcome, document)
            entries.append(self._outbox_entry(event, topic))
        for change in accepted.status_changes:
            entries.append(self._outbox_entry(change.to_event(accepted.case.tracking_id),
                                              STATUS))
        return entries

    @staticmethod
    def _count(outcome: Outcome | None) -> None:
        """Metrics of a stored routing decision (counted once, after the write won)."""
        if isinstance(outcome, RoutingDecision):
            metrics.ROUTED.labels(outcome.agency_id, outcome.reason).inc()
        elif isinstance(outcome, TriageDecision):
            metrics.TRIAGED.labels(str(outcome.reason)).inc()

    async def handle(self, records: Sequence[InboundRecord]) -> list[DeadLetter]:
        """A batch from both topics: new complaints first, so an action about a complaint
        received in the same batch finds its case."""
        received = [r for r in records if r.topic == self.topics.received]
        actions = [r for r in records if r.topic != self.topics.received]
        dead = await self.handle_received(received) if received else []
        if actions:
            dead += await self.handle_actions(actions)
        return dead

    # -- complaints.received ------------------------------------------------------------
    async def handle_received(self, records: Sequence[InboundRecord]) -> list[DeadLetter]:
        dead: list[DeadLetter] = []
        received: dict[str, tuple[InboundRecord, ComplaintReceived]] = {}
        for record in records:
            try:
                event = decode(record.value, ComplaintReceived)
            except (NotAJsonObject, ValidationError) as exc:
                dead.append(DeadLetter(record, _describe(exc), "invalid_event"))
                continue
            received.setdefault(event.tracking_id, (record, event))
        if not received:
            return dead
        # Insert first: a case that exists already (redelivered or republished event, or
        # another instance) comes back as a duplicate key and is read only then.
        documents: list[dict[str, Any]] = []
        outcomes: dict[str, Outcome | None] = {}
        for tracking_id, (record, event) in received.items():
            try:
                secret_hash = hash_citizen_secret(event.tracking_id, event.citizen_secret)
            except ValueError:
                dead.append(DeadLetter(record, "malformed tracking_id or citizen_secret",
                                       "invalid_event"))
                continue
            document, accepted = self._new_case(event, secret_hash)
            documents.append(document)
            outcomes[tracking_id] = accepted.outcome
        unbind_event()
        clashed = await self.store.insert_new(documents)
        # Cases stored before (routed once): publish what a crash may have left unpublished.
        stored = await self.store.get_many(list(clashed)) if clashed else {}
        left = await self.store.unpublished(list(stored.values()))
        inserted = [d for d in documents if d["_id"] not in clashed]
        now = self.clock.now()
        for document in inserted:
            self._count(outcomes[document["_id"]])
            submitted_at = received[document["_id"]][1].submitted_at
            metrics.ROUTING_LATENCY.observe(max((now - submitted_at).total_seconds(), 0.0))
        await self._flush(inserted + left)
        if inserted:
            self.on_change()  # after the flush, which counts the change in the tally
        return dead

    def _new_case(self, event: ComplaintReceived, secret_hash: str
                  ) -> tuple[dict[str, Any], Accepted]:
        bind_event(event.event_id, event.tracking_id)
        accepted = route_new_case(event, self.rules, now=self.clock.now(),
                                  citizen_secret_hash=secret_hash)
        document = {
            "_id": event.tracking_id,
            "version": 1,
            "summary": event.summary().model_dump(mode="json"),
            # Agencies never learn who an anonymous reporter is.
            "reporter": None if event.reporter.anonymous
            else event.reporter.model_dump(mode="json", exclude={"nik"}),
            "confidential": event.reporter.confidential,
            "received_event_id": event.event_id,
            "tally_from": [],  # a new case: the tally counts it once it is marked
        }
        document["case"] = accepted.case.model_dump(mode="json")
        document["outbox"] = self._events_of(accepted, document)
        return document, accepted

    # -- complaints.actions -------------------------------------------------------------
    async def handle_actions(self, records: Sequence[InboundRecord]) -> list[DeadLetter]:
        dead: list[DeadLetter] = []
        items: list[tuple[InboundRecord, Action | None, dict[str, Any], str]] = []
        for record in records:
            try:
                data = parse_object(record.value)
            except NotAJsonObject as exc:
                dead.append(DeadLetter(record, str(exc), "not_json_object"))
                continue
            try:
                items.append((record, Action.model_validate(data), data, ""))
            except ValidationError as exc:
                items.append((record, None, data, _describe(exc)))
        # Action ids answered with a rejection before keep that answer (one query per batch).
        answered = await self.store.rejections_for(list(dict.fromkeys(
            (action.tracking_id, action.action_id) for _, action, _, _ in items if action)))
        for record, action, data, problem in items:
            try:
                if action is None:
                    await self._reject_invalid(record, data, problem)
                    continue
                bind_event(action.action_id, action.tracking_id)
                key = (action.tracking_id, action.action_id)
                if key in answered:
                    metrics.ACTIONS_REPLAYED.labels("rejected").inc()
                    log.info("action id answered before, repeating its rejection",
                             reason=answered[key].get("reason"))
                    await self._publish_rejection(answered[key])
                    continue
                rejection = await self._apply(action)
                if rejection is not None:
                    answered[key] = rejection
            finally:
                unbind_event()
        return dead

    async def _apply(self, action: Action) -> dict[str, Any] | None:
        """Apply one action; returns the stored rejection when it was rejected."""
        while True:
            document = await self.store.get(action.tracking_id)
            if document is None:
                return await self._reject(action, RejectionReason.UNKNOWN_COMPLAINT,
                                          "no such complaint")
            if await self.store.unpublished([document]):
                await self._flush([document])  # a crash left events unpublished
            case = Case.model_validate(document["case"])
            summary = ComplaintSummary.model_validate(document["summary"])
            result = apply_action(
                case, action,
                route_next=lambda exclude, s=summary: route(self.rules, s,  # type: ignore[misc]
                                                            exclude_agencies=exclude),
                agency_exists=lambda agency_id: agency_id in self.agencies,
                verify_secret=verify_citizen_secret, now=self.clock.now(),
                max_reassignments=self.max_reassignments)
            if isinstance(result, Duplicate):
                metrics.ACTIONS_REPLAYED.labels("applied").inc()
                log.info("action id applied before, nothing to do")
                return None
            if isinstance(result, Rejected):
                return await self._reject(action, result.reason, result.detail)
            version = int(document.get("version", 1))
            updated = {**document, "version": version + 1,
                       "case": result.case.model_dump(mode="json"),
                       "tally_from": tally_from(document["case"])}
            updated["outbox"] = self._events_of(result, updated)
            if await self.store.replace(updated, version):
                metrics.ACTIONS_APPLIED.labels(action.action.value).inc()
                if action.action in (ActionName.TRANSFER, ActionName.DECLINE):
                    metrics.TRANSFERS.labels(action.action.value).inc()
                if result.case.status is Status.RESOLVED and case.status is not Status.RESOLVED:
                    metrics.RESOLVED.labels(str(case.assignee)).inc()
                self._count(result.outcome)
                log.info("action applied", action=action.action.value,
                         status=result.case.status.value)
                await self._flush([updated])
                self.on_change()  # after the flush, which counts the change in the tally
                return None
            log.info("case changed meanwhile, applying again")

    async def _reject(self, action: Action, reason: str, detail: str) -> dict[str, Any]:
        """Answer on complaints.actions.rejected and remember the answer for this action id."""
        metrics.ACTIONS_REJECTED.labels(str(reason)).inc()
        log.info("action rejected", action=action.action.value, reason=str(reason),
                 detail=detail[:300])
        event = ActionRejected(
            event_id=rejection_event_id(action.tracking_id, action.action_id),
            occurred_at=self.clock.now(), action_id=action.action_id,
            tracking_id=action.tracking_id, reason=str(reason), detail=detail[:500])
        stored = await self.store.remember_rejection(action.tracking_id, action.action_id,
                                                     event.model_dump(mode="json"))
        await self._publish_rejection(stored)
        return stored

    async def _reject_invalid(self, record: InboundRecord, data: dict[str, Any],
                              problem: str) -> None:
        """An action that does not parse: answered (ids as far as readable), not remembered,
        with an event id derived from the record so a redelivery repeats it exactly."""
        reason = RejectionReason.INVALID_ACTION
        metrics.ACTIONS_REJECTED.labels(str(reason)).inc()
        log.info("action rejected", reason=str(reason), detail=problem[:300])
        action_id, tracking_id = data.get("action_id"), data.get("tracking_id")
        event = ActionRejected(
            event_id=record.derived_event_id("action.rejected"), occurred_at=self.clock.now(),
            action_id=action_id[:100] if isinstance(action_id, str) else None,
            tracking_id=tracking_id[:40] if isinstance(tracking_id, str) else None,
            reason=str(reason), detail=problem[:500])
        await self.publish_all([(event, self.topics.actions_rejected)])

    async def _publish_rejection(self, stored: dict[str, Any]) -> None:
        await self.publish_all([(ActionRejected.model_validate(stored),
                                 self.topics.actions_rejected)])


def _describe(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        # Field locations and messages only: pydantic's default text echoes the input.
        return "; ".join(f"{'.'.join(map(str, e['loc'])) or '(root)'}: {e['msg']}"
                         for e in exc.errors(include_input=False, include_url=False))[:1000]
    return str(exc)


__all__ = ["Router", "TriageDecision"]
