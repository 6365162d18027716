"""Every citizen told, in their language, exactly once: the notifier alone as a real process,
driven by complaint, status and SLA events on the broker, delivering to a real SMTP server
and a real HTTP SMS gateway."""

from __future__ import annotations

import asyncio

import pytest

from services.notifier.domain.planning import notification_id
from services.notifier.domain.sms import sms_segments
from shared.contract import Language, Status
from tests.integration.notifier.conftest import (
    ASSIGNEE_EMAIL,
    MESSAGE_ID_DOMAIN,
    PARENT_EMAIL,
    Complaint,
    NotifierSystem,
)
from tests.support.waiting import eventually

ID, EN = Language.ID, Language.EN

CITIZEN_TEMPLATES = ("acknowledgement", "assigned", "in_progress", "waiting_citizen",
                     "resolved", "closed", "rejected", "escalated")
SUBJECTS = {
    ID: {"acknowledgement": "Laporan Anda telah diterima", "assigned": "diteruskan ke Dinas",
         "in_progress": "sedang ditindaklanjuti",
         "waiting_citizen": "Informasi tambahan diperlukan",
         "resolved": "telah ditindaklanjuti", "closed": "telah ditutup",
         "rejected": "tidak dapat diproses", "escalated": "dieskalasi ke Pemerintah",
         "agency_sla_warning": "Peringatan batas waktu 75%",
         "agency_sla_breached": "Batas waktu terlampaui (level 2)"},
    EN: {"acknowledgement": "Your report has been received", "assigned": "forwarded to Dinas",
         "in_progress": "is being followed up", "waiting_citizen": "More information needed",
         "resolved": "has been resolved", "closed": "has been closed",
         "rejected": "cannot be processed", "escalated": "escalated to Pemerintah"},
}
SMS = {
    ID: {"acknowledgement": "Laporan Anda diterima", "assigned": "telah diteruskan ke",
         "in_progress": "menindaklanjuti laporan", "waiting_citizen": "meminta info tambahan",
         "resolved": "dinyatakan selesai", "closed": "telah ditutup",
         "rejected": "tidak dapat diproses", "escalated": "dieskalasi ke"},
    EN: {"acknowledgement": "Your report was received", "assigned": "was forwarded to",
         "in_progress": "is following up report", "waiting_citizen": "needs more info",
         "resolved": "resolved report", "closed": "is closed",
         "rejected": "cannot be processed", "escalated": "has been escalated to"},
}
FOOTER = {ID: "Pesan ini dikirim otomatis oleh LAPOR!",
          EN: "This message was sent automatically by LAPOR!"}
AGENCY_FOOTER = "Pesan otomatis pemantauan batas waktu layanan LAPOR!"
HOSTILE = "<script>alert('x')</script> & \"quotes\""


def lifecycle(complaint: Complaint) -> list:
    """Every event a citizen hears about, in the order the upstream services emit them."""
    return [
        complaint.received(),
        complaint.status_changed(Status.ASSIGNED),
        complaint.status_changed(Status.IN_PROGRESS, "Penambalan dijadwalkan minggu depan."),
        complaint.status_changed(Status.WAITING_CITIZEN, f"Mohon kirim foto lokasi. {HOSTILE}"),
        complaint.status_changed(Status.RESOLVED, "Jalan sudah ditambal."),
        complaint.status_changed(Status.CLOSED),
        complaint.status_changed(Status.REJECTED, "Laporan ganda."),
        complaint.sla_warning(),
        complaint.sla_breached(level=2),
    ]


def by_template(outcomes: list[dict], channel: str) -> dict[str, dict]:
    return {o["template"]: o for o in outcomes if o["channel"] == channel}


