"""Small builders for the sla unit tests: policies, agencies and lifecycle events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.sla.domain import Calendars, Duration, SlaClock, SlaPolicy, Stage
from services.sla.domain import apply_received as _apply_received
from services.sla.domain import apply_status_event as _apply_status_event
from shared.contract import (
    Actor,
    ActorType,
    Channel,
    ComplaintReceived,
    ComplaintStatusChanged,
    Kind,
    Status,
)

COORDINATOR = "kemenpanrb"
CITIZEN_SECRET = "test-only-citizen-secret"  # noqa: S105 - not a real secret

# agency id -> (time zone, parent); a slice of shared/data/agencies.yaml plus a WIT agency.
AGENCIES: dict[str, tuple[str, str | None]] = {
    "kemenpanrb": ("Asia/Jakarta", None),
    "kemenpu": ("Asia/Jakarta", "kemenpanrb"),
    "pemprov-kaltim": ("Asia/Makassar", "kemendagri"),
    "pemkab-kutim": ("Asia/Makassar", "pemprov-kaltim"),
    "kutim-pupr": ("Asia/Makassar", "pemkab-kutim"),
    "kutim-dinkes": ("Asia/Makassar", "pemkab-kutim"),
    "jayapura-dinkes": ("Asia/Jayapura", None),
}


def timezone_of(agency_id: str) -> str | None:
    return AGENCIES.get(agency_id, (None, None))[0]


def parent_of(agency_id: str) -> str | None:
    return AGENCIES.get(agency_id, (None, None))[1]


def drill_policy(**stages: str) -> SlaPolicy:
    """A calendar-time policy (like a drill) so the arithmetic in tests stays obvious."""
    spans = {"routing": "PT1H", "response": "PT2H", "resolution": "PT10H", "auto_close": "PT5H"}
    spans.update(stages)
    return SlaPolicy(
        national_coordinator=COORDINATOR,
        warnings=(0.5, 0.75),
        escalation_interval=Duration.of_calendar_time("PT1H"),
        stages={Stage(name): Duration.of_calendar_time(text) for name, text in spans.items()},
    )


def at(hours: float = 0, base: datetime = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)) -> datetime:
    """Monday 2 March 2026, 08:00 WIB, plus `hours`."""
    return base + timedelta(hours=hours)


_counter = iter(range(1, 10**9))


def status_event(status: Status, when: datetime, agency_id: str | None = None,
                 tracking_id: str = "LAPOR-0001", event_id: str | None = None
                 ) -> ComplaintStatusChanged:
    return ComplaintStatusChanged(
        event_id=event_id or f"status-{next(_counter)}", occurred_at=when,
        tracking_id=tracking_id, status=status, agency_id=agency_id,
        actor=Actor(type=ActorType.SYSTEM, id="router"))


def received_event(when: datetime, kind: str = "complaint", category: str | None = None,
                   tracking_id: str = "LAPOR-0001") -> ComplaintReceived:
    return ComplaintReceived(
        event_id=f"received-{next(_counter)}", occurred_at=when, tracking_id=tracking_id,
        channel=Channel.WEB, channel_ref=f"ref-{tracking_id}", kind=Kind(kind), category=category,
        body="Jalan di depan kantor kecamatan berlubang besar.", submitted_at=when,
        citizen_secret=CITIZEN_SECRET)


class Case:
    """One case's clocks, moved by events, as the service layer will do it."""

    def __init__(self, policy: SlaPolicy | None = None, tracking_id: str = "LAPOR-0001") -> None:
        self.policy = policy or drill_policy()
        self.calendars = Calendars(self.policy.extra_closed_days)
        self.tracking_id = tracking_id
        self.clocks: tuple[SlaClock, ...] = ()

    def receive(self, when: datetime, kind: str = "complaint", category: str | None = None
                ) -> Case:
        event = received_event(when, kind, category, tracking_id=self.tracking_id)
        self.clocks = _apply_received(self.clocks, event, policy=self.policy,
                                      calendars=self.calendars, timezone_of=timezone_of)
        return self

    def status(self, status: Status, when: datetime, agency_id: str | None = None,
               event_id: str | None = None) -> Case:
        event = status_event(status, when, agency_id, self.tracking_id, event_id)
        return self.apply(event)

    def apply(self, event: ComplaintStatusChanged) -> Case:
        self.clocks = _apply_status_event(self.clocks, event, policy=self.policy,
                                          calendars=self.calendars, timezone_of=timezone_of)
        return self

    def __getitem__(self, stage: str) -> SlaClock:
        return next(c for c in self.clocks if c.stage == stage)

    def has(self, stage: str) -> bool:
        return any(c.stage == stage for c in self.clocks)
