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
from services.router.adapters.cases import CaseStore
from services.router.domain.case import Case
from services.router.domain.lifecycle import (
    Accepted,
    Duplicate,
    Outcome,
    Rejected,
    apply_action,
    route_new_case,
)
from services.router.domain.reasons import RejectionReason
from services.router.domain.routing import RoutingDecision, TriageDecision, route
from services.router.domain.rules import RoutingRule
from shared.agencies import AgencyRegistry
from shared.citizen_secret import hash_citizen_secret, verify_citizen_secret
from shared.clock import Clock
from shared.codec import NotAJsonObject, parse_object
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
)
from shared.contract.events import EVENT_TYPES
from shared.logging import bind_event
from shared.topics import Topics

log = structlog.get_logger("router")

PublishAll = Callable[[Sequence[tuple[BaseModel, str]]], Awaitable[None]]


def derived_id(record: InboundRecord, purpose: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL,
                          f"lapor:{record.topic}/{record.partition}/{record.offset}/{purpose}"))


class Router:
    def __init__(self, *, store: CaseStore, publish_all: PublishAll, topics: Topics,
                 rules: Sequence[RoutingRule], agencies: AgencyRegistry, clock: Clock,
                 max_reassignments: int = 5) -> None:
        self.store = store
        self.publish_all = publish_all
        self.topics = topics
        self.rules = rules
        self.agencies = agencies
        self.clock = clock
        self.max_reassignments = max_reassignments

    # -- outbox -------------------------------------------------------------------------
    def _outbox_entry(self, event: Envelope, topic: str) -> dict[str, Any]:
        return {"topic": topic, "event": event.model_dump(mode="json")}

    async def _flush(self, documents: Sequence[dict[str, Any]]) -> None:
        items: list[tuple[BaseModel, str]] = []
        for document in documents:
            for entry in document.get("outbox") or []:
                event = EVENT_TYPES[entry["event"]["event_type"]].model_validate(entry["event"])
                items.append((event, self.topics.name(entry["topic"])))
        if items:
            await self.publish_all(items)
            await self.store.clear_outbox([d["_id"] for d in documents if d.get("outbox")])

    def _outcome_event(self, case: Case, outcome: Outcome, document: dict[str, Any]
                       ) -> tuple[Envelope, str]:
        summary = ComplaintSummary.model_validate(document["summary"])
        if isinstance(outcome, RoutingDecision):
            agency = self.agencies.require(outcome.agency_id)
            reporter = document.get("reporter")
            metrics.ROUTED.labels(agency.id, outcome.reason).inc()
            return ComplaintRouted(
                tracking_id=case.tracking_id, occurred_at=self.clock.now(),
                agency_id=agency.id, agency_name=agency.name, rule_id=outcome.rule_id,
                reason=outcome.reason, complaint=summary,
                reporter=Reporter.model_validate(reporter) if reporter else None,
            ), "complaints.routed"
        metrics.TRIAGED.labels(outcome.reason).inc()
        return ComplaintNeedsTriage(tracking_id=case.tracking_id, occurred_at=self.clock.now(),
                                    reason=outcome.reason, complaint=summary), "complaints.triage"

    def _events_of(self, accepted: Accepted, document: dict[str, Any]) -> list[dict[str, Any]]:
        entries = []
        if accepted.outcome is not None:
            event, topic = self._outcome_event(accepted.case, accepted.outcome, document)
            entries.append(self._outbox_entry(event, topic))
        for change in accepted.status_changes:
            entries.append(self._outbox_entry(change.to_event(accepted.case.tracking_id),
                                              "complaints.status"))
        return entries

    # -- complaints.received ------------------------------------------------------------
    async def handle_received(self, records: Sequence[InboundRecord]) -> list[DeadLetter]:
        dead: list[DeadLetter] = []
        received: dict[str, ComplaintReceived] = {}
        for record in records:
            try:
                event = ComplaintReceived.model_validate(parse_object(record.value))
            except (NotAJsonObject, ValidationError) as exc:
                dead.append(DeadLetter(record, _describe(exc), "invalid_event"))
                continue
            received.setdefault(event.tracking_id, event)
        if not received:
            return dead
        existing = await self.store.get_many(list(received))
        documents = [self._new_case(event) for tid, event in received.items()
                     if tid not in existing]
        clashed = await self.store.insert_new(documents)
        if clashed:  # another instance stored them meanwhile: publish what it left pending
            existing.update(await self.store.get_many(list(clashed)))
        await self._flush([d for d in documents if d["_id"] not in clashed]
                          + [d for d in existing.values() if d.get("outbox")])
        return dead

    def _new_case(self, event: ComplaintReceived) -> dict[str, Any]:
        bind_event(event.event_id, event.tracking_id)
        accepted = route_new_case(
            event, self.rules, now=self.clock.now(),
            citizen_secret_hash=hash_citizen_secret(event.tracking_id, event.citizen_secret))
        document = {
            "_id": event.tracking_id,
            "version": 1,
            "summary": event.summary().model_dump(mode="json"),
            # Agencies never learn who an anonymous reporter is.
            "reporter": None if event.reporter.anonymous
            else event.reporter.model_dump(mode="json", exclude={"nik"}),
            "confidential": event.reporter.confidential,
            "received_event_id": event.event_id,
        }
        document["case"] = accepted.case.model_dump(mode="json")
        document["outbox"] = self._events_of(accepted, document)
        document["outbox_pending"] = True
        return document

    # -- complaints.actions -------------------------------------------------------------
    async def handle_actions(self, records: Sequence[InboundRecord]) -> list[DeadLetter]:
        dead: list[DeadLetter] = []
        for record in records:
            try:
                data = parse_object(record.value)
            except NotAJsonObject as exc:
                dead.append(DeadLetter(record, str(exc), "not_json_object"))
                continue
            try:
                action = Action.model_validate(data)
            except ValidationError as exc:
                await self._reject(record, data.get("action_id"), data.get("tracking_id"),
                                   "invalid_action", _describe(exc))
                continue
            bind_event(action.action_id, action.tracking_id)
            await self._apply(record, action)
        return dead

    async def _apply(self, record: InboundRecord, action: Action) -> None:
        while True:
            document = await self.store.get(action.tracking_id)
            if document is None:
                await self._reject(record, action.action_id, action.tracking_id,
                                   RejectionReason.UNKNOWN_COMPLAINT, "no such complaint")
                return
            if document.get("outbox"):
                await self._flush([document])  # a crash left events unpublished
                document["outbox"] = []
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
                return
            if isinstance(result, Rejected):
                await self._reject(record, action.action_id, action.tracking_id,
                                   result.reason, result.detail)
                return
            version = int(document.get("version", 1))
            updated = {**document, "version": version + 1,
                       "case": result.case.model_dump(mode="json")}
            updated["outbox"] = self._events_of(result, updated)
            updated["outbox_pending"] = True
            if await self.store.replace(updated, version):
                metrics.ACTIONS_APPLIED.labels(action.action.value).inc()
                if action.action in (ActionName.TRANSFER, ActionName.DECLINE):
                    metrics.TRANSFERS.labels(action.action.value).inc()
                await self._flush([updated])
                return
            log.info("case changed meanwhile, applying again")

    async def _reject(self, record: InboundRecord, action_id: object, tracking_id: object,
                      reason: str, detail: str) -> None:
        metrics.ACTIONS_REJECTED.labels(str(reason)).inc()
        log.info("action rejected", reason=str(reason), detail=detail[:300])
        event = ActionRejected(
            event_id=derived_id(record, "action.rejected"), occurred_at=self.clock.now(),
            action_id=action_id if isinstance(action_id, str) else None,
            tracking_id=tracking_id if isinstance(tracking_id, str) else None,
            reason=str(reason), detail=detail[:500])
        await self.publish_all([(event, self.topics.actions_rejected)])


def _describe(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        # Field locations and messages only: pydantic's default text echoes the input.
        return "; ".join(f"{'.'.join(map(str, e['loc'])) or '(root)'}: {e['msg']}"
                         for e in exc.errors(include_input=False, include_url=False))[:1000]
    return str(exc)


__all__ = ["Router", "TriageDecision"]