@pytest.mark.parametrize("language", [ID, EN])
async def test_every_template_reaches_the_citizen_in_their_language(
        notifier: NotifierSystem, language: Language) -> None:
    tag = language.value + notifier.prefix.strip(".")
    complaint = Complaint(language=language, email=f"siti.{tag}@example.id",
                          phone=f"+62812{abs(hash(tag)) % 10**7:07d}")
    events = lifecycle(complaint)
    await notifier.publish(complaint, *events)

    # 8 citizen templates x (email + SMS) + 2 agency alerts, all sent at the first attempt.
    outcomes = await notifier.outcomes_for(complaint.tracking_id, 18)
    assert {o["event_type"] for o in outcomes} == {"notification.sent"}, outcomes
    assert all(o["attempts"] == 1 for o in outcomes)
    emails, texts = by_template(outcomes, "email"), by_template(outcomes, "sms")
    assert set(texts) == set(CITIZEN_TEMPLATES)
    assert set(emails) == {*CITIZEN_TEMPLATES, "agency_sla_warning", "agency_sla_breached"}
    assert all(o["recipient"] != complaint.email and "*" in o["recipient"] for o in outcomes)

    mails = {m.header("Message-ID"): m for m in notifier.mails_for(complaint.tracking_id)}
    assert len(mails) == 10
    sources = {e.event_id for e in events}
    for template, outcome in emails.items():
        nid = outcome["notification_id"]
        assert outcome["source_event_id"] in sources
        mail = mails[f"<{nid}@{MESSAGE_ID_DOMAIN}>"]  # Message-ID derived from the id
        assert mail.header("X-Lapor-Tracking-Id") == complaint.tracking_id
        assert complaint.tracking_id in mail.subject
        html = mail.html()
        assert html.startswith("<!DOCTYPE html>") and complaint.tracking_id in html
        if template.startswith("agency_"):
            assert SUBJECTS[ID][template] in mail.subject
            assert AGENCY_FOOTER in mail.text()
            continue
        # The id is recomputable from the source event, the channel and the address.
        assert nid == notification_id(outcome["source_event_id"], "email", complaint.email,
                                      template)
        assert mail.recipients == [complaint.email]
        assert SUBJECTS[language][template] in mail.subject, (template, mail.subject)
        assert FOOTER[language] in mail.text()
        assert f'<html lang="{language.value}">' in html
        assert mail.header("Content-Language") == language.value

    # Agency alerts: the warning to the assignee, the breach to the agency escalated to.
    warning = mails[f"<{emails['agency_sla_warning']['notification_id']}@{MESSAGE_ID_DOMAIN}>"]
    breach = mails[f"<{emails['agency_sla_breached']['notification_id']}@{MESSAGE_ID_DOMAIN}>"]
    assert warning.recipients == [ASSIGNEE_EMAIL]
    assert breach.recipients == [PARENT_EMAIL]

    # The acknowledgement carries the very secret intake put on complaint.received.
    ack = mails[f"<{emails['acknowledgement']['notification_id']}@{MESSAGE_ID_DOMAIN}>"]
    assert events[0].citizen_secret == complaint.secret
    assert complaint.secret in ack.text() and complaint.secret in ack.html()
    # Hostile free text: verbatim in the plain text, escaped in the HTML.
    waiting = mails[f"<{emails['waiting_citizen']['notification_id']}@{MESSAGE_ID_DOMAIN}>"]
    assert HOSTILE in waiting.text()
    assert "<script>" not in waiting.html() and "&lt;script&gt;" in waiting.html()
    assert "&lt;berbahaya&gt;" in ack.html()

    messages = {m["reference"]: m for m in notifier.sms_to(complaint.phone)}
    assert len(messages) == 8
    for template, outcome in texts.items():
        text = messages[outcome["notification_id"]]["text"]  # reference = notification id
        assert SMS[language][template] in text, (template, text)
        assert complaint.tracking_id in text
        assert sms_segments(text) <= 3
    assert complaint.secret in messages[texts["acknowledgement"]["notification_id"]]["text"]
    assert sum(complaint.secret in m["text"] for m in messages.values()) == 1


