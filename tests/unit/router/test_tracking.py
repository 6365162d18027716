"""The public view of a case (GET /v1/complaints/{tracking_id}): status, assignee agency
name and the public history; no internal notes, no citizen's own words."""

from __future__ import annotations

from datetime import UTC, datetime

from services.router.domain.case import ROUTER_ACTOR, AuditEntry, Case
from services.router.handlers import rejection_event_id
from services.router.tracking import public_view
from shared.agencies import AgencyRegistry
from shared.contract import Actor, ActorType, Status

AT = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)
AGENCY = Actor(type=ActorType.AGENCY, id="kutim-pupr")
CITIZEN = Actor(type=ActorType.CITIZEN, id="citizen")


def entry(status: Status, actor: Actor, message: str | None = None, **extra: object
          ) -> AuditEntry:
    return AuditEntry(status=status, previous_status=None, at=AT, actor=actor, action="x",
                      message=message, **extra)


def test_public_view(shipped_agencies: AgencyRegistry) -> None:
    case = Case(
        tracking_id="7KQ2-M9XD-4", status=Status.IN_PROGRESS, assignee="kutim-pupr",
        citizen_secret_hash="h", history=(
            entry(Status.RECEIVED, ROUTER_ACTOR),
            entry(Status.ASSIGNED, ROUTER_ACTOR, note="rule 'kutim-infrastructure' matched",
                  rule_id="kutim-infrastructure", reason="rule"),
            entry(Status.WAITING_CITIZEN, AGENCY, "Mohon foto lokasi."),
            entry(Status.IN_PROGRESS, CITIZEN, "Rumah saya Jl. Mawar 3, HP 0812555"),
            entry(Status.IN_PROGRESS, CITIZEN, public=False),
        ))
    view = public_view(case, shipped_agencies)
    assert view == {
        "tracking_id": "7KQ2-M9XD-4",
        "status": "in_progress",
        "agency_name": "Dinas Pekerjaan Umum dan Penataan Ruang Kabupaten Kutai Timur",
        "history": [
            {"status": "received", "at": "2026-03-02T03:00:00Z", "message": None},
            {"status": "assigned", "at": "2026-03-02T03:00:00Z", "message": None},
            {"status": "waiting_citizen", "at": "2026-03-02T03:00:00Z",
             "message": "Mohon foto lokasi."},
            {"status": "in_progress", "at": "2026-03-02T03:00:00Z", "message": None},
        ],
    }


def test_unassigned_case_has_no_agency_name(shipped_agencies: AgencyRegistry) -> None:
    case = Case(tracking_id="7KQ2-M9XD-4", status=Status.TRIAGE)
    assert public_view(case, shipped_agencies)["agency_name"] is None


def test_rejection_event_id_is_one_per_action() -> None:
    first = rejection_event_id("7KQ2-M9XD-4", "a-1")
    assert first == rejection_event_id("7KQ2-M9XD-4", "a-1")
    assert first != rejection_event_id("7KQ2-M9XD-4", "a-2")
    assert first != rejection_event_id("7KQ2-M9XD-5", "a-1")
