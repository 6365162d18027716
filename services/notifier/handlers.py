"""The notifier's consumer side: events in -> notifications planned in the ledger.

Planning is pure (`domain.planning`); the ledger's unique ids make redelivery a no-op.
Delivery happens in the background worker (`delivery.Deliverer`), woken after each batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import structlog

from services.notifier import metrics
from services.notifier.adapters.ledger import Ledger
from services.notifier.delivery import Deliverer, Planned
from services.notifier.domain.planning import (
    AgencyContact,
    PlannedNotification,
    ReporterContact,
    SkippedNotification,
    plan_notifications,
)
from shared.citizen_secret import normalise_citizen_secret
from shared.clock import Clock
from shared.consumer import DeadLetter, InboundRecord, decode_events
from shared.contract import (
    ComplaintReceived,
    ComplaintStatusChanged,
    Envelope,
    Language,
    SlaBreached,
    SlaWarning,
)

log = structlog.get_logger("notifier")

Plannable = ComplaintReceived | ComplaintStatusChanged | SlaWarning | SlaBreached


def stored_event(event: Envelope) -> dict[str, Any]:
    """What the ledger keeps of the source event: never the citizen secret or the reporter."""
    return event.model_dump(mode="json", exclude={"citizen_secret", "reporter"})


class Notifier:
    def __init__(self, *, ledger: Ledger, deliverer: Deliverer, clock: Clock,
                 agencies: dict[str, AgencyContact], sms_enabled: bool,
                 secret_for: Callable[[str], str] | None = None) -> None:
        self.ledger = ledger
        self.deliverer = deliverer
        self.clock = clock
        self.agencies = agencies
        self.sms_enabled = sms_enabled
        self.secret_for = secret_for

    async def handle(self, records: Sequence[InboundRecord]) -> list[DeadLetter]:
        decoded, dead = decode_events(records, Plannable)
        events: list[Plannable] = [event for _, event in decoded]
        if not events:
            return dead
        received = [e for e in events if isinstance(e, ComplaintReceived)]
        # Contacts first, deferred events second; the other side (an event arriving before
        # its complaint) defers first and looks for contacts second. Whatever the timing of
        # two concurrent batches, one of them sees the other's write.
        own = {e.tracking_id: self._contact(e) for e in received}
        await self.ledger.save_contacts(list(own.values()))
        waited = await self.ledger.take_deferred(list(own))
        events += waited
        # The contacts of complaints received in this batch are at hand; only the others'
        # are looked up (a complaint's events often share its batch).
        others = list({e.tracking_id for e in events} - own.keys())
        contacts = {**(await self.ledger.contacts_for(others) if others else {}), **own}
        documents, deferred = self._plan(events, contacts)
        await self.ledger.defer([(e.event_id, e.tracking_id, e.model_dump(mode="json"))
                                 for e in deferred])
        if deferred:
            late = await self.ledger.contacts_for(list({e.tracking_id for e in deferred}))
            if late:
                caught = [e for e in deferred if e.tracking_id in late]
                more, _ = self._plan(caught, late)
                documents += more
                waited += caught
        documents = list({d["_id"]: d for d in documents}.values())  # one plan per id
        claim = self.deliverer.claim_on_insert(documents, self.clock.now())
        await self.ledger.open_claim(claim)
        new = set(await self.ledger.record(documents))
        await self.ledger.forget_deferred([e.event_id for e in waited])
        fresh = [d for d in documents if d["_id"] in new]
        self._count(fresh)
        self.deliverer.hand_over(claim, new)
        if any(d["state"] == "pending" for d in fresh):
            self.deliverer.ledger_backlog = True  # more than the queues took:
            self.deliverer.wake.set()  # the fetcher gets them
        if any(d["state"] != "pending" for d in fresh):
            self.deliverer.finished.set()  # skipped or failed at once: report it
        return dead

    def _plan(self, events: Sequence[Plannable], contacts: dict[str, dict[str, Any]]
              ) -> tuple[list[dict[str, Any]], list[Plannable]]:
        """Ledger documents for events whose complaint is known; the others, to defer."""
        documents: list[dict[str, Any]] = []
        deferred: list[Plannable] = []
        for event in events:
            stored = contacts.get(event.tracking_id)
            if stored is None and not isinstance(event, ComplaintReceived):
                deferred.append(event)
                continue
            reporter = None
            if stored is not None:
                reporter = ReporterContact(stored.get("email"), stored.get("phone"),
                                           Language(stored.get("language", "id")),
                                           bool(stored.get("anonymous")))
            plan = plan_notifications(event, reporter=reporter, agencies=self.agencies,
                                      sms_enabled=self.sms_enabled)
            title = stored.get("title") if stored else None
            secret_error, as_sent = self._secret_check(event)
            documents += [self._planned(event, p, title, secret_error,
                                        source=event if as_sent else None)
                          for p in plan.planned]
            documents += [self._skipped(event, s) for s in plan.skipped]
        return documents, deferred

    def _secret_check(self, event: Plannable) -> tuple[str | None, bool]:
        """`(error, as_sent)`. The acknowledgement's secret is derived again at delivery
        (stores keep none). If this notifier's key would give another secret than intake's,
        sending would hand the citizen a useless code: the error fails the acknowledgement
        visibly instead. `as_sent`: the event renders as delivery would render its stored
        copy (an acknowledgement's secret, exactly as it came, is the derived one)."""
        if not isinstance(event, ComplaintReceived):
            return None, True
        if self.secret_for is None:
            return None, False
        derived = self.secret_for(event.tracking_id)
        expected = normalise_citizen_secret(event.citizen_secret)
        if expected is not None and expected == derived:
            return None, event.citizen_secret == derived
        log.error("citizen secret does not match LAPOR_CITIZEN_SECRET_KEY; the "
                  "acknowledgement is not sent", tracking_id=event.tracking_id)
        return "citizen_secret_mismatch", False

    @staticmethod
    def _count(new_documents: Iterable[dict[str, Any]]) -> None:
        """Count outcomes decided at planning time, once (redelivery plans them again)."""
        for doc in new_documents:
            if doc["state"] == "skipped":
                metrics.SKIPPED.labels(doc["template"], doc["last_error"]).inc()
            elif doc["state"] == "failed":
                metrics.FAILED.labels(doc["channel"], doc["template"]).inc()

    def _contact(self, event: ComplaintReceived) -> dict[str, Any]:
        reporter = event.reporter
        return {"_id": event.tracking_id, "email": reporter.email, "phone": reporter.phone,
                "language": reporter.language.value, "anonymous": reporter.anonymous,
                "title": event.title, "category": event.category}

    def _base(self, event: Plannable, notification_id: str) -> dict[str, Any]:
        return {"_id": notification_id, "source_event_id": event.event_id,
                "tracking_id": event.tracking_id, "source_occurred_at": event.occurred_at,
                "created_at": self.clock.now(), "attempts": 0}

    def _planned(self, event: Plannable, planned: PlannedNotification,
                 title: str | None, error: str | None = None, *,
                 source: Plannable | None = None) -> dict[str, Any]:
        document = Planned({**self._base(event, planned.notification_id),
                            "channel": planned.channel, "recipient": planned.recipient,
                            "recipient_masked": planned.masked_recipient,
                            "template": planned.template.value,
                            "language": planned.language.value,
                            "audience": planned.audience, "state": "pending",
                            "next_attempt_at": self.clock.now(), "event": stored_event(event),
                            "title": title})
        document.source = source
        if error is not None:
            document |= {"state": "failed", "last_error": error,
                         "finished_at": self.clock.now()}
            del document["next_attempt_at"]
        return document

    def _skipped(self, event: Plannable, skipped: SkippedNotification) -> dict[str, Any]:
        return {**self._base(event, skipped.notification_id), "channel": None,
                "template": skipped.template.value, "audience": skipped.audience,
                "state": "skipped", "last_error": skipped.reason,
                "finished_at": self.clock.now()}
