"""Who is notified of what: contacts, channels, templates, skips and deterministic ids."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from services.notifier.domain.planning import (
    ReporterContact,
    agency_contacts,
    message_id,
    notification_id,
    plan_notifications,
)
from services.notifier.domain.templates import TemplateId
from shared.agencies import load_agencies
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

from .samples import AGENCIES, DUE_AT, SECRET, TRACKING_ID

EMAIL = "budi.santoso@example.com"
PHONE = "+6281234567890"
BOTH = ReporterContact(EMAIL, PHONE, Language.EN)


def received(**reporter: Any) -> ComplaintReceived:
    return ComplaintReceived(
        tracking_id=TRACKING_ID, channel=Channel.WEB, channel_ref="web-1",
        body="Jalan rusak parah.",
        submitted_at=datetime(2026, 1, 5, tzinfo=UTC), citizen_secret=SECRET,
        reporter=Reporter(**reporter),
    )


def status(new: Status, previous: Status | None, actor: str = "agency",
           message: str | None = "ok") -> ComplaintStatusChanged:
    return ComplaintStatusChanged(
        tracking_id=TRACKING_ID, status=new, previous_status=previous, agency_id="kutim-pupr",
        actor=Actor(type=ActorType(actor), id="kutim-pupr"), message=message,
    )


def warning(agency_id: str | None = "kutim-pupr") -> SlaWarning:
    return SlaWarning(tracking_id=TRACKING_ID, stage="response", threshold=0.5, due_at=DUE_AT,
                      agency_id=agency_id)


def breached(level: int, target: str | None = "pemkab-kutim") -> SlaBreached:
    return SlaBreached(tracking_id=TRACKING_ID, stage="resolution", level=level, due_at=DUE_AT,
                       overdue_seconds=3600, agency_id="kutim-pupr",
                       escalated_to_agency_id=target)


def plan(event, reporter=BOTH, sms_enabled=True, **kw):  # type: ignore[no-untyped-def]
    return plan_notifications(event, reporter=reporter, agencies=AGENCIES,
                              sms_enabled=sms_enabled, **kw)


def test_received_uses_every_known_contact_from_the_event() -> None:
    event = received(email=EMAIL, phone=PHONE, language="en")
    result = plan(event, reporter=None)
    assert [(p.channel, p.recipient) for p in result.planned] == [("email", EMAIL), ("sms", PHONE)]
    for p in result.planned:
        assert p.template == TemplateId.ACKNOWLEDGEMENT and p.audience == "citizen"
        assert p.language == Language.EN and p.source_event_id == event.event_id
        assert p.tracking_id == TRACKING_ID
    assert result.skipped == ()


def test_sms_only_when_enabled() -> None:
    result = plan(received(email=EMAIL, phone=PHONE), reporter=None, sms_enabled=False)
    assert [p.channel for p in result.planned] == ["email"]


def test_phone_only_with_sms_disabled_is_skipped() -> None:
    result = plan(received(phone=PHONE), reporter=None, sms_enabled=False)
    assert result.planned == ()
    assert [s.reason for s in result.skipped] == ["sms_disabled"]


@pytest.mark.parametrize("contact", [None, ReporterContact(), ReporterContact(" ", "")])
def test_no_contact_is_skipped_not_dropped(contact: ReporterContact | None) -> None:
    event = status(Status.RESOLVED, Status.IN_PROGRESS)
    result = plan(event, reporter=contact)
    assert result.planned == ()
    (skip,) = result.skipped
    assert skip.reason == "no_contact" and skip.template == TemplateId.RESOLVED
    assert skip.source_event_id == event.event_id and skip.audience == "citizen"
    assert uuid.UUID(skip.notification_id).version == 5


def test_received_without_any_contact_is_skipped() -> None:
    result = plan(received(), reporter=None)
    assert [s.reason for s in result.skipped] == ["no_contact"]


def test_anonymous_reporter_still_gets_citizen_notifications() -> None:
    result = plan(received(email=EMAIL, anonymous=True, confidential=True), reporter=None)
    assert [p.recipient for p in result.planned] == [EMAIL]
    stored = ReporterContact(EMAIL, None, Language.ID, anonymous=True)
    assert len(plan(status(Status.ASSIGNED, Status.RECEIVED), reporter=stored).planned) == 1


def test_ids_are_deterministic_across_redelivery() -> None:
    event = received(email=EMAIL, phone=PHONE)
    first = plan(event, reporter=None)
    again = plan(ComplaintReceived.model_validate_json(event.model_dump_json()), reporter=None)
    assert [p.notification_id for p in first.planned] == [p.notification_id for p in again.planned]
    ids = {p.notification_id for p in first.planned}
    assert len(ids) == 2 and all(uuid.UUID(i).version == 5 for i in ids)
    other = plan(received(email=EMAIL, phone=PHONE), reporter=None)  # a new event id
    assert ids.isdisjoint(p.notification_id for p in other.planned)


def test_notification_id_is_uuid5_of_event_channel_recipient() -> None:
    a = notification_id("ev-1", "email", EMAIL, "assigned")
    assert a == notification_id("ev-1", "email", f" {EMAIL.upper()} ", "assigned")
    assert a != notification_id("ev-1", "sms", EMAIL, "assigned")
    assert a != notification_id("ev-2", "email", EMAIL, "assigned")


def test_same_mailbox_for_citizen_and_agency_keeps_two_ids() -> None:
    mailbox = ReporterContact(AGENCIES["pemkab-kutim"].email)
    result = plan(breached(2), reporter=mailbox)
    assert len({p.notification_id for p in result.planned}) == 2


@pytest.mark.parametrize(
    ("new", "previous", "template"),
    [
        (Status.ASSIGNED, Status.RECEIVED, TemplateId.ASSIGNED),
        (Status.ASSIGNED, Status.TRIAGE, TemplateId.ASSIGNED),
        (Status.ASSIGNED, Status.ASSIGNED, TemplateId.ASSIGNED),  # transfer / decline
        (Status.ASSIGNED, Status.IN_PROGRESS, TemplateId.ASSIGNED),
        (Status.IN_PROGRESS, Status.ASSIGNED, TemplateId.IN_PROGRESS),
        (Status.WAITING_CITIZEN, Status.IN_PROGRESS, TemplateId.WAITING_CITIZEN),
        (Status.RESOLVED, Status.IN_PROGRESS, TemplateId.RESOLVED),
        (Status.CLOSED, Status.RESOLVED, TemplateId.CLOSED),
        (Status.REJECTED, Status.TRIAGE, TemplateId.REJECTED),
        (Status.TRIAGE, Status.RECEIVED, None),
        (Status.RECEIVED, None, None),
        (Status.RESOLVED, Status.RESOLVED, None),  # citizen's rate
        (Status.CLOSED, Status.CLOSED, None),  # citizen's rate
    ],
)
def test_status_maps_to_template(new: Status, previous: Status | None,
                                 template: TemplateId | None) -> None:
    result = plan(status(new, previous), reporter=BOTH)
    assert result.skipped == ()
    assert {p.template for p in result.planned} == ({template} if template else set())
    if template:
        assert [p.channel for p in result.planned] == ["email", "sms"]


def test_triage_notice_is_opt_in() -> None:
    result = plan(status(Status.TRIAGE, Status.RECEIVED), notify_triage=True)
    assert {p.template for p in result.planned} == {TemplateId.TRIAGE}


def test_sla_warning_alerts_the_assignee_by_email_only() -> None:
    result = plan(warning())
    (alert,) = result.planned
    assert alert.audience == "agency" and alert.channel == "email"
    assert alert.recipient == AGENCIES["kutim-pupr"].email
    assert alert.template == TemplateId.AGENCY_SLA_WARNING and alert.language == Language.ID
    assert PHONE not in {p.recipient for p in result.planned}


@pytest.mark.parametrize("agency_id", [None, "unknown-agency", "no-mail"])
def test_sla_warning_without_agency_email_is_skipped(agency_id: str | None) -> None:
    result = plan(warning(agency_id))
    assert result.planned == ()
    assert [(s.reason, s.audience) for s in result.skipped] == [("no_agency_contact", "agency")]


def test_breach_level_1_alerts_the_agency_only() -> None:
    result = plan(breached(1, target="kutim-pupr"))
    assert [(p.audience, p.recipient) for p in result.planned] == [
        ("agency", AGENCIES["kutim-pupr"].email)]
    fallback = plan(breached(1, target=None))  # level 1 without target: the assignee
    assert [p.recipient for p in fallback.planned] == [AGENCIES["kutim-pupr"].email]


@pytest.mark.parametrize(("level", "target"), [(2, "pemkab-kutim"), (3, "kemenpanrb")])
def test_breach_level_2_and_up_alerts_target_and_tells_the_citizen(level: int,
                                                                   target: str) -> None:
    result = plan(breached(level, target))
    agency = [p for p in result.planned if p.audience == "agency"]
    citizen = [p for p in result.planned if p.audience == "citizen"]
    assert [(p.recipient, p.template) for p in agency] == [
        (AGENCIES[target].email, TemplateId.AGENCY_SLA_BREACHED)]
    assert [(p.channel, p.template) for p in citizen] == [
        ("email", TemplateId.ESCALATED), ("sms", TemplateId.ESCALATED)]
    assert all(p.language == Language.EN for p in citizen)


def test_breach_without_citizen_contact_still_alerts_the_agency() -> None:
    result = plan(breached(2), reporter=None)
    assert [p.audience for p in result.planned] == ["agency"]
    assert [(s.audience, s.reason) for s in result.skipped] == [("citizen", "no_contact")]


def test_message_id_is_derived_from_the_notification_id() -> None:
    nid = notification_id("ev-1", "email", EMAIL, "assigned")
    assert message_id(nid, "lapor.go.id") == f"<{nid}@lapor.go.id>"
    for bad in ("", "a b", "x@y", "<x>"):
        with pytest.raises(ValueError):
            message_id(nid, bad)


def test_planned_notification_masks_its_recipient() -> None:
    email, sms = plan(received(email=EMAIL, phone=PHONE), reporter=None).planned
    assert email.masked_recipient == "b***o@e***.com"
    assert sms.masked_recipient == "+62812*****890"


def test_agency_contacts_from_the_shipped_registry() -> None:
    contacts = agency_contacts(load_agencies())
    kutim = contacts["kutim-pupr"]
    assert kutim.email == "dpu@kutaitimurkab.go.id" and kutim.timezone == "Asia/Makassar"
    result = plan_notifications(warning(), reporter=None, agencies=contacts, sms_enabled=False)
    assert [p.recipient for p in result.planned] == ["dpu@kutaitimurkab.go.id"]
