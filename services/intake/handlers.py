"""Intake's application layer: a batch of raw submissions in, complaints stored and
`complaint.received` / `submission.rejected` out. Thin over the domain functions.

Each record of a batch goes through, in arrival order:
1. read: parse and validate; bytes that are no JSON object are dead-lettered, invalid
   submissions answered with every error; copies within the batch collapse;
2. decide: the flood guard (the reporters' contacts' recent complaints, from the window
   of marks kept in memory, adapters/recent_marks.py), tracking id, text sketch and the
   duplicate search against cached roots;
3. store: bulk insert, and the chunk's flood guard marks beside it. The tracking id is
   derived from the submission key, so a redelivered or concurrent copy fails to insert
   (its `_id` is taken by the same submission), and such a copy re-publishes the STORED
   event (same event_id, tracking id and citizen secret) instead of creating a second
   complaint;
4. publish every answer; the consumer commits the offsets only after all of it.
A crash anywhere redelivers the batch, and each step gives the same answer again.

The batch flows through these steps in chunks, as a pipeline: while the database stores
one chunk, intake reads and decides the next, and the broker takes the one before. An
event is published only after its complaint is stored.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any, Protocol

from pydantic import BaseModel

from services.intake import metrics
from services.intake.adapters.complaints import (
    MAX_ATTEMPTS,
    ComplaintStore,
    InsertOutcome,
    TrackingIdFor,
    TrackingIdsExhausted,
)
from services.intake.adapters.contact_marks import Mark
from services.intake.adapters.recent_marks import RecentMarks
from services.intake.domain.complaint import received_event, stored_event
from services.intake.domain.duplicates import Root, TextSketch, flag_possible_duplicates
from services.intake.domain.errors import ErrorCode
from services.intake.domain.rate_limit import admit
from shared.clock import Clock
from shared.codec import NotAJsonObject, parse_object
from shared.consumer import DeadLetter, InboundRecord
from shared.contract import (
    Channel,
    ComplaintReceived,
    FieldError,
    Reporter,
    Submission,
    SubmissionRejected,
)
from shared.topics import Topics
from shared.tracking_id import derived_tracking_id

Validate = Callable[[object], "Submission | list[FieldError]"]
PublishAll = Callable[[Sequence[tuple[BaseModel, str]]], Awaitable[None]]
ReadableReference = Callable[[object], tuple[str | None, str | None]]
ContactKeys = Callable[[Reporter], list[str]]

_CHANNELS = frozenset(c.value for c in Channel)
CHUNK = 100
"""Records per step of the batch pipeline (see the module doc)."""
YIELD_EVERY = 20  # records of CPU work between turns of the event loop
RATE_LIMITED_MESSAGE = "too many complaints from this e-mail address or phone number in the " \
                       "last hour; please try again later"


class Roots(Protocol):
    """The roots of the duplicate search (adapters/duplicate_roots.py)."""

    async def for_buckets(self, buckets: Sequence[Hashable], now: datetime
                          ) -> dict[Hashable, list[Root]]: ...

    def add(self, bucket: Hashable, received_at: datetime, root: Root) -> None: ...


SaveRoots = Callable[[Sequence[tuple[Any, datetime, Root]]], Awaitable[None]]


@dataclass
class Accepted:
    """A valid submission on its way to becoming a complaint."""

    record: InboundRecord
    submission: Submission
    contacts: list[str]
    tracking_id: str = ""
    attempt: int = 0  # which of the submission's tracking ids (see TrackingIdFor)
    sketch: TextSketch | None = None
    duplicate_of: str | None = None

    @property
    def key(self) -> str:
        return self.submission.idempotency_key

    @property
    def bucket(self) -> tuple[str | None, str | None]:
        return self.submission.category, self.submission.region_code


@dataclass
class Tally:
    """Metric increments of one batch, applied once its answers are published (a retried
    batch is not counted twice)."""

    received: Counter[str] = field(default_factory=Counter)
    accepted: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)
    dead_lettered: int = 0
    duplicate_submissions: int = 0
    possible_duplicates: int = 0
    answered: int = 0

    def apply(self, seconds: float) -> None:
        for channel, n in self.received.items():
            metrics.SUBMISSIONS_RECEIVED.labels(channel).inc(n)
        for channel, n in self.accepted.items():
            metrics.COMPLAINTS_ACCEPTED.labels(channel).inc(n)
        for code, n in self.rejected.items():
            metrics.SUBMISSIONS_REJECTED.labels(code).inc(n)
        if self.dead_lettered:
            metrics.SUBMISSIONS_DEAD_LETTERED.inc(self.dead_lettered)
        if self.duplicate_submissions:
            metrics.DUPLICATE_SUBMISSIONS.inc(self.duplicate_submissions)
        if self.possible_duplicates:
            metrics.POSSIBLE_DUPLICATES.inc(self.possible_duplicates)
        for _ in range(self.answered):
            metrics.PROCESSING_SECONDS.observe(seconds)


class Intake:
    def __init__(self, *, store: ComplaintStore, marks: RecentMarks, roots: Roots,
                 save_roots: SaveRoots, publish_all: PublishAll,
                 topics: Topics, validate: Validate, readable_reference: ReadableReference,
                 tracking_id_key: Callable[[], Awaitable[bytes]],
                 citizen_secret: Callable[[str], str],
                 hash_secret: Callable[[str, str], str], contact_keys: ContactKeys,
                 rate_limit_per_hour: int | None, clock: Clock,
                 after_store: Callable[[], None] | None = None) -> None:
        self.store = store
        self.marks = marks
        self.roots = roots
        self.save_roots = save_roots
        self.publish_all = publish_all
        self.topics = topics
        self.validate = validate
        self.readable_reference = readable_reference
        self.tracking_id_key = tracking_id_key
        self.tracking_id_for: TrackingIdFor | None = None  # once the key is read: `prepare`
        self.citizen_secret = citizen_secret
        self.hash_secret = hash_secret
        self.contact_keys = contact_keys
        self.rate_limit = rate_limit_per_hour
        self.clock = clock
        self.after_store = after_store  # test-only crash hook (see app.py)

    async def prepare(self) -> TrackingIdFor:
        """Read (or draw) the deployment's tracking id key, once."""
        if self.tracking_id_for is None:
            self.tracking_id_for = partial(derived_tracking_id, await self.tracking_id_key())
        return self.tracking_id_for

    async def handle(self, records: Sequence[InboundRecord]) -> list[DeadLetter]:
        await self.prepare()
        started = time.perf_counter()
        run = _BatchRun(self, self.clock.now())
        chunks = [records[i:i + CHUNK] for i in range(0, len(records), CHUNK)]
        # Three chunks in flight: chunk i is read (while the database works), chunk i-1
        # decided and sent to the database, then chunk i-2's insert settled and its answers
        # published. The database always has the next insert queued.
        read: _Chunk | None = None
        stored: _Chunk | None = None
        try:
            for records_chunk in [*chunks, None, None]:
                reading = await run.read(records_chunk) if records_chunk is not None else None
                storing = await run.decide_and_store(read) if read is not None else None
                if stored is not None:
                    await run.settle_and_publish(stored)
                read, stored = reading, storing
            await run.finish()
        finally:
            run.cancel()
        run.tally.apply(time.perf_counter() - started)
        metrics.FLOOD_GUARD_MARKS.set(self.marks.size)
        if forgotten := self.marks.take_forgotten():
            metrics.FLOOD_GUARD_FORGOTTEN.inc(forgotten)
        return run.dead

    # -- the answers (used by _BatchRun) ----------------------------------------------------
    def rejection(self, record: InboundRecord, data: Any, errors: list[FieldError],
                   tally: Tally) -> SubmissionRejected:
        channel, channel_ref = self.readable_reference(data)
        tally.rejected.update(error.code for error in errors)
        return SubmissionRejected(
            event_id=record.derived_event_id("rejected"),
            channel=channel, channel_ref=channel_ref, errors=errors, occurred_at=self.clock.now())

    def rate_limited(self, item: Accepted, tally: Tally) -> SubmissionRejected:
        error = FieldError(field="reporter", code=ErrorCode.RATE_LIMITED.value,
                           message=RATE_LIMITED_MESSAGE)
        tally.rejected[error.code] += 1
        record = item.record
        return SubmissionRejected(
            event_id=record.derived_event_id("rejected"),
            channel=item.submission.channel.value, channel_ref=item.submission.channel_ref,
            errors=[error], occurred_at=self.clock.now())

    def new_event(self, item: Accepted, now: datetime) -> ComplaintReceived:
        record = item.record
        return received_event(
            item.submission, item.tracking_id, self.citizen_secret(item.tracking_id), now,
            event_id=record.derived_event_id("received"),
            possible_duplicate_of=item.duplicate_of)

    def document(self, item: Accepted, event: ComplaintReceived) -> dict[str, Any]:
        submission = item.submission
        document: dict[str, Any] = {
            "_id": event.tracking_id,
            "submission_key": item.key,
            "channel": submission.channel.value,
            "category": submission.category,
            "region_code": submission.region_code,
            "received_at": event.occurred_at,
            "contact_keys": item.contacts,
            "citizen_secret_hash": self.hash_secret(event.tracking_id, event.citizen_secret),
            "event": stored_event(event),
        }
        return document

    def ids(self, submission_key: str, attempt: int) -> str:
        """The submission's tracking id of that attempt (after `prepare`)."""
        assert self.tracking_id_for is not None, "Intake.prepare() reads the key first"
        return self.tracking_id_for(submission_key, attempt)

    def republish(self, document: dict[str, Any]) -> ComplaintReceived:
        tracking_id = document["_id"]
        return ComplaintReceived.model_validate(
            {**document["event"], "citizen_secret": self.citizen_secret(tracking_id)})


