"""Delivering ledger entries: claim, render, send, record the outcome, publish it.

Runs in a background worker, never in the consumer: a slow or failing SMTP server or SMS
gateway delays only the notifications that wait for it, never the partition. Each channel
has its own pool of in-flight sends, refilled as soon as one finishes, so an SMS gateway
outage (every send waiting for its timeout) never holds back e-mail, and a failed attempt
goes back to the ledger with a due time instead of occupying a slot while it waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parseaddr
from typing import Any

import structlog
from pydantic import BaseModel

from services.notifier import metrics
from services.notifier.adapters.ledger import Claim, Ledger
from services.notifier.adapters.sms_gateway import SmsGateway
from services.notifier.adapters.smtp import SmtpSender, build_email
from services.notifier.domain.context import build_context
from services.notifier.domain.delivery_policy import (
    FailureKind,
    classify_http,
    classify_smtp,
    describe_failure,
    next_attempt_at,
    should_give_up,
)
from services.notifier.domain.planning import (
    AgencyContact,
    PlannedNotification,
    message_id,
)
from services.notifier.domain.templates import render
from services.notifier.recording import OutcomeRecorder
from shared.clock import Clock, as_utc
from shared.contract import (
    ComplaintReceived,
    Language,
    NotificationFailed,
    NotificationSent,
    NotificationSkipped,
)
from shared.contract.events import EVENT_TYPES
from shared.name_ids import name_based_id
from shared.sampling import SampleSchedule
from shared.settings import Settings
from shared.topics import Topics

log = structlog.get_logger("notifier.delivery")

PublishAll = Callable[[Sequence[tuple[BaseModel, str]]], Awaitable[None]]
CHANNELS = ("email", "sms")
_EVENT_NAMESPACE = uuid.UUID("0b8f6f1e-93a6-4c1c-8d0a-2f4f8f7c0c11")
OUTCOME_EVENTS = {"sent": NotificationSent, "failed": NotificationFailed,
                  "skipped": NotificationSkipped}
REPORT_BATCH = 500
CLOSE_CLAIMS_AT = 100  # resolved claims closed at once between the reporter's rounds
QUEUE_SAMPLE_SECONDS = 1.0
HANDOFF_DEPTH_PER_WORKER = 20  # at least this many new notifications queued per worker


def outcome_event(doc: dict[str, Any]) -> BaseModel:
    """The `notifications.events` record of a finished notification. Its event id derives
    from the notification id and outcome, so a re-publish (crash before `mark_reported`)
    is recognisable as the same event."""
    state = doc["state"]
    return OUTCOME_EVENTS[state](
        event_id=name_based_id(_EVENT_NAMESPACE, f"{doc['_id']}/{state}"),
        occurred_at=as_utc(doc.get("finished_at")) or datetime.now(UTC),
        tracking_id=doc["tracking_id"], notification_id=doc["_id"],
        source_event_id=doc["source_event_id"], channel=doc.get("channel"),
        recipient=doc.get("recipient_masked", ""), template=doc["template"],
        attempts=doc.get("attempts", 0), error=doc.get("last_error"))


class Planned(dict[str, Any]):
    """A new notification's ledger document, planned in this process, with the event it was
    planned from (`source`: in memory only, never stored). Delivered from the hand-over, it
    is rendered from that event instead of from the document's copy, which would be
    validated again and, for an acknowledgement, need its secret derived again. `source` is
    set only where the event renders the same: an acknowledgement's only when its secret
    is the one delivery would derive. Documents read back from the ledger are plain."""

    source: BaseModel | None = None


@dataclass
class _Held:
    """A batch claim this instance holds: what of it is still unresolved. Once nothing is
    (every notification finished, due again or given back) the claim is closed; one left
    unresolved (the database went away mid-attempt) keeps it until its lease lapses and
    the takeover makes the notification due again."""

    lease_until: datetime
    outstanding: set[str] = field(default_factory=set)
    broken: bool = False


def message_id_domain(smtp_from: str) -> str:
    """The right-hand side of Message-IDs: the sender's domain (`LAPOR_SMTP_FROM`)."""
    _, at, domain = parseaddr(smtp_from)[1].rpartition("@")
    domain = domain.strip().lower()
    if not at or not domain or any(ch in domain for ch in "<>@ \t\r\n"):
        return "lapor.local"
    return domain


