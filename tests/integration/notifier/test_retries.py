"""Retries without blocking: an SMTP server that is down or answers 4xx, a recipient refused
for a while or for good, an SMS gateway answering 500 or 400. Every message arrives once;
permanent failures are reported and never retried."""

from __future__ import annotations

import asyncio
from collections import Counter

from shared.contract import Language, Status
from tests.integration.notifier.conftest import (
    NOTIFIER_ENV,
    Complaint,
    NotifierSystem,
)
from tests.support.waiting import eventually

MAX_ATTEMPTS = int(NOTIFIER_ENV["LAPOR_NOTIFY_MAX_ATTEMPTS"])


def message_ids(notifier: NotifierSystem, tracking_id: str) -> Counter[str]:
    return Counter(m.header("Message-ID") or "" for m in notifier.mails_for(tracking_id))


async def test_smtp_down_then_back_delivers_every_message_once(notifier: NotifierSystem) -> None:
    complaint = Complaint(language=Language.EN, email="sabar.menunggu@example.id")
    retried_before = notifier.metric("lapor_notifier_retried_total", channel="email")
    notifier.mailbox.stop()
    try:
        await notifier.publish(complaint, complaint.received(),
                               complaint.status_changed(Status.ASSIGNED))
        # Connection refused: both are retried from the ledger, and show in the queue gauge.
        await eventually(lambda: notifier.metric("lapor_notifier_retried_total",
                                                 channel="email") >= retried_before + 4,
                         message="retries while the SMTP server is down")
        await eventually(lambda: notifier.metric("lapor_notifier_retry_queue") >= 2,
                         message="retry queue gauge")
    finally:
        notifier.mailbox.start()
    outcomes = await notifier.outcomes_for(complaint.tracking_id, 2)
    assert {o["event_type"] for o in outcomes} == {"notification.sent"}
    assert all(o["attempts"] >= 2 for o in outcomes)
    assert list(message_ids(notifier, complaint.tracking_id).values()) == [1, 1]


async def test_smtp_451_then_accepting_delivers_once(notifier: NotifierSystem) -> None:
    complaint = Complaint(email="ditunda.dulu@example.id")
    await notifier.publish(complaint, complaint.received())
    await notifier.outcomes_for(complaint.tracking_id, 1)
    retried_before = notifier.metric("lapor_notifier_retried_total", channel="email",
                                     template="in_progress")
    notifier.mailbox.refuse_with = "451 4.3.0 Try again later"
    try:
        await notifier.publish(complaint, complaint.status_changed(Status.IN_PROGRESS, "Besok."))
        await eventually(lambda: notifier.metric(
            "lapor_notifier_retried_total", channel="email",
            template="in_progress") >= retried_before + 2, message="retries after 451")
    finally:
        notifier.mailbox.refuse_with = None
    outcomes = await notifier.outcomes_for(complaint.tracking_id, 2)
    progress = [o for o in outcomes if o["template"] == "in_progress"]
    assert progress[0]["event_type"] == "notification.sent"
    assert progress[0]["attempts"] >= 3
    assert list(message_ids(notifier, complaint.tracking_id).values()) == [1, 1]


