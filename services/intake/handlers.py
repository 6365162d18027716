"""Intake's application layer: a batch of raw submissions in, complaints stored and
`complaint.received` / `submission.rejected` out. Thin over the domain functions."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from services.intake import metrics
from services.intake.adapters.complaints import ComplaintStore
from services.intake.domain.complaint import derived_event_id, received_event, stored_event
from shared.clock import Clock
from shared.codec import NotAJsonObject, parse_object
from shared.consumer import DeadLetter, InboundRecord
from shared.contract import ComplaintReceived, FieldError, Submission, SubmissionRejected
from shared.topics import Topics

Validate = Callable[[object], "Submission | list[FieldError]"]
PublishAll = Callable[[Sequence[tuple[BaseModel, str]]], Awaitable[None]]
ReadableReference = Callable[[object], tuple[str | None, str | None]]


@dataclass
class Accepted:
    record: InboundRecord
    submission: Submission
    received_at_monotonic: float

    @property
    def key(self) -> str:
        return self.submission.idempotency_key


class Intake:
    def __init__(self, *, store: ComplaintStore, publish_all: PublishAll, topics: Topics,
                 validate: Validate, readable_reference: ReadableReference,
                 new_tracking_id: Callable[[], str],
                 citizen_secret: Callable[[str], str],
                 hash_secret: Callable[[str, str], str], clock: Clock) -> None:
        self.store = store
        self.publish_all = publish_all
        self.topics = topics
        self.validate = validate
        self.readable_reference = readable_reference
        self.new_tracking_id = new_tracking_id
        self.citizen_secret = citizen_secret
        self.hash_secret = hash_secret
        self.clock = clock

    async def handle(self, records: Sequence[InboundRecord]) -> list[DeadLetter]:
        dead: list[DeadLetter] = []
        rejections: list[tuple[BaseModel, str]] = []
        accepted: dict[str, Accepted] = {}  # first copy of each submission key in the batch
        for record in records:
            started = time.perf_counter()
            try:
                data = parse_object(record.value)
            except NotAJsonObject as exc:
                metrics.SUBMISSIONS_DEAD_LETTERED.inc()
                dead.append(DeadLetter(record, str(exc), "not_json_object"))
                continue
            result = self.validate(data)
            if isinstance(result, list):
                rejections.append((self._rejection(record, data, result), self.topics.rejected))
                continue
            metrics.SUBMISSIONS_RECEIVED.labels(result.channel.value).inc()
            accepted.setdefault(result.idempotency_key, Accepted(record, result, started))

        received = await self._store(list(accepted.values()))
        await self.publish_all(rejections + [(e, self.topics.received) for e in received])
        await self.store.mark_published([e.tracking_id for e in received])
        for event in received:
            item = accepted[f"{event.channel}:{event.channel_ref}"]
            metrics.PROCESSING_SECONDS.observe(time.perf_counter() - item.received_at_monotonic)
        return dead

    def _rejection(self, record: InboundRecord, data: Any,
                   errors: list[FieldError]) -> SubmissionRejected:
        channel, channel_ref = self.readable_reference(data)
        for error in errors:
            metrics.SUBMISSIONS_REJECTED.labels(error.code).inc()
        return SubmissionRejected(
            event_id=derived_event_id(record.topic, record.partition, record.offset, "rejected"),
            channel=channel, channel_ref=channel_ref, errors=errors, occurred_at=self.clock.now())

    async def _store(self, items: list[Accepted]) -> list[ComplaintReceived]:
        """Store new complaints; return every event still to publish (new ones, and stored
        ones whose publication a crash interrupted), each with its original event_id."""
        to_publish: list[ComplaintReceived] = []
        pending = items
        while pending:
            events = {item.key: self._new_event(item) for item in pending}
            outcome = await self.store.insert_new(
                [self._document(item, events[item.key]) for item in pending])
            to_publish += [events[key] for key in outcome.inserted]
            metrics.DUPLICATE_SUBMISSIONS.inc(len(outcome.existing))
            for key in outcome.inserted:
                metrics.COMPLAINTS_ACCEPTED.labels(events[key].channel.value).inc()
            if outcome.existing:
                stored = await self.store.find_by_submission_keys(outcome.existing)
                to_publish += [self._republish(doc) for doc in stored.values()
                               if not doc.get("published")]
            # A freshly drawn tracking id was taken (rare): draw again for those.
            pending = [item for item in pending if item.key in set(outcome.tracking_id_clashes)]
        return to_publish

    def _new_event(self, item: Accepted) -> ComplaintReceived:
        tracking_id = self.new_tracking_id()
        record = item.record
        return received_event(
            item.submission, tracking_id, self.citizen_secret(tracking_id), self.clock.now(),
            event_id=derived_event_id(record.topic, record.partition, record.offset, "received"))

    def _document(self, item: Accepted, event: ComplaintReceived) -> dict[str, Any]:
        submission = item.submission
        return {
            "_id": event.tracking_id,
            "submission_key": item.key,
            "channel": submission.channel.value,
            "category": submission.category,
            "region_code": submission.region_code,
            "received_at": event.occurred_at,
            "citizen_secret_hash": self.hash_secret(event.tracking_id, event.citizen_secret),
            "event": stored_event(event),
            "published": False,
        }

    def _republish(self, document: dict[str, Any]) -> ComplaintReceived:
        tracking_id = document["_id"]
        return ComplaintReceived.model_validate(
            {**document["event"], "citizen_secret": self.citizen_secret(tracking_id)})