class Deliverer:
    """Four kinds of tasks while the service runs:

    - new notifications come straight from the consumer (`claim_on_insert`, `hand_over`):
      inserted already claimed by this instance, as many as its queues take, so the
      common path reads nothing back from the ledger;
    - a fetcher (`run_forever`) that keeps each channel's local queue topped up with due
      ledger ids: retries, lapsed claims of a dead instance, what did not fit at hand-over
      (woken by the consumer, by workers, or every poll);
    - per channel, `notify_concurrency` workers that send one notification at a time (an
      SMS gateway hanging on timeouts occupies only the SMS workers) and hand the outcome
      to the recorder, which publishes and writes outcomes in batches;
    - a reporter that publishes outcomes written unreported, takes over the lapsed
      claims of dead instances, closes resolved claims and samples the retry queue.
    """

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
        self.wake = asyncio.Event()  # more may be due: fetch
        # Set when the ledger may hold due notifications beyond what the queues hold (the
        # consumer could not hand all over, a fetch filled its room): then a worker that
        # frees a slot wakes the fetcher. Otherwise only the poll looks (retries, lapsed).
        self.ledger_backlog = True
        self.finished = asyncio.Event()  # an outcome was written unreported: publish it
        self.domain = message_id_domain(settings.smtp_from)
        # A claim outlives the slowest send (aiosmtplib's timeout is per command).
        self.lease = timedelta(seconds=max(60.0, 6 * settings.smtp_timeout_seconds))
        self.workers_per_channel = settings.notify_concurrency
        # Ids fetched ahead, per channel, so workers never wait for a database round trip.
        self.prefetch = 2 * self.workers_per_channel
        self._queues: dict[str, asyncio.Queue[dict[str, Any] | None]] = {
            c: asyncio.Queue() for c in CHANNELS}
        self._known: dict[str, set[str]] = {c: set() for c in CHANNELS}  # queued or sending
        self._held: dict[str, _Held] = {}  # batch claims by token
        self._closable: list[str] = []  # tokens of resolved claims, to delete
        # New notifications queued at insert, per channel, before the ledger keeps them.
        # Deep, whatever the number of workers: what does not fit goes the ledger's way
        # (due query, a claim per document, queue entries), several times the database
        # work per notification; a claim that waits past half its lease is given back.
        self.handoff_depth = max(settings.notify_handoff_depth,
                                 HANDOFF_DEPTH_PER_WORKER * self.workers_per_channel)
        self._queue_sampling = SampleSchedule(QUEUE_SAMPLE_SECONDS)
        self.recorder = OutcomeRecorder(ledger=ledger, publish_all=publish_all,
                                        topic=topics.notifications, event_of=outcome_event,
                                        retry_for=self.lease.total_seconds() / 2,
                                        on_unreported=self.finished.set,
                                        after_batch=self._close_many_claims)

    # -- new notifications, straight from the consumer -------------------------------------
    def claim_on_insert(self, documents: Sequence[dict[str, Any]], now: datetime) -> Claim:
        """Mark as many new pending documents as this instance's queues can take as
        claimed by one batch claim (before they are inserted, after the claim is opened):
        the insert is then the claim."""
        claim = Claim.new(now, self.lease)
        room = {c: self.handoff_depth - len(self._known[c]) for c in CHANNELS}
        for doc in documents:
            if doc.get("state") != "pending" or room.get(doc.get("channel") or "", 0) <= 0:
                continue
            room[doc["channel"]] -= 1
            doc.update(state="sending", claim=claim.token, attempts=doc.get("attempts", 0) + 1)
            doc.pop("next_attempt_at", None)
            claim.documents.append(doc)
        return claim

    def hand_over(self, claim: Claim, new: set[str]) -> None:
        """Queue the notifications claimed at insert whose insert was new (a redelivered
        one belongs to an earlier claim)."""
        self._hold(claim, [doc for doc in claim.documents if doc["_id"] in new])

    def _hold(self, claim: Claim, documents: Sequence[dict[str, Any]]) -> None:
        if not claim.documents:
            return
        held = self._held[claim.token] = _Held(claim.lease_until, {d["_id"] for d in documents})
        if not held.outstanding:
            self._resolve(claim.token)
        for doc in documents:
            self._known[doc["channel"]].add(doc["_id"])
            self._queues[doc["channel"]].put_nowait(doc)

    def _resolve(self, token: str, nid: str | None = None, *, resolved: bool = True) -> None:
        held = self._held.get(token)
        if held is None:
            return
        if nid is not None:
            held.outstanding.discard(nid)
            held.broken = held.broken or not resolved
        if not held.outstanding:
            del self._held[token]
            if not held.broken:
                self._closable.append(token)

    async def _close_many_claims(self) -> None:
        """Between the reporter's rounds (after an outcome batch, or when outcomes wake the
        reporter): close claims only once many are resolved. The reporter closes the rest
        once per poll interval; a resolved claim waiting meanwhile costs nothing (its lease
        outlasts that by far, and a lapsed claim whose notifications are all finished
        leaves nothing due). At 200 complaints/s closing at every wake-up was 2,800
        deletes in a 100 s run."""
        if len(self._closable) >= CLOSE_CLAIMS_AT:
            await self.close_claims()

    async def close_claims(self) -> None:
        """Delete the claims whose notifications are all resolved (one statement)."""
        if not self._closable:
            return
        tokens, self._closable = self._closable, []
        try:
            await self.ledger.close_claims(tokens)
        except Exception:
            self._closable += tokens  # next round
            raise

    async def take_over(self) -> int:
        """Make what lapsed claims (a dead instance's) left unfinished due again."""
        due_again = await self.ledger.take_over_lapsed(self.clock.now())
        if due_again:
            log.warning("took over lapsed claims", due_again=due_again)
            self.ledger_backlog = True
            self.wake.set()
        return due_again

    # -- the worker -----------------------------------------------------------------------
    async def run_forever(self) -> None:
        workers = [asyncio.create_task(self._work(channel), name=f"notify-{channel}-{i}")
                   for channel in CHANNELS for i in range(self.workers_per_channel)]
        reporter = asyncio.create_task(self._report_forever(), name="notify-report")
        recorder = asyncio.create_task(self.recorder.run_forever(), name="notify-record")
        try:
            while True:
                self.wake.clear()
                try:
                    await self.fetch()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # database away: try again next round
                    log.warning("fetching due notifications failed",
                                error_type=type(exc).__name__)
                await self._wait(self.wake)
        finally:
            reporter.cancel()
            await asyncio.gather(reporter, return_exceptions=True)
            await self._stop_workers(workers)
            await self.recorder.drain(min(5.0, self.settings.shutdown_timeout_seconds / 2))
            with contextlib.suppress(Exception):  # else they lapse and are taken over
                await self.close_claims()
            recorder.cancel()  # after the workers: their last outcomes are written
            await asyncio.gather(recorder, return_exceptions=True)

    async def _wait(self, event: asyncio.Event) -> None:
        try:
            await asyncio.wait_for(event.wait(), self.settings.notify_poll_seconds)
        except TimeoutError:
            pass

    async def fetch(self) -> int:
        """Queue claimable ids of each channel up to its prefetch depth; returns how many."""
        queued, backlog = 0, False
        now = self.clock.now()
        for channel in CHANNELS:
            known = self._known[channel]
            room = self.workers_per_channel + self.prefetch - len(known)
            if room < self.workers_per_channel // 2 + 1:
                backlog = True  # plenty queued already: save the query, look again later
                continue
            ids = await self.ledger.due_ids(now, room, channel=channel, exclude=list(known))
            backlog = backlog or len(ids) >= room  # a full answer: there may be more
            # Claimed here, in one go, so workers only send and record.
            claim = await self.ledger.claim_many(ids, now, self.lease)
            self._hold(claim, claim.documents)
            queued += len(claim.documents)
        self.ledger_backlog = backlog
        return queued

    async def _work(self, channel: str) -> None:
        queue = self._queues[channel]
        while True:
            claimed = await queue.get()
            if claimed is None:
                return  # stopping
            nid = claimed["_id"]
            recording, resolved = False, True
            try:
                if self._claim_ageing(claimed):
                    # Queued too long (a slow channel): give it back rather than send it
                    # so late that the lease might lapse and another worker send it too.
                    await self.ledger.release([claimed], self.clock.now())
                    self.ledger_backlog = True
                    continue
                recording = await self.deliver_claimed(claimed)
            except asyncio.CancelledError:
                resolved = False  # cut off at shutdown: its claim lapses
                raise
            except Exception as exc:  # database away mid-delivery: the lease will lapse
                resolved = False
                log.warning("delivery attempt did not complete", notification_id=nid,
                            error_type=type(exc).__name__)
            finally:
                if not recording:  # else released once its outcome is written
                    self._release_known(claimed, resolved=resolved)

    def _claim_ageing(self, claimed: dict[str, Any]) -> bool:
        held = self._held.get(claimed.get("claim") or "")
        return held is not None and held.lease_until - self.clock.now() < self.lease / 2

    async def _stop_workers(self, workers: list[asyncio.Task[None]]) -> None:
        """Give back what is only queued (claimed, never attempted: due again at once for
        the next instance) and let sends under way finish briefly: a send cut off midway
        stays claimed until its lease lapses and may then go out a second time."""
        unattempted: list[dict[str, Any]] = []
        for queue in self._queues.values():
            while not queue.empty():
                item = queue.get_nowait()
                if item is not None:
                    unattempted.append(item)
        try:
            await self.ledger.release(unattempted, self.clock.now())
        except Exception as exc:  # database away: the leases lapse instead
            log.warning("could not release queued notifications",
                        error_type=type(exc).__name__)
        else:
            for doc in unattempted:
                self._release_known(doc)
        for queue in self._queues.values():
            for _ in range(self.workers_per_channel):
                queue.put_nowait(None)
        grace = min(5.0, self.settings.shutdown_timeout_seconds / 2)
        _, pending = await asyncio.wait(workers, timeout=grace)
        for task in pending:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)

    async def _report_forever(self) -> None:
        # Outcomes wake this loop many times a second under load; lapsed claims (leases of
        # a minute or more) are looked for once per poll interval, not on every wake-up.
        poll = timedelta(seconds=self.settings.notify_poll_seconds)
        next_takeover = datetime.min.replace(tzinfo=UTC)
        while True:
            self.finished.clear()
            try:
                await self.report()
                if (now := self.clock.now()) >= next_takeover:
                    next_takeover = now + poll
                    await self.take_over()
                    await self.close_claims()  # all resolved ones, once per round
                else:
                    await self._close_many_claims()
                await self.sample_queue()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # broker or database away: report next round
                log.warning("reporting outcomes failed", error_type=type(exc).__name__)
            await self._wait(self.finished)

    async def report(self) -> int:
        """Publish `notification.*` for finished notifications not yet reported."""
        reported = 0
        while True:
            docs = await self.ledger.unreported(REPORT_BATCH)
            if not docs:
                return reported
            events, ids = [], []
            for doc in docs:
                try:
                    events.append((outcome_event(doc), self.topics.notifications))
                    ids.append(doc["_id"])
                except ValueError as exc:  # never blocks the others: kept aside, with why
                    log.error("outcome event cannot be built", notification_id=doc["_id"],
                              error=str(exc)[:300])
                    await self.ledger.mark_unreportable(doc["_id"], str(exc)[:500])
            await self.publish_all(events)
            await self.ledger.mark_reported(ids)
            reported += len(docs)
            if len(docs) < REPORT_BATCH:
                return reported

    async def sample_queue(self) -> None:
        if self._queue_sampling.due():
            await self._queue_sampling.take(self._count_queue)

    async def _count_queue(self) -> None:
        metrics.RETRY_QUEUE.set(await self.ledger.pending_count())

    # -- one notification -----------------------------------------------------------------
    async def deliver_claimed(self, doc: dict[str, Any]) -> bool:
        """Send one claimed notification; True when its outcome went to the recorder (the
        claim is then released from `_known` once the outcome is written)."""
        try:
            await self._send(doc)
        except Exception as exc:
            return await self._failed(doc, exc)
        now = self.clock.now()
        self.recorder.record(doc, "sent", now,
                             done=lambda written: self._recorded_sent(doc, now, written))
        return True

    def _recorded_sent(self, doc: dict[str, Any], now: datetime, written: bool) -> None:
        self._release_known(doc, resolved=written)
        if not written:
            return
        metrics.SENT.labels(doc["channel"], doc["template"]).inc()
        source_at = as_utc(doc.get("source_occurred_at"))
        if source_at is not None:
            metrics.DELIVERY_LATENCY.labels(doc["channel"]).observe(
                max((now - source_at).total_seconds(), 0.0))
        submitted_at = (doc.get("event") or {}).get("submitted_at")
        if doc["template"] == "acknowledgement" and submitted_at:
            submitted = datetime.fromisoformat(str(submitted_at).replace("Z", "+00:00"))
            metrics.ACKNOWLEDGEMENT_LATENCY.labels(doc["channel"]).observe(
                max((now - submitted).total_seconds(), 0.0))
        log.debug("notification sent", notification_id=doc["_id"],  # the batch's at INFO
                  channel=doc["channel"], template=doc["template"],
                  tracking_id=doc["tracking_id"], attempts=doc.get("attempts"))

    def _release_known(self, doc: dict[str, Any], *, resolved: bool = True) -> None:
        """This worker is done with a claimed notification: `resolved` when its outcome,
        retry or release was written (else its claim must lapse to be taken over)."""
        channel = doc["channel"]
        self._known[channel].discard(doc["_id"])
        self._resolve(doc.get("claim") or "", doc["_id"], resolved=resolved)
        if self.ledger_backlog and self._queues[channel].qsize() < self.workers_per_channel:
            self.wake.set()

    async def _send(self, doc: dict[str, Any]) -> None:
        rendered = render(doc["template"], doc["language"], self._context(doc),
                          for_channel=doc["channel"])
        if doc["channel"] == "email":
            message = build_email(
                sender=self.settings.smtp_from, to=doc["recipient"],
                subject=rendered.email.subject, text=rendered.email.text,
                html=rendered.email.html, message_id=message_id(doc["_id"], self.domain),
                tracking_id=doc["tracking_id"], language=doc["language"])
            await self.smtp.send(message)
        else:
            if rendered.sms is None:
                raise ValueError(f"template {doc['template']} has no SMS form")
            await self.sms.send(doc["recipient"], rendered.sms.text, doc["_id"])

    def _context(self, doc: dict[str, Any]) -> dict[str, object]:
        event = getattr(doc, "source", None)  # planned here: the event itself
        if event is None:
            data = dict(doc["event"])
            if data.get("event_type") == ComplaintReceived.EVENT_TYPE:
                # Stores never keep the secret: derive it again for the acknowledgement (the
                # consumer checked at planning time that this gives the secret intake sent).
                data["citizen_secret"] = self.secret_for(doc["tracking_id"])
            event = EVENT_TYPES[data["event_type"]].model_validate(data)
        planned = PlannedNotification(
            doc["_id"], doc["source_event_id"], doc["tracking_id"], doc["channel"],
            doc["recipient"], doc["template"], Language(doc["language"]), doc["audience"])
        return build_context(event, planned, agencies=self.agencies,  # type: ignore[arg-type]
                             public_base_url=self.settings.public_base_url,
                             title=doc.get("title"))

    async def _failed(self, doc: dict[str, Any], exc: Exception) -> bool:
        """Record a failed attempt: given up (to the recorder: True) or due again later."""
        kind = classify_smtp(exc) if doc["channel"] == "email" else classify_http(exc)
        error = describe_failure(exc)
        attempts = int(doc.get("attempts", 1))
        now = self.clock.now()
        if should_give_up(attempts, self.settings.notify_max_attempts, kind):
            def recorded(written: bool) -> None:
                self._release_known(doc, resolved=written)
                if written:
                    metrics.FAILED.labels(doc["channel"], doc["template"]).inc()

            self.recorder.record(doc, "failed", now, error, done=recorded)
            log.warning("notification failed", notification_id=doc["_id"],
                        channel=doc["channel"], template=doc["template"], error=error,
                        attempts=attempts, permanent=kind is FailureKind.PERMANENT)
            return True
        retry_after = getattr(exc, "retry_after", None)
        cap = timedelta(seconds=self.settings.notify_retry_max_seconds)
        at = next_attempt_at(
            attempts, now, base=timedelta(seconds=self.settings.notify_retry_base_seconds),
            cap=cap, jitter=random.uniform,
            retry_after=min(retry_after, cap) if isinstance(retry_after, timedelta) else None)
        if await self.ledger.retry_later(doc, at, error):
            metrics.RETRIED.labels(doc["channel"], doc["template"]).inc()
        log.info("notification will be retried", notification_id=doc["_id"],
                 channel=doc["channel"], error=error, attempts=attempts,
                 retry_at=at.isoformat())
        return False