async def test_anonymous_reporter_is_never_named_to_agencies(notifier: NotifierSystem) -> None:
    complaint = Complaint(email="budi.rahasia@example.id", phone="+6281399887766",
                          name="Budi Rahasia", anonymous=True)
    await notifier.publish(complaint, complaint.received(), complaint.sla_warning(),
                           complaint.sla_breached(level=2))
    outcomes = await notifier.outcomes_for(complaint.tracking_id, 6)  # ack, escalated x2, 2 alerts
    assert {o["event_type"] for o in outcomes} == {"notification.sent"}
    alerts = [m for m in notifier.mails_for(complaint.tracking_id)
              if m.recipients in ([ASSIGNEE_EMAIL], [PARENT_EMAIL])]
    assert len(alerts) == 2
    for mail in alerts:
        raw = mail.message.as_string()
        for fragment in ("Budi", "Rahasia", "budi.rahasia", "6281399887766", "81399887766",
                         complaint.secret):
            assert fragment not in raw
    # Anonymous to agencies, not to the notifier: the reporter still hears about it.
    assert len([m for m in notifier.mails_for(complaint.tracking_id)
                if m.recipients == [complaint.email]]) == 2
    # Nor do the notifier's logs carry contact data or the secret.
    log = notifier.service.log_path.read_text()
    assert complaint.tracking_id in log
    for fragment in ("budi.rahasia", "81399887766", complaint.secret):
        assert fragment not in log


async def test_reporter_without_contact_is_recorded_as_skipped(notifier: NotifierSystem) -> None:
    complaint = Complaint()
    await notifier.publish(complaint, complaint.received(),
                           complaint.status_changed(Status.ASSIGNED))
    outcomes = await notifier.outcomes_for(complaint.tracking_id, 2)
    assert [o["event_type"] for o in outcomes] == ["notification.skipped"] * 2
    assert {o["template"] for o in outcomes} == {"acknowledgement", "assigned"}
    assert all(o["channel"] is None and o["error"] == "no_contact" for o in outcomes)
    assert notifier.mails_for(complaint.tracking_id) == []


async def test_status_before_its_complaint_waits_for_the_contacts(
        notifier: NotifierSystem) -> None:
    complaint = Complaint(language=EN, email="early.bird@example.id")
    received = complaint.received()
    assigned = complaint.status_changed(Status.ASSIGNED)
    await notifier.publish(complaint, assigned)
    await asyncio.sleep(1.0)  # consumed and deferred: nobody to tell yet
    assert notifier.mails_for(complaint.tracking_id) == []
    await notifier.publish(complaint, received)
    outcomes = await notifier.outcomes_for(complaint.tracking_id, 2)
    assert {o["template"] for o in outcomes} == {"acknowledgement", "assigned"}
    assigned_mail = [m for m in notifier.mails_for(complaint.tracking_id)
                     if "forwarded to" in m.subject]
    assert len(assigned_mail) == 1


async def test_replay_and_restart_never_send_twice(notifier: NotifierSystem) -> None:
    complaint = Complaint(email="sekali.saja@example.id", phone="+6281211112222")
    await notifier.publish(complaint, complaint.received(),
                           complaint.status_changed(Status.ASSIGNED),
                           complaint.status_changed(Status.RESOLVED, "Selesai."))
    await notifier.outcomes_for(complaint.tracking_id, 6)
    mails, texts = len(notifier.mails_for(complaint.tracking_id)), len(
        notifier.sms_to(complaint.phone))
    assert (mails, texts) == (3, 3)

    # Replayed while running, then again after a crash (SIGKILL) and restart.
    await notifier.replay(complaint)
    await asyncio.to_thread(notifier.restart, kill=True)
    await notifier.replay(complaint)
    # Wait until the restarted notifier consumed at least the replayed events...
    prefix = notifier.prefix
    await eventually(lambda: notifier.metric(
        "lapor_messages_consumed_total", service="notifier",
        topic=prefix + "complaints.status") >= 2 and notifier.metric(
        "lapor_messages_consumed_total", service="notifier",
        topic=prefix + "complaints.received") >= 1, message="replayed events consumed")
    await asyncio.sleep(1.5)  # ...and give the worker many rounds to (wrongly) send again
    assert len(notifier.mails_for(complaint.tracking_id)) == 3
    assert len(notifier.sms_to(complaint.phone)) == 3
    assert len(notifier.requests_to(complaint.phone)) == 3
    outcomes = await notifier.outcomes_for(complaint.tracking_id, 6)
    assert len({o["notification_id"] for o in outcomes}) == 6
