"""SlaClock: the immutable state of one stage of one case, and the pure steps that move it.

A clock carries its *schedule*: the marks still to emit (warnings, breach
levels, or the auto_close command), each with the moment it falls due. The
schedule is computed when the clock starts, so emitting needs no calendar:

- warning f at  ``started_at + f * (due_at - started_at)``: a fraction of the
  stage window in calendar time;
- breach level 1 at ``due_at``; level k+1 one ``escalation_interval`` after
  level k (in working time for working-day intervals);
- auto_close: the single mark ``auto_close`` at ``due_at``.

Pause semantics ("remaining working time is preserved"): while paused, nothing
is due. On resume at r after a pause from p, every pending mark m > p moves to
the moment that leaves the same remaining time as at the pause: ``m + (r - p)``
for a calendar-time stage, and ``add_working_time(r, working_time_between(p,
m))`` for a working-day stage, so the weekends and holidays inside a pause do
not lengthen it. Marks already due when the pause began stay where they are.
``due_at`` moves with the breach-1 (or auto_close) mark while that is pending.
A resolution clock stopped by `resolved` resumes the same way on reopen.

Replays: each clock remembers the time of the last status event applied and
the ids of the latest ones; `has_seen` tells the caller to ignore an event.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from shared.clock import as_utc

from .calendar import WorkingCalendar
from .durations import Duration
from .evolve import evolve
from .policy import SlaPolicy, Stage

APPLIED_IDS_KEPT = 16  # enough for events that share one timestamp; older ones fail the time check


class ClockState(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"


class Basis(StrEnum):
    """What time a clock's pauses are measured in: that of its stage duration."""

    WORKING_DAYS = "working_days"
    CALENDAR = "calendar"


class MarkKind(StrEnum):
    WARNING = "warning"
    BREACH = "breach"
    AUTO_CLOSE = "auto_close"


_KIND_RANK = {MarkKind.WARNING: 0, MarkKind.BREACH: 1, MarkKind.AUTO_CLOSE: 2}


@dataclass(frozen=True)
class Mark:
    """Something a clock must emit once, at `at`: a warning threshold or a breach level."""

    kind: MarkKind
    at: datetime
    threshold: float | None = None
    level: int | None = None

    def sort_key(self) -> tuple[datetime, int, float]:
        return (self.at, _KIND_RANK[self.kind], self.threshold or float(self.level or 0))