async def test_one_refused_recipient_never_stalls_the_others(notifier: NotifierSystem) -> None:
    stuck = Complaint(email="kotak.penuh@example.id")
    refused = Complaint(email="tidak.ada@example.id")
    fine = Complaint(email="lancar.jaya@example.id")
    retried_before = notifier.metric("lapor_notifier_retried_total", channel="email")
    notifier.mailbox.refuse_recipient(stuck.email, "451 4.2.2 Mailbox full, try later")
    notifier.mailbox.refuse_recipient(refused.email, "550 5.1.1 No such user")
    try:
        await notifier.publish(stuck, stuck.received())
        await notifier.publish(refused, refused.received())
        await eventually(lambda: notifier.metric(
            "lapor_notifier_retried_total", channel="email") >= retried_before + 3,
            message="stuck retrying")
        await notifier.publish(fine, fine.received())
        # The healthy recipient is served while the other is still being retried.
        sent = await notifier.outcomes_for(fine.tracking_id, 1, timeout=5)
        assert sent[0]["event_type"] == "notification.sent" and sent[0]["attempts"] == 1
        # 5xx on RCPT: permanent, reported at once, never retried.
        gone = await notifier.outcomes_for(refused.tracking_id, 1)
        assert gone[0]["event_type"] == "notification.failed"
        assert (gone[0]["attempts"], gone[0]["error"]) == (1, "SMTPRecipientsRefused 550")
        # 4xx on RCPT: transient, until the attempts are spent.
        failed = await notifier.outcomes_for(stuck.tracking_id, 1, timeout=30)
        assert failed[0]["event_type"] == "notification.failed"
        assert failed[0]["attempts"] == MAX_ATTEMPTS
        assert failed[0]["error"] == "SMTPRecipientsRefused 451"
    finally:
        notifier.mailbox.refuse_recipient(stuck.email, None)
        notifier.mailbox.refuse_recipient(refused.email, None)
    assert notifier.mails_for(stuck.tracking_id) == []
    assert notifier.mails_for(refused.tracking_id) == []
    assert notifier.metric("lapor_notifier_failed_total", channel="email",
                           template="acknowledgement") >= 2


async def test_sms_gateway_500_is_retried_400_is_not(notifier: NotifierSystem) -> None:
    retried = Complaint(phone="+6281355500500")
    notifier.gateway.answer(500)
    await notifier.publish(retried, retried.received())
    outcome = (await notifier.outcomes_for(retried.tracking_id, 1))[0]
    assert (outcome["event_type"], outcome["channel"], outcome["attempts"]) == (
        "notification.sent", "sms", 2)
    assert len(notifier.requests_to(retried.phone)) == 2
    accepted = notifier.sms_to(retried.phone)
    assert len(accepted) == 1 and accepted[0]["reference"] == outcome["notification_id"]

    rejected = Complaint(phone="+6281344400400")
    notifier.gateway.answer(400)
    await notifier.publish(rejected, rejected.received())
    outcome = (await notifier.outcomes_for(rejected.tracking_id, 1))[0]
    assert (outcome["event_type"], outcome["attempts"], outcome["error"]) == (
        "notification.failed", 1, "SmsGatewayError 400")
    await asyncio.sleep(0.5)  # many worker rounds: still no second request
    assert len(notifier.requests_to(rejected.phone)) == 1
    assert notifier.sms_to(rejected.phone) == []


async def test_metrics_by_channel_and_template(notifier: NotifierSystem) -> None:
    complaint = Complaint(email="ukur.ukur@example.id", phone="+6281366600600")
    nobody = Complaint()
    await notifier.publish(complaint, complaint.received())
    await notifier.publish(nobody, nobody.received())
    await notifier.outcomes_for(complaint.tracking_id, 2)
    await notifier.outcomes_for(nobody.tracking_id, 1)
    for channel in ("email", "sms"):
        assert notifier.metric("lapor_notifier_sent_total", channel=channel,
                               template="acknowledgement") >= 1
        assert notifier.metric("lapor_notifier_delivery_latency_seconds_count",
                               channel=channel) >= 1
        assert notifier.metric("lapor_notifier_acknowledgement_latency_seconds_count",
                               channel=channel) >= 1
    assert notifier.metric("lapor_notifier_retried_total", channel="sms",
                           template="acknowledgement") >= 1
    assert notifier.metric("lapor_notifier_failed_total", channel="sms",
                           template="acknowledgement") >= 1
    assert notifier.metric("lapor_notifier_skipped_total", template="acknowledgement",
                           reason="no_contact") >= 1
    await eventually(lambda: notifier.metric("lapor_notifier_retry_queue") == 0,
                     message="empty retry queue")
    assert "lapor_notifier_retry_queue " in notifier.metrics()
