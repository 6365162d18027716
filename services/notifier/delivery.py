"""Delivering ledger entries: claim, render, send, record the outcome, publish it.

Runs in a background worker, never in the consumer: a slow or failing SMTP server or SMS
gateway delays only the notifications that wait for it, never the partition.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from pydantic import BaseModel

from services.notifier import metrics
from services.notifier.adapters.ledger import Ledger
from services.notifier.adapters.sms_gateway import SmsGateway
from services.notifier.adapters.smtp import SmtpSender, build_email
from services.notifier.domain.context import build_context
from services.notifier.domain.delivery_policy import (
    FailureKind,
    classify_http,
    classify_smtp,
    next_attempt_at,
)
from services.notifier.domain.planning import (
    AgencyContact,
    PlannedNotification,
    message_id,
)
from services.notifier.domain.templates import render
from shared.clock import Clock
from shared.contract import (
    ComplaintReceived,
    Language,
    NotificationFailed,
    NotificationSent,
    NotificationSkipped,
)
from shared.contract.events import EVENT_TYPES
from shared.settings import Settings
from shared.topics import Topics

log = structlog.get_logger("notifier.delivery")

PublishAll = Callable[[Sequence[tuple[BaseModel, str]]], Awaitable[None]]
LEASE = timedelta(seconds=60)
_EVENT_NAMESPACE = uuid.UUID("0b8f6f1e-93a6-4c1c-8d0a-2f4f8f7c0c11")
OUTCOME_EVENTS = {"sent": NotificationSent, "failed": NotificationFailed,
                  "skipped": NotificationSkipped}


def outcome_event(doc: dict[str, Any]) -> BaseModel:
    state = doc["state"]
    return OUTCOME_EVENTS[state](
        event_id=str(uuid.uuid5(_EVENT_NAMESPACE, f"{doc['_id']}/{state}")),
        occurred_at=_aware(doc.get("finished_at")) or datetime.now(UTC),
        tracking_id=doc["tracking_id"], notification_id=doc["_id"],
        source_event_id=doc["source_event_id"], channel=doc.get("channel"),
        recipient=doc.get("recipient_masked", ""), template=doc["template"],
        attempts=doc.get("attempts", 0), error=doc.get("last_error"))


def _aware(moment: datetime | None) -> datetime | None:
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


class Deliverer:
    def __init__(self, *, ledger: Ledger, smtp: SmtpSender, sms: SmsGateway,
                 publish_all: PublishAll, topics: Topics, settings: Settings, clock: Clock,
                 agencies: dict[str, AgencyContact], secret_for: Callable[[str], str]) -> None:
        self.ledger = ledger
        self.smtp = smtp
        self.sms = sms
        self.publish_all = publish_all
        self.topics = topics
        self.settings = settings
        self.clock = clock
        self.agencies = agencies
        self.secret_for = secret_for
        self.wake = asyncio.Event()
        self.domain = settings.smtp_from.rsplit("@", 1)[-1].strip(" >") or "lapor.local"
        self._semaphore = asyncio.Semaphore(settings.notify_concurrency)

    # -- the worker -----------------------------------------------------------------------
    async def run_forever(self) -> None:
        while True:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # database or broker away: try again next round
                log.warning("delivery round failed", error_type=type(exc).__name__)
            try:
                await asyncio.wait_for(self.wake.wait(), self.settings.notify_poll_seconds)
            except TimeoutError:
                pass
            self.wake.clear()

    async def run_once(self) -> int:
        """Deliver everything due, then report finished outcomes not yet published."""
        delivered = 0
        while True:
            ids = await self.ledger.due_ids(self.clock.now(), 200)
            if not ids:
                break
            await asyncio.gather(*(self.deliver(nid) for nid in ids))
            delivered += len(ids)
            if len(ids) < 200:
                break
        await self.report()
        return delivered

    async def report(self) -> None:
        docs = await self.ledger.unreported(500)
        if docs:
            await self.publish_all([(outcome_event(d), self.topics.notifications) for d in docs])
            for doc in docs:
                await self.ledger.mark_reported(doc["_id"])

    # -- one notification -----------------------------------------------------------------
    async def deliver(self, notification_id: str) -> None:
        async with self._semaphore:
            doc = await self.ledger.claim(notification_id, self.clock.now(), LEASE)
            if doc is None:
                return  # someone else has it, or it is done
            try:
                await self._send(doc)
            except Exception as exc:
                await self._failed(doc, exc)
                return
            now = self.clock.now()
            await self.ledger.finish(notification_id, "sent", now)
            metrics.SENT.labels(doc["channel"], doc["template"]).inc()
            source_at = _aware(doc.get("source_occurred_at"))
            if source_at is not None:
                metrics.DELIVERY_LATENCY.labels(doc["channel"]).observe(
                    max((now - source_at).total_seconds(), 0.0))
            log.info("notification sent", notification_id=notification_id,
                     channel=doc["channel"], template=doc["template"],
                     tracking_id=doc["tracking_id"])

    async def _send(self, doc: dict[str, Any]) -> None:
        rendered = render(doc["template"], doc["language"], self._context(doc))
        if doc["channel"] == "email":
            message = build_email(
                sender=self.settings.smtp_from, to=doc["recipient"],
                subject=rendered.email.subject, text=rendered.email.text,
                html=rendered.email.html, message_id=message_id(doc["_id"], self.domain),
                tracking_id=doc["tracking_id"], language=doc["language"])
            await self.smtp.send(message)
        else:
            assert rendered.sms is not None
            await self.sms.send(doc["recipient"], rendered.sms.text, doc["_id"])

    def _context(self, doc: dict[str, Any]) -> dict[str, object]:
        data = dict(doc["event"])
        if data.get("event_type") == ComplaintReceived.EVENT_TYPE:
            # Stores never keep the secret: derive it again for the acknowledgement.
            data["citizen_secret"] = self.secret_for(doc["tracking_id"])
        event = EVENT_TYPES[data["event_type"]].model_validate(data)
        planned = PlannedNotification(
            doc["_id"], doc["source_event_id"], doc["tracking_id"], doc["channel"],
            doc["recipient"], doc["template"], Language(doc["language"]), doc["audience"])
        return build_context(event, planned, agencies=self.agencies,  # type: ignore[arg-type]
                             public_base_url=self.settings.public_base_url,
                             title=doc.get("title"))

    async def _failed(self, doc: dict[str, Any], exc: Exception) -> None:
        kind = (classify_smtp(exc) if doc["channel"] == "email" else classify_http(
            getattr(exc, "status", exc)))
        code = getattr(exc, "status", None) or getattr(exc, "code", None)
        error = f"{type(exc).__name__} {code}" if code else type(exc).__name__
        attempts = int(doc.get("attempts", 1))
        now = self.clock.now()
        if kind is FailureKind.PERMANENT or attempts >= self.settings.notify_max_attempts:
            await self.ledger.finish(doc["_id"], "failed", now, error)
            metrics.FAILED.labels(doc["channel"], doc["template"]).inc()
            log.warning("notification failed", notification_id=doc["_id"],
                        error=error, attempts=attempts, permanent=kind is FailureKind.PERMANENT)
            return
        at = next_attempt_at(attempts, now, base=timedelta(
            seconds=self.settings.notify_retry_base_seconds),
            cap=timedelta(seconds=self.settings.notify_retry_max_seconds),
            jitter=random.uniform)
        await self.ledger.retry_later(doc["_id"], at, error)
        metrics.RETRIED.labels(doc["channel"], doc["template"]).inc()
        log.info("notification will be retried", notification_id=doc["_id"], error=error,
                 attempts=attempts, retry_at=at.isoformat())
