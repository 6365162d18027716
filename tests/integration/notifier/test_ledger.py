"""The consumer side and the ledger in-process on the real database: concurrent batches of
different topics, redelivery, lapsed claims and a mismatched citizen-secret key."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from types import SimpleNamespace
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from services.notifier.adapters.ledger import (
    INDEXES,
    LEGACY_PENDING_INDEX,
    LEGACY_UNREPORTED_INDEX,
    Claim,
    Finish,
    Ledger,
)
from services.notifier.handlers import Notifier
from shared.citizen_secret import derive_citizen_secret
from shared.clock import SystemClock
from shared.codec import encode
from shared.consumer import InboundRecord
from shared.contract import Status
from shared.mongo import database, ensure_indexes, make_client
from tests.integration.notifier.conftest import DEFAULT_SECRET_KEY, Complaint


@pytest.fixture
async def db(settings_for: Any) -> AsyncIterator[AsyncDatabase[dict[str, Any]]]:
    settings = settings_for("notifier")
    client = make_client(settings)
    db = database(client, settings)
    await ensure_indexes(db, INDEXES)
    yield db
    await client.drop_database(db.name)
    await client.close()


class GatedLedger(Ledger):
    """The real ledger, with a pause before deferring: the worst interleaving of two
    concurrent batches, made deterministic."""

    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        super().__init__(db)
        self.reached_defer = asyncio.Event()
        self.gate = asyncio.Event()

    async def defer(self, events: Sequence[tuple[str, str, dict[str, Any]]]) -> None:
        if events:
            self.reached_defer.set()
            await self.gate.wait()
        await super().defer(events)


def notifier_on(ledger: Ledger, key: bytes = DEFAULT_SECRET_KEY) -> Notifier:
    # A deliverer that takes nothing over at insert: what is planned stays pending.
    deliverer = SimpleNamespace(wake=asyncio.Event(), finished=asyncio.Event(),
                                claim_on_insert=lambda documents, now: Claim.new(
                                    now, timedelta(seconds=60)),
                                hand_over=lambda claim, new: None)
    return Notifier(ledger=ledger, deliverer=deliverer,  # type: ignore[arg-type]
                    clock=SystemClock(), agencies={}, sms_enabled=False,
                    secret_for=partial(derive_citizen_secret, key))


def records(*events: Any) -> list[InboundRecord]:
    return [InboundRecord("t", 0, i, e.tracking_id.encode(), encode(e))
            for i, e in enumerate(events)]


def pending(prefix: str, n: int, due: datetime, **fields: Any) -> list[dict[str, Any]]:
    """n planned e-mail notifications, pending and due."""
    return [{"_id": f"{prefix}-{i}", "state": "pending", "channel": "email",
             "tracking_id": "T", "next_attempt_at": due, **fields} for i in range(n)]


async def templates(ledger: Ledger, tracking_id: str) -> dict[str, dict[str, Any]]:
    return {d["template"]: d async for d in ledger.collection.find({"tracking_id": tracking_id})}


async def test_status_deferred_while_its_complaint_is_handled_is_not_lost(db) -> None:
    ledger = GatedLedger(db)
    notifier = notifier_on(ledger)
    complaint = Complaint(email="balapan@example.id")
    received, assigned = complaint.received(), complaint.status_changed(Status.ASSIGNED)

    status_batch = asyncio.create_task(notifier.handle(records(assigned)))
    await ledger.reached_defer.wait()  # it found no contacts and is about to defer
    await notifier.handle(records(received))  # saves contacts, finds nothing deferred yet
    ledger.gate.set()
    await status_batch  # defers, then looks again and plans it

    planned = await templates(ledger, complaint.tracking_id)
    assert set(planned) == {"acknowledgement", "assigned"}
    assert await ledger.deferred.count_documents({}) == 0


async def test_redelivered_batch_plans_nothing_new(db) -> None:
    ledger = Ledger(db)
    notifier = notifier_on(ledger)
    complaint = Complaint(email="dua.kali@example.id", phone="+6281200000001")
    event = complaint.received()
    batch = records(event, event)  # redelivered within a batch, and then the batch again
    await notifier.handle(batch)
    first = await templates(ledger, complaint.tracking_id)
    await notifier.handle(batch)
    assert await ledger.collection.count_documents({"tracking_id": complaint.tracking_id}) == 1
    assert await templates(ledger, complaint.tracking_id) == first
    assert "citizen_secret" not in first["acknowledgement"]["event"]
    assert "reporter" not in first["acknowledgement"]["event"]


async def test_a_lapsed_claim_is_taken_over_once_and_the_current_claims_outcome_counts(
        db) -> None:
    ledger = Ledger(db)
    complaint = Complaint(email="klaim@example.id")
    await notifier_on(ledger).handle(records(complaint.received()))
    (nid,) = [d["_id"] async for d in ledger.collection.find({}, {"_id": 1})]
    now = datetime.now(UTC)
    first = await ledger.claim_many([nid], now, timedelta(seconds=1))
    assert [d["_id"] for d in first.documents] == [nid]
    assert (await ledger.claim_many([nid], now, timedelta(seconds=1))).documents == []
    later = now + timedelta(seconds=2)
    assert await ledger.due_ids(later, 10, channel="email") == []  # claimed, not pending
    takers = await asyncio.gather(*(Ledger(db).take_over_lapsed(later) for _ in range(3)))
    assert sorted(takers) == [0, 0, 1]  # one instance took the lapsed claim over
    assert await ledger.claims.count_documents({}) == 0
    assert await ledger.due_ids(later, 10, channel="email") == [nid]
    assert await ledger.due_ids(later, 10, channel="sms") == []
    assert await ledger.due_ids(later, 10, channel="email", exclude=[nid]) == []
    second = await ledger.claim_many([nid], later, timedelta(seconds=60))
    (doc,) = second.documents
    assert doc["attempts"] == 2
    await ledger.finish_many([Finish(doc, "sent", later)], reported=False)
    # The old owner, too late: what it did is recorded under its own claim, which is no
    # longer the notification's; its report loses to the one queued first.
    late = Finish(first.documents[0], "failed", later, "late")
    await ledger.finish_many([late], reported=False)
    assert await ledger.states([nid]) == {nid: "sent"}
    assert await ledger.outcome_batches.count_documents({}) == 2
    assert await ledger.pending_count() == 1  # counted until its claim closes
    await ledger.close_claims([second.token])
    assert await ledger.pending_count() == 0
    (outcome,) = await ledger.unreported(10)
    assert (outcome["_id"], outcome["attempts"], outcome["template"]) == (
        nid, 2, "acknowledgement")
    await ledger.mark_reported([nid])
    assert await ledger.unreported(10) == []


async def test_a_dead_instances_hand_over_is_taken_over_except_what_it_finished(db) -> None:
    ledger = Ledger(db)
    now = datetime.now(UTC)
    claim = Claim.new(now, timedelta(seconds=60))
    claim.documents = [{"_id": f"h-{i}", "state": "sending", "claim": claim.token,
                        "channel": "email", "tracking_id": "T", "attempts": 1}
                       for i in range(3)]
    await ledger.open_claim(claim)
    await ledger.record(claim.documents[:2])  # died before h-2 was even inserted
    await ledger.finish_many([Finish(claim.documents[0], "sent", now)], reported=True)
    assert await ledger.take_over_lapsed(now + timedelta(seconds=59)) == 0  # still alive
    assert await ledger.take_over_lapsed(now + timedelta(seconds=61)) == 1
    assert await ledger.states(["h-0", "h-1", "h-2"]) == {"h-0": "sent", "h-1": "pending"}
    assert await ledger.claims.count_documents({}) == 0
    assert await ledger.unreported(10) == []  # h-0's event was published with its write


async def test_acknowledgement_fails_visibly_when_the_secret_key_differs(db) -> None:
    ledger = Ledger(db)
    notifier = notifier_on(ledger, key=b"not-the-key-intake-uses")
    complaint = Complaint(email="kunci.salah@example.id")
    await notifier.handle(records(complaint.received(), complaint.status_changed(Status.ASSIGNED)))
    planned = await templates(ledger, complaint.tracking_id)
    assert planned["acknowledgement"]["state"] == "failed"
    assert planned["acknowledgement"]["last_error"] == "citizen_secret_mismatch"
    assert "next_attempt_at" not in planned["acknowledgement"]  # never due for sending
    assert planned["assigned"]["state"] == "pending"
    (outcome,) = await ledger.unreported(10)  # its event is still to publish
    assert (outcome["_id"], outcome["state"]) == (planned["acknowledgement"]["_id"], "failed")


async def test_a_claim_taken_over_leaves_its_finished_notifications_alone(db) -> None:
    ledger = Ledger(db)
    now = datetime.now(UTC)
    await ledger.record(pending("batch", 2, now))
    claim = await ledger.claim_many(["batch-0", "batch-1"], now, timedelta(seconds=60))
    assert sorted(d["_id"] for d in claim.documents) == ["batch-0", "batch-1"]
    finished = [d for d in claim.documents if d["_id"] == "batch-0"]
    await ledger.finish_many([Finish(d, "sent", now) for d in finished], reported=True)
    later = now + timedelta(seconds=61)  # the claim lapsed with batch-1 unfinished
    assert await ledger.take_over_lapsed(later) == 1
    assert await ledger.states(["batch-0", "batch-1"]) == {"batch-0": "sent",
                                                            "batch-1": "pending"}
    assert await ledger.due_ids(later, 10) == ["batch-1"]


async def test_an_earlier_versions_outcome_written_before_it_died_is_still_reported(
        db) -> None:
    ledger = Ledger(db)
    now = datetime.now(UTC)
    await ledger.record(pending("died", 2, now, template="acknowledgement"))
    claim = await ledger.claim_many(["died-0", "died-1"], now, timedelta(seconds=60))
    done = next(d for d in claim.documents if d["_id"] == "died-0")
    # An earlier version, one outcome per notification: the broker was away, the outcome
    # was written unreported, then the instance died before queueing its report.
    await ledger.outcomes.insert_one(Finish(done, "sent", now).outcome(reported=False))
    assert await ledger.unreported(10) == []
    assert await ledger.take_over_lapsed(now + timedelta(seconds=61)) == 1  # died-1
    (outcome,) = await ledger.unreported(10)
    assert (outcome["_id"], outcome["state"]) == ("died-0", "sent")
    await ledger.mark_reported(["died-0"])
    assert await ledger.unreported(10) == []
    assert await ledger.unreported_ids.count_documents({}) == 0


class BatchesAway(Ledger):
    """The real ledger, whose outcome batches cannot be written: an instance that dies
    between queueing a report and recording the outcome."""

    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        super().__init__(db)
        self.outcome_batches = SimpleNamespace(  # type: ignore[assignment]
            insert_many=self._away)

    async def _away(self, *args: Any, **kwargs: Any) -> None:
        raise ConnectionError("the instance died here")


async def test_a_delivered_outcome_is_queued_for_its_report_before_it_is_recorded(db) -> None:
    ledger = Ledger(db)
    now, lease = datetime.now(UTC), timedelta(seconds=60)
    await ledger.record(pending("rep", 2, now, template="acknowledgement"))
    claim = await ledger.claim_many(["rep-0", "rep-1"], now, lease)
    sent = [Finish(d, "sent", now) for d in claim.documents if d["_id"] == "rep-0"]
    with pytest.raises(ConnectionError):
        await BatchesAway(db).finish_many(sent, reported=False)
    (queued,) = await ledger.unreported(10)  # reported, although never recorded
    assert (queued["_id"], queued["state"], queued["attempts"]) == ("rep-0", "sent", 1)
    assert "unreported" not in queued
    # Not recorded: the claim's taker makes both due again (rep-0 is sent once more).
    assert await ledger.take_over_lapsed(now + lease + timedelta(seconds=1)) == 2
    assert await ledger.states(["rep-0", "rep-1"]) == {"rep-0": "pending", "rep-1": "pending"}
    await ledger.mark_reported(["rep-0"])
    assert await ledger.unreported(10) == []
    assert await ledger.unreported_ids.count_documents({}) == 0


async def test_a_batchs_outcomes_are_one_document_per_claim_written_once(db) -> None:
    ledger = Ledger(db)
    now, lease = datetime.now(UTC), timedelta(seconds=60)
    await ledger.record(pending("one", 5, now, template="assigned"))
    first = await ledger.claim_many(["one-0", "one-1", "one-2"], now, lease)
    second = await ledger.claim_many(["one-3", "one-4"], now, lease)
    finishes = [Finish(d, "sent", now) if d["_id"] != "one-4"
                else Finish(d, "failed", now, "550 no such user")
                for d in first.documents + second.documents]
    ids = {f"one-{i}" for i in range(5)}
    await ledger.finish_many(finishes, reported=True)
    await ledger.finish_many(finishes, reported=True)  # a retry: written once
    assert await ledger.outcome_batches.count_documents({}) == 2
    batches = {d["claim"]: d async for d in ledger.outcome_batches.find()}
    assert set(batches) == {first.token, second.token}
    assert sorted(o["_id"] for o in batches[first.token]["outcomes"]) == [
        "one-0", "one-1", "one-2"]
    assert await ledger.states(sorted(ids)) == {
        "one-0": "sent", "one-1": "sent", "one-2": "sent", "one-3": "sent", "one-4": "failed"}
    assert await ledger.outcomes.count_documents({}) == 0  # none alone
    assert await ledger.unreported(10) == []  # published with the write
    # Their queue entries, left behind by a crash, are dropped as finished.
    await ledger.queue.insert_many([{"_id": nid, "due": now, "channel": "email"}
                                    for nid in sorted(ids)])
    assert (await ledger.claim_many(sorted(ids), now, lease)).documents == []
    assert await ledger.queue.count_documents({}) == 0


async def test_an_outcome_that_cannot_become_an_event_is_set_aside_with_why(db) -> None:
    ledger = Ledger(db)
    now = datetime.now(UTC)
    await ledger.record([{"_id": "odd-0", "state": "skipped", "channel": None,
                          "tracking_id": "T", "template": "assigned"}])
    finish = Finish({"_id": "odd-1", "claim": "c", "tracking_id": "T"}, "sent", now)
    await ledger.finish_many([finish], reported=False)
    assert sorted(d["_id"] for d in await ledger.unreported(10)) == ["odd-0", "odd-1"]
    await ledger.mark_unreportable("odd-0", "no template")
    await ledger.mark_unreportable("odd-1", "no channel")
    assert await ledger.unreported(10) == []
    alone = await ledger.outcomes.find_one({"_id": "odd-0"})
    queued = await ledger.unreported_ids.find_one({"_id": "odd-1"})
    assert alone is not None and alone["report_error"] == "no template"
    assert queued is not None and queued["report_error"] == "no channel"
    assert await ledger.unreported_ids.count_documents({}) == 1  # odd-0's entry left


async def test_outcomes_an_earlier_version_recorded_alone_still_count(db) -> None:
    ledger = Ledger(db)
    now, lease = datetime.now(UTC), timedelta(seconds=60)
    await ledger.record(pending("old", 2, now))
    claim = await ledger.claim_many(["old-0", "old-1"], now, lease)
    done = next(d for d in claim.documents if d["_id"] == "old-0")
    await ledger.outcomes.insert_one(Finish(done, "sent", now).outcome(reported=True))
    assert await ledger.states(["old-0", "old-1"]) == {"old-0": "sent", "old-1": "sending"}
    assert await ledger.take_over_lapsed(now + lease + timedelta(seconds=1)) == 1  # old-1
    assert await ledger.due_ids(now + lease + timedelta(seconds=1), 10) == ["old-1"]


async def test_redelivered_planning_queues_only_outcomes_still_unreported(db) -> None:
    ledger = Ledger(db)
    skipped = [{"_id": f"skip-{i}", "state": "skipped", "channel": None, "tracking_id": "T",
                "template": "assigned", "last_error": "no_contact"} for i in range(2)]
    await ledger.record(skipped)
    assert sorted(d["_id"] for d in await ledger.unreported(10)) == ["skip-0", "skip-1"]
    await ledger.mark_reported(["skip-0"])
    await ledger.unreported_ids.delete_many({})  # died before skip-1's report was queued
    await ledger.record(skipped)  # the batch is redelivered
    assert [d["_id"] for d in await ledger.unreported(10)] == ["skip-1"]


async def test_a_queued_report_whose_outcome_was_published_leaves_the_queue(db) -> None:
    ledger = Ledger(db)
    await ledger.record([{"_id": "pub-0", "state": "skipped", "channel": None,
                          "tracking_id": "T", "template": "assigned"}])
    await ledger.outcomes.update_one({"_id": "pub-0"}, {"$unset": {"unreported": ""}})
    assert await ledger.unreported(10) == []  # published just before a crash
    assert await ledger.unreported_ids.count_documents({}) == 0


async def test_outcomes_flagged_by_an_earlier_version_are_queued_once(db) -> None:
    ledger = Ledger(db)
    now = datetime.now(UTC)
    # As an earlier version left them: flagged outcomes found through a sparse index.
    await ledger.outcomes.create_index("unreported", name=LEGACY_UNREPORTED_INDEX, sparse=True)
    await ledger.outcomes.insert_many([
        Finish({"_id": nid, "tracking_id": "T", "template": "assigned"}, "sent", now)
        .outcome(reported=reported) for nid, reported in (("old-0", False), ("old-1", True))])
    assert await ledger.unreported(10) == []  # not queued yet
    assert await ledger.upgrade_storage() == {"pending": 0, "unreported": 1}
    assert LEGACY_UNREPORTED_INDEX not in await ledger.outcomes.index_information()
    assert await ledger.upgrade_storage() == {"pending": 0, "unreported": 0}  # done
    assert [d["_id"] for d in await ledger.unreported(10)] == ["old-0"]


async def test_queue_entries_that_cannot_be_claimed_are_dropped_or_looked_at_later(db) -> None:
    ledger = Ledger(db)
    now, lease = datetime.now(UTC), timedelta(seconds=60)
    await ledger.record(pending("q", 4, now))
    assert await ledger.queue.count_documents({}) == 4
    # q-0 is claimed and finished by another instance, q-1 claimed and still being sent,
    # q-2 put back for a retry later; the queue entries still say "due now".
    other = await ledger.claim_many(["q-0", "q-1"], now, lease)
    await ledger.finish_many([Finish(d, "sent", now) for d in other.documents
                              if d["_id"] == "q-0"], reported=True)
    later = now + timedelta(minutes=5)
    await ledger.collection.update_one({"_id": "q-2"}, {"$set": {"next_attempt_at": later}})
    await ledger.queue.insert_many([{"_id": nid, "due": now, "channel": "email"}
                                    for nid in ("q-0", "q-1")])
    await ledger.queue.update_one({"_id": "q-2"}, {"$set": {"due": now}})

    assert sorted(await ledger.due_ids(now, 10)) == ["q-0", "q-1", "q-2", "q-3"]
    claim = await ledger.claim_many(["q-0", "q-1", "q-2", "q-3"], now, lease)
    assert [d["_id"] for d in claim.documents] == ["q-3"]
    queued = {d["_id"]: d["due"].replace(tzinfo=UTC) async for d in ledger.queue.find()}
    assert set(queued) == {"q-1", "q-2"}  # q-0 finished: gone; q-3 claimed: gone
    assert abs(queued["q-1"] - (now + lease)) < timedelta(milliseconds=1)  # a lease later
    assert abs(queued["q-2"] - later) < timedelta(milliseconds=1)  # its own time
    assert await ledger.due_ids(now, 10) == []


async def test_pending_notifications_of_an_earlier_version_are_queued_once(db) -> None:
    ledger = Ledger(db)
    now = datetime.now(UTC)
    await ledger.collection.create_index("next_attempt_at", name=LEGACY_PENDING_INDEX,
                                         sparse=True)
    await ledger.collection.insert_many([  # as an earlier version left them: no queue
        {"_id": "p-0", "state": "pending", "channel": "sms", "next_attempt_at": now},
        {"_id": "p-1", "state": "sending", "channel": "email", "claim": "c"}])
    assert await ledger.due_ids(now, 10) == []
    assert await ledger.upgrade_storage() == {"pending": 1, "unreported": 0}
    assert LEGACY_PENDING_INDEX not in await ledger.collection.index_information()
    assert await ledger.upgrade_storage() == {"pending": 0, "unreported": 0}
    assert await ledger.due_ids(now, 10, channel="sms") == ["p-0"]
    assert await ledger.pending_count() == 1


def contact(tracking_id: str, email: str) -> dict[str, Any]:
    return {"_id": tracking_id, "email": email, "phone": None, "language": "id",
            "anonymous": False, "title": None, "category": None}


async def test_contacts_it_stored_are_answered_from_memory(db) -> None:
    ledger = Ledger(db)
    await ledger.save_contacts([contact("KC01-0000-1", "satu@example.id")])
    await ledger.contacts.delete_many({})  # behind the ledger's back
    found = await ledger.contacts_for(["KC01-0000-1"])
    assert found["KC01-0000-1"]["email"] == "satu@example.id"
    # A ledger that keeps none asks the database, which has nothing any more.
    assert await Ledger(db, known_contacts=0).contacts_for(["KC01-0000-1"]) == {}


async def test_contacts_read_back_are_kept_and_a_copy_that_lost_is_not(db) -> None:
    ledger = Ledger(db)
    await ledger.contacts.insert_one(contact("KC02-0000-2", "tersimpan@example.id"))
    # A redelivered or racing copy that differs: the stored document wins, and is what
    # the ledger answers.
    await ledger.save_contacts([contact("KC02-0000-2", "salinan@example.id")])
    assert len(ledger.known_contacts) == 0
    found = await ledger.contacts_for(["KC02-0000-2", "KC02-0000-9"])
    assert {k: v["email"] for k, v in found.items()} == {"KC02-0000-2": "tersimpan@example.id"}
    await ledger.contacts.delete_many({})
    again = await ledger.contacts_for(["KC02-0000-2"])
    assert again["KC02-0000-2"]["email"] == "tersimpan@example.id"
