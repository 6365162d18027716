"""New notifications handed straight to the delivery queues: claimed at insert, as many as
the queues take, under one batch claim; the rest stay pending for the fetcher; a claim
queued too long is given back rather than sent late; a batch claim closes once every
notification in it is resolved, and stays to lapse if one is not; lapsed claims are
looked for once per poll interval."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from services.notifier.delivery import CLOSE_CLAIMS_AT, HANDOFF_DEPTH_PER_WORKER, Deliverer
from shared.clock import ManualClock
from shared.settings import Settings
from shared.topics import Topics

NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


class ReleasingLedger:
    def __init__(self) -> None:
        self.released: list[str] = []
        self.closed: list[str] = []
        self.statements = 0

    async def release(self, claimed: Any, now: Any = None) -> None:
        self.released += [doc["_id"] for doc in claimed]

    async def close_claims(self, tokens: Any) -> None:
        self.closed += tokens
        self.statements += 1


def deliverer(workers: int = 1, ledger: Any = None, depth: int = 1) -> Deliverer:
    clock = ManualClock(NOW)
    settings = Settings(notify_concurrency=workers, notify_handoff_depth=depth)
    return Deliverer(ledger=ledger or ReleasingLedger(), smtp=SimpleNamespace(),  # type: ignore[arg-type]
                     sms=SimpleNamespace(), publish_all=None,  # type: ignore[arg-type]
                     topics=Topics(""), settings=settings,
                     clock=clock, agencies={}, secret_for=lambda tid: "")


def pending(nid: str, channel: str = "email") -> dict[str, Any]:
    return {"_id": nid, "channel": channel, "state": "pending", "attempts": 0,
            "next_attempt_at": NOW}


def test_new_pending_notifications_are_claimed_up_to_the_queue_depth_per_channel() -> None:
    d = deliverer(workers=1)
    depth = HANDOFF_DEPTH_PER_WORKER
    documents = [pending(f"e{i}") for i in range(depth + 3)] + [pending("s1", "sms")]
    documents.append({"_id": "k1", "channel": None, "state": "skipped"})
    claim = d.claim_on_insert(documents, NOW)
    assert [doc["_id"] for doc in claim.documents] == [f"e{i}" for i in range(depth)] + ["s1"]
    first = claim.documents[0]
    assert first["state"] == "sending" and first["attempts"] == 1
    assert "next_attempt_at" not in first and "lease_until" not in first  # nothing indexed
    assert claim.lease_until == NOW + d.lease
    assert {doc["claim"] for doc in claim.documents} == {claim.token}  # one for the batch
    assert claim.record() == {"_id": claim.token, "lease_until": NOW + d.lease,
                              "ids": [doc["_id"] for doc in claim.documents]}
    left = [doc for doc in documents if doc["state"] == "pending"]
    assert [doc["_id"] for doc in left] == [f"e{depth + i}" for i in range(3)]  # the fetcher's


def test_the_queues_take_the_configured_depth_however_few_the_workers() -> None:
    """With the default 16 workers, bursts beyond 320 new e-mails went the ledger's way: at
    full load on the embedded database, 86 acknowledgements/s instead of 507
    (docs/benchmark-history.md, "Tenth round")."""
    assert deliverer(workers=16, depth=5000).handoff_depth == 5000
    assert deliverer(workers=500, depth=5000).handoff_depth == 500 * HANDOFF_DEPTH_PER_WORKER
    assert Settings().notify_handoff_depth == 5000
    d = deliverer(workers=16, depth=1000)
    claim = d.claim_on_insert([pending(f"e{i}") for i in range(1200)], NOW)
    assert len(claim.documents) == 1000


def test_handed_over_notifications_count_against_the_room_of_the_next_batch() -> None:
    d = deliverer(workers=1)
    claim = d.claim_on_insert([pending(f"e{i}") for i in range(5)], NOW)
    d.hand_over(claim, {doc["_id"] for doc in claim.documents})
    again = d.claim_on_insert([pending(f"f{i}") for i in range(HANDOFF_DEPTH_PER_WORKER)], NOW)
    assert len(again.documents) == HANDOFF_DEPTH_PER_WORKER - 5


async def test_a_claim_queued_past_half_its_lease_is_given_back_not_sent() -> None:
    ledger = ReleasingLedger()
    d = deliverer(workers=1, ledger=ledger)
    claim = d.claim_on_insert([pending("stale")], NOW)
    d.hand_over(claim, {"stale"})
    assert not d._claim_ageing(claim.documents[0])
    d.clock.advance(d.lease / 2 + timedelta(seconds=1))  # waited in the queue too long
    d._queues["email"].put_nowait(None)  # then stop the worker
    await d._work("email")
    assert ledger.released == ["stale"]  # due again for the fetcher, never sent late
    assert "stale" not in d._known["email"] and d.ledger_backlog
    await d.close_claims()
    assert ledger.closed == [claim.token]  # its only notification is resolved: closed


def test_a_batch_claim_closes_when_all_are_resolved_and_never_with_one_unresolved() -> None:
    d = deliverer(workers=1)
    whole = d.claim_on_insert([pending("a1"), pending("a2")], NOW)
    d.hand_over(whole, {"a1", "a2"})
    broken = d.claim_on_insert([pending("b1"), pending("b2")], NOW)
    d.hand_over(broken, {"b1", "b2"})
    redelivered = d.claim_on_insert([pending("c1")], NOW)
    d.hand_over(redelivered, set())  # its insert was not new: nothing of it is held
    d._release_known(whole.documents[0])
    assert whole.token not in d._closable  # a2 is still out
    d._release_known(broken.documents[0], resolved=False)  # the database went away
    d._release_known(broken.documents[1])
    d._release_known(whole.documents[1])
    assert d._closable == [redelivered.token, whole.token]  # the broken one lapses instead
    assert d._held == {}


class ReportingLedger:
    def __init__(self, docs: list[dict[str, Any]]) -> None:
        self.docs = docs
        self.reported: list[str] = []
        self.unreportable: dict[str, str] = {}

    async def unreported(self, limit: int) -> list[dict[str, Any]]:
        return [d for d in self.docs if d["_id"] not in self.reported][:limit]

    async def mark_reported(self, ids: Any) -> None:
        self.reported += ids

    async def mark_unreportable(self, nid: str, error: str) -> None:
        self.unreportable[nid] = error


async def test_an_outcome_whose_event_cannot_be_built_never_blocks_the_others() -> None:
    good = {"_id": "n1", "state": "skipped", "finished_at": NOW, "tracking_id": "T",
            "source_event_id": "e1", "channel": None, "template": "assigned",
            "last_error": "no_contact"}
    bad = {**good, "_id": "n0", "recipient_masked": None}  # not a string: invalid
    ledger = ReportingLedger([bad, good])
    published: list[Any] = []

    async def publish_all(items: Any) -> None:
        published.extend(event for event, _ in items)

    d = deliverer(ledger=ledger)
    d.publish_all = publish_all
    assert await d.report() == 2
    assert [e.notification_id for e in published] == ["n1"]
    assert list(ledger.unreportable) == ["n0"] and ledger.reported == ["n1"]  # set aside once


class CountingLedger(ReleasingLedger):
    def __init__(self) -> None:
        super().__init__()
        self.unreported_reads = 0
        self.takeover_looks: list[datetime] = []

    async def unreported(self, limit: int) -> list[Any]:
        self.unreported_reads += 1
        return []

    async def take_over_lapsed(self, now: datetime) -> int:
        self.takeover_looks.append(now)
        return 0

    async def pending_count(self) -> int:
        return 0


async def test_the_reporter_reports_on_every_wake_up_but_looks_for_lapsed_claims_per_poll(
        ) -> None:
    ledger = CountingLedger()
    d = deliverer(ledger=ledger)
    reporter = asyncio.create_task(d._report_forever())
    try:
        for step in range(6):  # six outcomes written unreported within one poll interval
            if step == 3:
                d.clock.advance(timedelta(seconds=d.settings.notify_poll_seconds))
            reads = ledger.unreported_reads
            d.finished.set()
            while ledger.unreported_reads == reads:
                await asyncio.sleep(0)
    finally:
        reporter.cancel()
    assert ledger.unreported_reads >= 6
    # Once at the start, once after the clock passed the poll interval.
    assert ledger.takeover_looks == [NOW, NOW + timedelta(seconds=d.settings.notify_poll_seconds)]


async def test_outcome_batches_close_claims_only_once_many_are_resolved() -> None:
    """The reporter's round (once per poll interval) closes the rest: one delete a second
    at 200 complaints/s instead of one per outcome batch."""
    ledger = ReleasingLedger()
    d = deliverer(workers=1, ledger=ledger, depth=2 * CLOSE_CLAIMS_AT)
    claims = []
    for i in range(CLOSE_CLAIMS_AT - 1):
        claim = d.claim_on_insert([pending(f"n{i}")], NOW)
        d.hand_over(claim, {f"n{i}"})
        d._release_known(claim.documents[0])
        claims.append(claim.token)
    await d.recorder.after_batch()  # type: ignore[misc]
    assert ledger.closed == []  # too few yet
    await d.close_claims()  # the reporter's round
    assert ledger.closed == claims
    await d.close_claims()  # nothing left: no statement
    assert ledger.closed == claims and ledger.statements == 1
    more = []
    for i in range(CLOSE_CLAIMS_AT):
        claim = d.claim_on_insert([pending(f"m{i}")], NOW)
        d.hand_over(claim, {f"m{i}"})
        d._release_known(claim.documents[0])
        more.append(claim.token)
    await d.recorder.after_batch()  # type: ignore[misc]
    assert ledger.closed == claims + more


async def test_the_reporter_closes_resolved_claims_per_poll_not_on_every_wake_up() -> None:
    ledger = CountingLedger()
    d = deliverer(ledger=ledger, depth=10)
    reporter = asyncio.create_task(d._report_forever())

    async def one_resolved_then_wake_up(nid: str) -> None:
        claim = d.claim_on_insert([pending(nid)], d.clock.now())
        d.hand_over(claim, {nid})
        d._release_known(claim.documents[0])
        reads = ledger.unreported_reads
        d.finished.set()
        while ledger.unreported_reads == reads:
            await asyncio.sleep(0)
        for _ in range(5):  # let the round finish
            await asyncio.sleep(0)

    try:
        while not ledger.takeover_looks:  # the first round (nothing to close yet)
            await asyncio.sleep(0)
        for i in range(4):  # wake-ups within one poll interval
            await one_resolved_then_wake_up(f"n{i}")
        assert ledger.statements == 0 and ledger.closed == []
        d.clock.advance(timedelta(seconds=d.settings.notify_poll_seconds))
        await one_resolved_then_wake_up("n4")
        assert ledger.statements == 1 and len(ledger.closed) == 5  # the round closes all
    finally:
        reporter.cancel()


def test_a_sent_notification_is_logged_at_debug_its_batch_at_info() -> None:
    """Per notification, one JSON line at INFO was a fifth of the notifier's CPU at full
    load; the recorder logs each batch at INFO instead (test_recording)."""
    from structlog.testing import capture_logs

    d = deliverer()
    doc = {**pending("e1"), "template": "assigned", "tracking_id": "7KQ2-M9XD-4",
           "claim": "c", "event": {}}
    with capture_logs() as logs:
        d._recorded_sent(doc, NOW, True)
    assert [(entry["event"], entry["log_level"]) for entry in logs] == [
        ("notification sent", "debug")]