@dataclass(frozen=True)
class SlaClock:
    tracking_id: str
    stage: Stage
    agency_id: str | None
    timezone: str
    started_at: datetime
    due_at: datetime
    basis: Basis
    pending: tuple[Mark, ...]
    state: ClockState = ClockState.RUNNING
    generation: int = 1  # bumped when the stage restarts from zero (transfer, second resolve)
    kind: str | None = None  # None until complaint.received was seen
    category: str | None = None
    paused_at: datetime | None = None
    paused_seconds: float = 0.0  # calendar time spent paused, for reports
    stopped_at: datetime | None = None
    stop_reason: str | None = None  # the status that stopped the clock
    warnings_sent: frozenset[float] = frozenset()
    breach_level: int = 0
    auto_close_sent: bool = False
    last_event_at: datetime | None = None
    applied_event_ids: tuple[str, ...] = ()
    version: int = 0  # +1 on every change: the store's compare-and-set token

    @property
    def clock_id(self) -> str:
        return f"{self.tracking_id}:{self.stage.value}"

    @property
    def next_due_at(self) -> datetime | None:
        """When the scanner must next look at this clock; None when paused, stopped or done."""
        if self.state is not ClockState.RUNNING or not self.pending:
            return None
        return self.pending[0].at

    @property
    def is_active(self) -> bool:
        return self.state is not ClockState.STOPPED

    def has_seen(self, event_id: str, occurred_at: datetime) -> bool:
        """A replayed event, or one older than the last applied: it must change nothing."""
        if event_id in self.applied_event_ids:
            return True
        return self.last_event_at is not None and occurred_at < self.last_event_at

    def to_record(self) -> dict[str, Any]:
        """Plain values for a document store (aware UTC datetimes, no domain types)."""
        return {
            "tracking_id": self.tracking_id,
            "stage": self.stage.value,
            "generation": self.generation,
            "agency_id": self.agency_id,
            "timezone": self.timezone,
            "kind": self.kind,
            "category": self.category,
            "basis": self.basis.value,
            "state": self.state.value,
            "started_at": self.started_at,
            "due_at": self.due_at,
            "next_due_at": self.next_due_at,
            "pending": [
                {"kind": m.kind.value, "at": m.at, "threshold": m.threshold, "level": m.level}
                for m in self.pending
            ],
            "paused_at": self.paused_at,
            "paused_seconds": self.paused_seconds,
            "stopped_at": self.stopped_at,
            "stop_reason": self.stop_reason,
            "warnings_sent": sorted(self.warnings_sent),
            "breach_level": self.breach_level,
            "auto_close_sent": self.auto_close_sent,
            "last_event_at": self.last_event_at,
            "applied_event_ids": list(self.applied_event_ids),
            "version": self.version,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> SlaClock:
        return cls(
            tracking_id=record["tracking_id"],
            stage=Stage(record["stage"]),
            generation=record["generation"],
            agency_id=record["agency_id"],
            timezone=record["timezone"],
            kind=record["kind"],
            category=record["category"],
            basis=Basis(record["basis"]),
            state=ClockState(record["state"]),
            started_at=as_utc(record["started_at"]),
            due_at=as_utc(record["due_at"]),
            pending=tuple(
                Mark(MarkKind(m["kind"]), as_utc(m["at"]), m.get("threshold"), m.get("level"))
                for m in record["pending"]
            ),
            paused_at=as_utc(record.get("paused_at")),
            paused_seconds=record.get("paused_seconds", 0.0),
            stopped_at=as_utc(record.get("stopped_at")),
            stop_reason=record.get("stop_reason"),
            warnings_sent=frozenset(record.get("warnings_sent", ())),
            breach_level=record.get("breach_level", 0),
            auto_close_sent=record.get("auto_close_sent", False),
            last_event_at=as_utc(record.get("last_event_at")),
            applied_event_ids=tuple(record.get("applied_event_ids", ())),
            version=record.get("version", 0),
        )


def _sorted(marks: Iterable[Mark]) -> tuple[Mark, ...]:
    return tuple(sorted(marks, key=Mark.sort_key))


def build_schedule(stage: Stage, started_at: datetime, due_at: datetime, policy: SlaPolicy,
                   calendar: WorkingCalendar) -> tuple[Mark, ...]:
    if stage is Stage.AUTO_CLOSE:
        return (Mark(MarkKind.AUTO_CLOSE, due_at),)
    window = due_at - started_at
    marks = [Mark(MarkKind.WARNING, started_at + window * f, threshold=f) for f in policy.warnings]
    level_at = due_at
    for level in (1, 2, 3):
        marks.append(Mark(MarkKind.BREACH, level_at, level=level))
        level_at = policy.escalation_interval.after(level_at, calendar)
    return _sorted(marks)


def start_clock(tracking_id: str, stage: Stage, at: datetime, *, agency_id: str | None,
                timezone: str, kind: str | None, category: str | None, policy: SlaPolicy,
                calendar: WorkingCalendar, generation: int = 1, version: int = 0) -> SlaClock:
    """A fresh running clock; its target comes from the policy for the case's kind/category."""
    at = as_utc(at)
    target: Duration = policy.target(stage, kind, category)
    due_at = target.deadline(at, calendar)
    return SlaClock(
        tracking_id=tracking_id,
        stage=stage,
        generation=generation,
        agency_id=agency_id,
        timezone=timezone,
        kind=kind,
        category=category,
        basis=Basis.WORKING_DAYS if target.in_working_days else Basis.CALENDAR,
        started_at=at,
        due_at=due_at,
        pending=build_schedule(stage, at, due_at, policy, calendar),
        version=version,
    )


def restart_clock(old: SlaClock, at: datetime, *, agency_id: str | None, timezone: str,
                  policy: SlaPolicy, calendar: WorkingCalendar) -> SlaClock:
    """The stage starts again from zero (new generation): nothing sent before counts."""
    fresh = start_clock(old.tracking_id, old.stage, at, agency_id=agency_id, timezone=timezone,
                        kind=old.kind, category=old.category, policy=policy, calendar=calendar,
                        generation=old.generation + 1, version=old.version + 1)
    return evolve(fresh, last_event_at=old.last_event_at, applied_event_ids=old.applied_event_ids)


def retarget(clock: SlaClock, policy: SlaPolicy, calendar: WorkingCalendar) -> SlaClock:
    """Recompute an untouched clock's schedule once the case's kind/category are known.

    Only while nothing could have depended on the old target: the clock has not
    been paused and has not breached. Warnings already sent are not sent again.
    """
    if clock.paused_seconds or clock.paused_at or clock.breach_level or not clock.is_active:
        return clock
    due_at = policy.target(clock.stage, clock.kind, clock.category).deadline(
        clock.started_at, calendar)
    if due_at == clock.due_at:
        return clock
    schedule = build_schedule(clock.stage, clock.started_at, due_at, policy, calendar)
    pending = tuple(m for m in schedule if m.threshold not in clock.warnings_sent
                    or m.kind is not MarkKind.WARNING)
    return evolve(clock, due_at=due_at, pending=pending, version=clock.version + 1)


def pause(clock: SlaClock, at: datetime) -> SlaClock:
    if clock.state is not ClockState.RUNNING:
        return clock
    return evolve(clock, state=ClockState.PAUSED, paused_at=as_utc(at), version=clock.version + 1)


def resume(clock: SlaClock, at: datetime, calendar: WorkingCalendar) -> SlaClock:
    """Leave a pause: pending marks move later so the remaining time is preserved."""
    if clock.state is not ClockState.PAUSED or clock.paused_at is None:
        return clock
    return _continue(clock, since=clock.paused_at, until=as_utc(at), calendar=calendar)


def reopen(clock: SlaClock, at: datetime, calendar: WorkingCalendar) -> SlaClock:
    """Resume a clock stopped by `resolved`: the time spent resolved does not count."""
    if clock.state is not ClockState.STOPPED or clock.stopped_at is None:
        return clock
    return evolve(_continue(clock, since=clock.stopped_at, until=as_utc(at), calendar=calendar),
                   stopped_at=None, stop_reason=None)


def _continue(clock: SlaClock, *, since: datetime, until: datetime,
              calendar: WorkingCalendar) -> SlaClock:
    until = max(until, since)

    def shift(moment: datetime) -> datetime:
        if moment <= since:
            return moment  # it was already due before the clock stood still
        if clock.basis is Basis.CALENDAR:
            return moment + (until - since)
        return calendar.add_working_time(until, calendar.working_time_between(since, moment))

    pending = _sorted(evolve(m, at=shift(m.at)) for m in clock.pending)
    deadline_pending = any(m.kind in (MarkKind.AUTO_CLOSE, MarkKind.BREACH)
                           and (m.level or 1) == 1 for m in clock.pending)
    return evolve(
        clock,
        state=ClockState.RUNNING,
        pending=pending,
        due_at=shift(clock.due_at) if deadline_pending else clock.due_at,
        paused_at=None,
        paused_seconds=clock.paused_seconds + (until - since).total_seconds(),
        version=clock.version + 1,
    )


def stop(clock: SlaClock, at: datetime, reason: str) -> SlaClock:
    """Stop for good (or until `reopen`); the pending marks are kept for a reopen."""
    if clock.state is ClockState.STOPPED:
        return clock
    at = as_utc(at)
    paused = (at - clock.paused_at).total_seconds() if clock.paused_at is not None else 0.0
    return evolve(clock, state=ClockState.STOPPED, stopped_at=at, stop_reason=reason,
                   paused_at=None, paused_seconds=clock.paused_seconds + max(paused, 0.0),
                   version=clock.version + 1)


def reassign(clock: SlaClock, agency_id: str | None, timezone: str | None) -> SlaClock:
    """The case changed hands: later warnings and breaches concern the new assignee.

    The schedule is kept: the deadline was promised when the stage started.
    """
    if clock.agency_id == agency_id and (timezone is None or timezone == clock.timezone):
        return clock
    return evolve(clock, agency_id=agency_id, timezone=timezone or clock.timezone,
                   version=clock.version + 1)


def record_event(clock: SlaClock, event_id: str, occurred_at: datetime) -> SlaClock:
    occurred_at = as_utc(occurred_at)
    if clock.last_event_at is not None and occurred_at < clock.last_event_at:
        return clock
    kept = (*clock.applied_event_ids, event_id)[-APPLIED_IDS_KEPT:]
    return evolve(clock, last_event_at=occurred_at, applied_event_ids=kept,
                   version=clock.version + 1)


def overdue(clock: SlaClock, now: datetime) -> timedelta:
    return max(as_utc(now) - clock.due_at, timedelta(0))
