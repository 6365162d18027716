"""What a running clock must emit by now: warnings, breach levels, the auto_close command.

`due_actions` is the scanner's step. After downtime it emits every mark that has
fallen due, oldest first (warning 0.5, 0.75, breach 1, 2, 3), each once: the
returned clock records them, so calling it again emits nothing. Each emission
has a deterministic id (same clock generation and mark → same id) that the
service uses as the event_id / action_id, so a retry after a crash between
publishing and storing is recognisable downstream.

Escalation targets: level 1 the assignee, level 2 the assignee's parent agency,
level 3 the national coordinator. With no assignee (routing, triage) or no
parent, the national coordinator stands in.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from shared.contract import Action, ActionName, Actor, ActorType, SlaBreached, SlaWarning
from shared.name_ids import name_based_id

from .clocks import ClockState, Mark, MarkKind, SlaClock
from .evolve import evolve
from .policy import Stage

ParentOf = Callable[[str], str | None]

EMISSION_NAMESPACE = uuid.UUID("6f1c3e0a-5d0b-4c55-9a43-2b4f5c1f0a11")
SLA_ACTOR_ID = "sla"


@dataclass(frozen=True)
class Emission:
    emission_id: str
    kind: MarkKind
    tracking_id: str
    stage: Stage
    due_at: datetime
    scheduled_at: datetime  # when the mark fell due (it may be emitted later, after downtime)
    agency_id: str | None
    threshold: float | None = None
    level: int | None = None
    escalated_to_agency_id: str | None = None
    overdue_seconds: float = 0.0

    def to_message(self, now: datetime) -> SlaWarning | SlaBreached | Action:
        """The contract message to publish: `complaints.sla` event or `complaints.actions`."""
        if self.kind is MarkKind.WARNING:
            assert self.threshold is not None
            return SlaWarning(event_id=self.emission_id, occurred_at=now,
                              tracking_id=self.tracking_id, stage=self.stage.value,
                              threshold=self.threshold, due_at=self.due_at,
                              agency_id=self.agency_id)
        if self.kind is MarkKind.BREACH:
            assert self.level is not None
            return SlaBreached(event_id=self.emission_id, occurred_at=now,
                               tracking_id=self.tracking_id, stage=self.stage.value,
                               level=self.level, due_at=self.due_at,
                               overdue_seconds=self.overdue_seconds, agency_id=self.agency_id,
                               escalated_to_agency_id=self.escalated_to_agency_id)
        return Action(action_id=self.emission_id, tracking_id=self.tracking_id, occurred_at=now,
                      actor=Actor(type=ActorType.SYSTEM, id=SLA_ACTOR_ID),
                      action=ActionName.AUTO_CLOSE)


def emission_id(clock: SlaClock, mark: Mark) -> str:
    detail = mark.threshold if mark.kind is MarkKind.WARNING else mark.level
    name = f"{clock.tracking_id}/{clock.stage.value}/{clock.generation}/{mark.kind.value}/{detail}"
    return name_based_id(EMISSION_NAMESPACE, name)


def escalation_target(level: int, agency_id: str | None, parent_of: ParentOf,
                      coordinator: str) -> str:
    if level == 1 and agency_id:
        return agency_id
    if level == 2 and agency_id:
        return parent_of(agency_id) or coordinator
    return coordinator


def due_actions(clock: SlaClock, now: datetime, *, parent_of: ParentOf, coordinator: str
                ) -> tuple[SlaClock, list[Emission]]:
    """Everything due by `now`, in order, and the clock that records it as sent."""
    if clock.state is not ClockState.RUNNING:
        return clock, []
    now = now.astimezone(UTC)
    emissions: list[Emission] = []
    warnings_sent, breach_level, auto_close_sent = (
        set(clock.warnings_sent), clock.breach_level, clock.auto_close_sent)

    def already_sent(mark: Mark) -> bool:  # a second guard besides the pending list
        if mark.kind is MarkKind.WARNING:
            return mark.threshold in warnings_sent
        if mark.kind is MarkKind.BREACH:
            return (mark.level or 0) <= breach_level
        return auto_close_sent

    remaining = list(clock.pending)
    while remaining and remaining[0].at <= now:
        mark = remaining.pop(0)
        if already_sent(mark):
            continue
        emission = Emission(
            emission_id=emission_id(clock, mark), kind=mark.kind, tracking_id=clock.tracking_id,
            stage=clock.stage, due_at=clock.due_at, scheduled_at=mark.at,
            agency_id=clock.agency_id, threshold=mark.threshold, level=mark.level)
        if mark.kind is MarkKind.WARNING:
            assert mark.threshold is not None
            warnings_sent.add(mark.threshold)
        elif mark.kind is MarkKind.BREACH:
            assert mark.level is not None
            breach_level = mark.level
            emission = evolve(
                emission,
                escalated_to_agency_id=escalation_target(mark.level, clock.agency_id, parent_of,
                                                         coordinator),
                overdue_seconds=max((now - clock.due_at).total_seconds(), 0.0))
        else:
            auto_close_sent = True
        emissions.append(emission)
    if len(remaining) == len(clock.pending):
        return clock, []
    updated = evolve(clock, pending=tuple(remaining), warnings_sent=frozenset(warnings_sent),
                      breach_level=breach_level, auto_close_sent=auto_close_sent,
                      version=clock.version + 1)
    return updated, emissions


def record_sent(clock: SlaClock, emission_ids: frozenset[str] | set[str]) -> SlaClock:
    """The clock with the marks of `emission_ids` recorded as sent and off its schedule.

    The scanner's second step, after publishing: it applies to whatever version of the clock
    is stored by then (the event consumer may have paused, stopped or restarted it
    meanwhile). Marks of another generation have other ids and stay; so does everything
    not published. Returns `clock` itself when none of the ids is pending."""
    sent = [mark for mark in clock.pending if emission_id(clock, mark) in emission_ids]
    if not sent:
        return clock
    warnings_sent = set(clock.warnings_sent)
    breach_level, auto_close_sent = clock.breach_level, clock.auto_close_sent
    for mark in sent:
        if mark.kind is MarkKind.WARNING:
            assert mark.threshold is not None
            warnings_sent.add(mark.threshold)
        elif mark.kind is MarkKind.BREACH:
            breach_level = max(breach_level, mark.level or 0)
        else:
            auto_close_sent = True
    return evolve(clock, pending=tuple(m for m in clock.pending if m not in sent),
                   warnings_sent=frozenset(warnings_sent), breach_level=breach_level,
                   auto_close_sent=auto_close_sent, version=clock.version + 1)