@dataclass
class _Chunk:
    """Part of a batch on its way through the pipeline."""

    items: list[Accepted]
    recent: asyncio.Future[list[tuple[str, list[str]]]] | None = None
    events: dict[str, ComplaintReceived] = field(default_factory=dict)
    inserting: asyncio.Future[InsertOutcome] | None = None
    answers: list[tuple[BaseModel, str]] = field(default_factory=list)


class _BatchRun:
    """The state of one batch: what a chunk's decisions depend on from earlier chunks
    (contacts counted, submission keys seen, roots found, tracking ids renamed)."""

    def __init__(self, intake: Intake, now: datetime) -> None:
        self.intake = intake
        self.now = now
        self.tally = Tally()
        self.dead: list[DeadLetter] = []
        self.keys: set[str] = set()  # submission keys of the batch so far
        self.counted: Counter[str] = Counter()  # flood guard: per contact key
        self.seen_stored: set[str] = set()  # stored complaints already in `counted`
        self.batch_roots: dict[Hashable, list[Root]] = {}
        self.renamed: dict[str, str] = {}  # tracking ids tried for items stored under others
        self.new_roots: list[tuple[Any, datetime, Root]] = []
        self.pending: list[asyncio.Future[Any]] = []
        self.answers: list[tuple[BaseModel, str]] = []  # rejections not yet published
        self.inserted_any = False

    # -- 1. read --------------------------------------------------------------------------
    async def read(self, records: Sequence[InboundRecord]) -> _Chunk:
        intake = self.intake
        items: list[Accepted] = []
        for index, record in enumerate(records):
            if index % YIELD_EVERY == 0:
                await _let_io_run()  # the database and broker calls in flight progress
            try:
                data = parse_object(record.value)
            except NotAJsonObject as exc:
                self.tally.dead_lettered += 1
                self.dead.append(DeadLetter(record, str(exc), "not_json_object"))
                continue
            result = intake.validate(data)
            if isinstance(result, list):
                channel, _ = intake.readable_reference(data)
                self.tally.received[channel if channel in _CHANNELS else "unknown"] += 1
                self.answers.append((intake.rejection(record, data, result, self.tally),
                                     intake.topics.rejected))
                continue
            self.tally.received[result.channel.value] += 1
            key = result.idempotency_key
            if key in self.keys:
                self.tally.duplicate_submissions += 1  # answered by the first copy
                continue
            self.keys.add(key)
            items.append(Accepted(record, result, intake.contact_keys(result.reporter)))
        chunk = _Chunk(items)
        contacts = sorted({key for item in items for key in item.contacts})
        if contacts and intake.rate_limit is not None:
            chunk.recent = asyncio.ensure_future(
                intake.marks.recent(contacts, self.now))
            self.pending.append(chunk.recent)
        await _let_io_run()
        for index, item in enumerate(items):  # while the flood guard's window is read, if due
            if index % YIELD_EVERY == 0:
                await _let_io_run()
            item.tracking_id = intake.ids(item.key, 0)
            item.sketch = TextSketch.of(item.submission.title, item.submission.body)
        return chunk

    # -- 2. decide ------------------------------------------------------------------------
    async def decide_and_store(self, chunk: _Chunk) -> _Chunk:
        intake = self.intake
        admitted, refused = self._flood_guard(chunk, await chunk.recent if chunk.recent else [])
        if refused:
            # A refused submission may be a redelivery of one accepted earlier (the limit
            # filled up since): it is answered with its stored complaint, never rejected.
            stored = await intake.store.find_stored([i.key for i in refused], intake.ids)
            self.tally.duplicate_submissions += len(stored)
            for item in refused:
                if item.key in stored:
                    chunk.answers.append((intake.republish(stored[item.key]),
                                          intake.topics.received))
                else:
                    self.answers.append((intake.rate_limited(item, self.tally),
                                         intake.topics.rejected))
        chunk.items = admitted
        if not admitted:
            return chunk
        stored_roots = await intake.roots.for_buckets([i.bucket for i in admitted], self.now)
        roots = {bucket: _merge(stored_roots[bucket], self.batch_roots.get(bucket, ()))
                 for bucket in stored_roots}
        flags = flag_possible_duplicates(
            [(i.bucket, i.tracking_id, i.sketch or TextSketch(())) for i in admitted], roots)
        for item, flag in zip(admitted, flags, strict=True):
            item.duplicate_of = flag
            if flag is None and item.sketch is not None:
                self.batch_roots.setdefault(item.bucket, []).append(
                    Root(item.tracking_id, item.sketch))
        chunk.events, documents = self._build(admitted)
        chunk.inserting = asyncio.ensure_future(self._store(admitted, documents))
        self.pending.append(chunk.inserting)
        await _let_io_run()
        return chunk

    async def _store(self, items: list[Accepted], documents: list[dict[str, Any]]
                     ) -> InsertOutcome:
        """Insert a chunk's complaints and, for the flood guard, their marks: two writes
        sent together (a crash between them is repaired by the redelivery, see
        adapters/contact_marks.py)."""
        intake = self.intake
        if intake.rate_limit is None:
            return await intake.store.insert_new(documents)
        outcome, _ = await asyncio.gather(
            intake.store.insert_new(documents),
            intake.marks.add([Mark(item.key, item.contacts, self.now) for item in items]))
        return outcome

    def _flood_guard(self, chunk: _Chunk, recent: list[tuple[str, list[str]]]
                     ) -> tuple[list[Accepted], list[Accepted]]:
        """(admitted, refused), given the chunk's reporters' recent complaints."""
        items = chunk.items
        if self.intake.rate_limit is None:
            return items, []
        own = {item.key for item in items}
        stored_before: set[str] = set()  # this very submission, stored by an earlier delivery
        for submission_key, contact_keys in recent:
            if submission_key in own:
                stored_before.add(submission_key)
            elif submission_key not in self.keys and submission_key not in self.seen_stored:
                # (this batch's own are counted as they are admitted; a stored complaint
                # found again for a later chunk is not counted twice)
                self.seen_stored.add(submission_key)
                self.counted.update(contact_keys)
        verdicts = admit([item.contacts for item in items], self.counted,
                         self.intake.rate_limit,
                         admitted_before=[item.key in stored_before for item in items])
        for item, ok in zip(items, verdicts, strict=True):
            if ok:
                self.counted.update(set(item.contacts))
        return ([item for item, ok in zip(items, verdicts, strict=True) if ok],
                [item for item, ok in zip(items, verdicts, strict=True) if not ok])

    def _build(self, items: list[Accepted]
               ) -> tuple[dict[str, ComplaintReceived], list[dict[str, Any]]]:
        for item in items:
            item.duplicate_of = _resolve(item.duplicate_of, self.renamed)
        events = {item.key: self.intake.new_event(item, self.now) for item in items}
        return events, [self.intake.document(item, events[item.key]) for item in items]

    # -- 3 and 4. store, publish ----------------------------------------------------------------
    async def settle_and_publish(self, chunk: _Chunk) -> None:
        events = await self._settle(chunk) if chunk.inserting is not None else []
        if self.inserted_any and self.intake.after_store is not None:
            self.intake.after_store()  # test-only: a crash after storing, before publishing
        answers = self.answers + chunk.answers + [
            (event, self.intake.topics.received) for event in events]
        self.answers = []
        self.tally.answered += len(answers)
        if answers:
            self.pending.append(asyncio.ensure_future(self.intake.publish_all(answers)))

    async def _settle(self, chunk: _Chunk) -> list[ComplaintReceived]:
        """The events to publish for an inserted chunk: the new complaints', and the stored
        ones of copies that were already in (redelivered, re-sent, or stored by another
        instance). A submission whose tracking id is another complaint's (rare) is inserted
        again under its next one."""
        intake = self.intake
        assert chunk.inserting is not None
        outcome: InsertOutcome = await chunk.inserting
        items, events = chunk.items, chunk.events
        to_publish: list[ComplaintReceived] = []
        inserted: list[tuple[Accepted, ComplaintReceived]] = []
        for _ in range(2 * MAX_ATTEMPTS):  # (a complaint gone between insert and read: again)
            by_key = {item.key: item for item in items}
            inserted += [(by_key[key], events[key]) for key in outcome.inserted]
            if outcome.existing:
                self.tally.duplicate_submissions += len(outcome.existing)
                for key, doc in outcome.existing.items():
                    if doc["_id"] != by_key[key].tracking_id:  # stored by an earlier version
                        self.renamed[by_key[key].tracking_id] = doc["_id"]
                    to_publish.append(intake.republish(doc))
            if not outcome.clashes and not outcome.vanished:
                break
            items = [by_key[key] for key in outcome.vanished]
            for key in outcome.clashes:
                item = by_key[key]
                item.attempt += 1
                if item.attempt >= MAX_ATTEMPTS:
                    raise TrackingIdsExhausted(
                        f"{MAX_ATTEMPTS} tracking ids of one submission are all taken")
                old, item.tracking_id = item.tracking_id, intake.ids(key, item.attempt)
                self.renamed[old] = item.tracking_id
                items.append(item)
            events, documents = self._build(items)
            outcome = await intake.store.insert_new(documents)
        else:
            raise TrackingIdsExhausted("complaints keep vanishing between insert and read")

        for item, event in inserted:
            target = _resolve(event.possible_duplicate_of, self.renamed)
            if target != event.possible_duplicate_of:  # its root was renamed after storing
                await intake.store.set_possible_duplicate(event.tracking_id, target)
                event.possible_duplicate_of = target
            self.tally.accepted[item.submission.channel.value] += 1
            self.inserted_any = True
            if event.possible_duplicate_of:
                self.tally.possible_duplicates += 1
            elif item.sketch is not None:
                root = Root(item.tracking_id, item.sketch)
                intake.roots.add(item.bucket, self.now, root)
                self.new_roots.append((item.bucket, self.now, root))
            to_publish.append(event)
        return to_publish

    async def finish(self) -> None:
        if self.answers:
            self.tally.answered += len(self.answers)
            self.pending.append(asyncio.ensure_future(self.intake.publish_all(self.answers)))
            self.answers = []
        self.pending.append(asyncio.ensure_future(self.intake.save_roots(self.new_roots)))
        await asyncio.gather(*self.pending)

    def cancel(self) -> None:
        for future in self.pending:
            future.cancel()


async def _let_io_run() -> None:
    """A few turns of the event loop, so that database and broker requests just made are
    actually sent (a request takes several awaits to reach its socket) before the next
    stretch of CPU work."""
    for _ in range(4):
        await asyncio.sleep(0)


def _merge(stored: Sequence[Root], batch: Sequence[Root]) -> list[Root]:
    known = {root.tracking_id for root in stored}
    return [*stored, *(root for root in batch if root.tracking_id not in known)]


def _resolve(tracking_id: str | None, renamed: dict[str, str]) -> str | None:
    seen = set()
    while tracking_id in renamed and tracking_id not in seen:
        seen.add(tracking_id)
        tracking_id = renamed[tracking_id]
    return tracking_id
