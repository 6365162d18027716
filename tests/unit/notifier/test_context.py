"""From event to rendered notification: contexts feed the templates, agencies see no reporter."""

from __future__ import annotations

from datetime import UTC, datetime

from services.notifier.domain.context import build_context
from services.notifier.domain.planning import ReporterContact, plan_notifications
from services.notifier.domain.templates import render
from shared.contract import (
    Actor,
    ActorType,
    Channel,
    ComplaintReceived,
    ComplaintStatusChanged,
    Language,
    Reporter,
    SlaBreached,
    SlaWarning,
    Status,
)

from .samples import AGENCIES, BASE_URL, DUE_AT, REPORTER_FRAGMENTS, SECRET, TRACKING_ID

REPORTER = Reporter(name="Budi Santoso", email="budi.santoso@example.com",
                    phone="+6281234567890", nik="6408041234567890", language=Language.ID)
CONTACT = ReporterContact.from_reporter(REPORTER)


def render_all(event, reporter=CONTACT):  # type: ignore[no-untyped-def]
    plan = plan_notifications(event, reporter=reporter, agencies=AGENCIES, sms_enabled=True)
    out = []
    for item in plan.planned:
        ctx = build_context(event, item, agencies=AGENCIES, public_base_url=BASE_URL,
                            category_label="Infrastruktur")
        out.append((item, render(item.template, item.language, ctx)))
    return out


def test_acknowledgement_from_received_event() -> None:
    event = ComplaintReceived(
        tracking_id=TRACKING_ID, channel=Channel.WEB, channel_ref="r1", title="Jalan rusak",
        body="Jalan di depan pasar rusak.", submitted_at=datetime(2026, 1, 5, tzinfo=UTC),
        citizen_secret=SECRET, reporter=REPORTER,
    )
    rendered = render_all(event, reporter=None)
    assert [i.channel for i, _ in rendered] == ["email", "sms"]
    for _, r in rendered:
        assert SECRET in r.email.text and SECRET in r.sms.text
        assert "Infrastruktur" in r.email.text


def test_status_message_uses_agency_name_and_hides_citizen_text() -> None:
    by_agency = ComplaintStatusChanged(
        tracking_id=TRACKING_ID, status=Status.IN_PROGRESS, previous_status=Status.ASSIGNED,
        agency_id="kutim-pupr", actor=Actor(type=ActorType.AGENCY, id="kutim-pupr"),
        message="Perbaikan dijadwalkan Senin.",
    )
    (_, r), _ = render_all(by_agency)
    assert "Dinas Pekerjaan Umum dan Penataan Ruang" in r.email.text
    assert "Perbaikan dijadwalkan Senin." in r.email.text
    reply = by_agency.model_copy(update={
        "previous_status": Status.WAITING_CITIZEN, "actor": Actor(type=ActorType.CITIZEN, id="x"),
        "message": "Ini foto yang diminta."})
    (_, r), _ = render_all(reply)
    assert "Ini foto yang diminta." not in r.email.text


def test_unknown_agency_falls_back_to_its_id() -> None:
    event = ComplaintStatusChanged(
        tracking_id=TRACKING_ID, status=Status.ASSIGNED, previous_status=Status.TRIAGE,
        agency_id="dinas-baru", actor=Actor(type=ActorType.ADMIN, id="a1"))
    (_, r), _ = render_all(event)
    assert "dinas-baru" in r.email.text


def test_escalated_notice_and_agency_alert_from_breach() -> None:
    event = SlaBreached(tracking_id=TRACKING_ID, stage="resolution", level=2, due_at=DUE_AT,
                        overdue_seconds=90000, agency_id="kutim-pupr",
                        escalated_to_agency_id="pemkab-kutim")
    rendered = render_all(event)
    agency = [r for i, r in rendered if i.audience == "agency"]
    citizen = [r for i, r in rendered if i.audience == "citizen"]
    assert len(agency) == 1 and len(citizen) == 2
    assert "1 hari 1 jam" in agency[0].email.text and "WITA" in agency[0].email.text
    for r in citizen:
        assert "Pemerintah Kabupaten Kutai Timur" in r.email.text
        assert "Pemerintah Kabupaten Kutai Timur" in r.sms.text


def test_agency_alert_is_in_the_recipients_time_zone_and_has_no_reporter() -> None:
    event = SlaBreached(tracking_id=TRACKING_ID, stage="resolution", level=3, due_at=DUE_AT,
                        overdue_seconds=60, agency_id="kutim-pupr",
                        escalated_to_agency_id="kemenpanrb")
    (item, r), *_ = render_all(event)
    assert item.audience == "agency"
    assert "7 Januari 2026 pukul 16.00 WIB" in r.email.text  # Jakarta, not Makassar
    ctx = build_context(event, item, agencies=AGENCIES, public_base_url=BASE_URL)
    assert "citizen_secret" not in ctx
    for part in (r.email.subject, r.email.text, r.email.html):
        for fragment in REPORTER_FRAGMENTS:
            assert fragment not in part


def test_sla_warning_context() -> None:
    event = SlaWarning(tracking_id=TRACKING_ID, stage="response", threshold=0.75, due_at=DUE_AT,
                       agency_id="kutim-pupr")
    ((item, r),) = render_all(event)
    assert item.recipient == "dpu@kutaitimurkab.go.id"
    assert "75%" in r.email.text and "17.00 WITA" in r.email.text
