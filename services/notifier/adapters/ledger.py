"""The notification ledger: one document per notification, keyed by its deterministic id,
so redelivery or restart can never plan the same notification twice.

On the common path nothing is ever updated, only inserted (an update costs the embedded
database several times an insert, and more with every index):

- `notifications`: the planned notification, written once. States: pending (due at
  `next_attempt_at`) or sending (claimed by a batch `claim` token); or finished at
  planning (skipped, or failed for a citizen-secret mismatch). No secondary index: on the
  embedded database the first index on a collection more than doubles the cost of every
  insert, and most notifications are claimed as they are inserted, never pending.
- `notification_queue`: where pending notifications are found: one small entry per
  notification that may be due (`due`, `channel`; indexed). The notification's own
  fields stay the authority (a claim is a compare-and-set on `next_attempt_at`), so the
  queue is only ever a hint: an entry is written before its notification becomes pending
  (a crash in between leaves an entry too many, never a pending notification nobody
  finds), deleted once its notification is claimed, and an entry whose notification was
  not claimable is deleted if the notification is finished, else looked at again later.
- `notification_claims`: one document per claimed batch (its token, its ids and its
  `lease_until`), inserted before the claim and deleted once every notification of the
  batch is finished, due again, or given back. A batch whose lease lapsed (a dead instance)
  is taken over by one instance (compare-and-set on the lease), which makes its unfinished
  notifications due again.
- `notification_outcome_batches`: the final states of delivered (sent or failed)
  notifications, one document per recorder batch and claim (its `claim` token, indexed,
  and its `outcomes`), so a batch of outcomes costs the database one document, not one
  per notification. A notification's outcome is the one recorded under its current claim
  (the `claim` of its own document, which is never updated once it is sent): a worker
  whose lease lapsed while another took over still records what it did under its own
  claim, which is no longer the notification's.
- `notification_outcomes`: one document per notification, keyed by its id: those
  finished at planning (skipped, or failed for a citizen-secret mismatch), and every
  outcome an earlier version recorded (still read: a rolling upgrade, a claim an earlier
  instance left). The first outcome recorded is the outcome. No secondary index: on the
  embedded database the first index on a collection more than doubles the cost of every
  insert.
- `unreported_outcomes`: outcomes whose `notification.*` event is still to publish,
  deleted once the reporter published them. A delivered one (the broker was away) is
  queued whole, before its batch is recorded: a crash in between repeats the send once
  its claim lapses, and loses no report. One finished at planning is queued by id after
  its outcome, which is flagged `unreported` too: the flag repairs a crash between the
  two writes (planning is redelivered and queues it again; a lapsed claim's taker queues
  an earlier version's flagged outcomes).

So several notifier instances never send one notification twice while a claim is alive.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ASCENDING, IndexModel, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from services.notifier.adapters.known_contacts import KnownContacts
from shared.mongo import delete_in, find_in, in_chunks, insert_first_wins

COLLECTION = "notifications"
OUTCOMES = "notification_outcomes"
OUTCOME_BATCHES = "notification_outcome_batches"
CLAIMS = "notification_claims"
UNREPORTED = "unreported_outcomes"
QUEUE = "notification_queue"
LEGACY_PENDING_INDEX = "pending_due"  # on notifications, before the queue existed
LEGACY_UNREPORTED_INDEX = "unreported"  # on notification_outcomes, before the queue existed
CONTACTS = "contacts"
DEFERRED = "deferred_events"
FINISHED = frozenset({"sent", "failed", "skipped"})
TAKEOVER_LEASE = timedelta(seconds=60)  # a taker that dies midway leaves it to the next one
# What an outcome keeps of its notification: enough to publish its event without a join.
_OUTCOME_FIELDS = ("tracking_id", "source_event_id", "channel", "recipient_masked",
                   "template", "attempts")

INDEXES = {
    COLLECTION: [],  # read by `_id` only
    QUEUE: [IndexModel([("channel", ASCENDING), ("due", ASCENDING)], name="channel_due")],
    OUTCOMES: [],  # read by `_id` only
    # Few documents (one per recorder batch and claim): an index costs next to nothing.
    OUTCOME_BATCHES: [IndexModel([("claim", ASCENDING)], name="claim")],
    UNREPORTED: [],  # small: read whole, in natural order
    CLAIMS: [IndexModel([("lease_until", ASCENDING)], name="lease_until")],
    CONTACTS: [],
    DEFERRED: [IndexModel([("tracking_id", ASCENDING)], name="tracking_id")],
}


@dataclass
class Claim:
    """A batch of notifications claimed under one token until `lease_until`."""

    token: str
    lease_until: datetime
    documents: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def new(cls, now: datetime, lease: timedelta) -> Claim:
        return cls(uuid.uuid4().hex, now + lease)

    def record(self, ids: Sequence[str] | None = None) -> dict[str, Any]:
        """The claim's document: its token, lease and the ids it covers (by default, those
        of its documents)."""
        return {"_id": self.token, "lease_until": self.lease_until,
                "ids": list(ids) if ids is not None else [d["_id"] for d in self.documents]}


def outcome_document(notification: dict[str, Any], state: str, at: datetime | None,
                     error: str | None, *, reported: bool) -> dict[str, Any]:
    document = {"_id": notification["_id"], "state": state, "finished_at": at,
                "last_error": error,
                **{k: notification[k] for k in _OUTCOME_FIELDS if k in notification}}
    if not reported:
        document["unreported"] = True
    return document


def outcome_batch(token: str | None, outcomes: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One claim's outcomes of one recorder batch, as a document. Its key derives from the
    claim and the notifications it holds, so writing the same batch again (a retry after a
    write that landed unseen) is a duplicate key, not a second copy."""
    ids = "\n".join(sorted(o["_id"] for o in outcomes)).encode("utf-8", "surrogatepass")
    digest = hashlib.blake2b(ids, digest_size=12).hexdigest()
    return {"_id": f"{token}:{digest}", "claim": token, "outcomes": list(outcomes)}


def _queue_entry(notification: dict[str, Any], due: datetime) -> dict[str, Any]:
    return {"_id": notification["_id"], "due": due, "channel": notification.get("channel")}


@dataclass(frozen=True)
class Finish:
    """A claimed notification's final state, to write."""

    claimed: dict[str, Any]
    state: str
    at: datetime
    error: str | None = None

    def finished_document(self) -> dict[str, Any]:
        return {**self.claimed, "state": self.state, "finished_at": self.at,
                "last_error": self.error}

    def outcome(self, reported: bool) -> dict[str, Any]:
        return outcome_document(self.claimed, self.state, self.at, self.error,
                                reported=reported)


class Ledger:
    def __init__(self, db: AsyncDatabase[dict[str, Any]], *,
                 known_contacts: int = 20_000) -> None:
        self.collection = db[COLLECTION]
        self.outcomes = db[OUTCOMES]
        self.outcome_batches = db[OUTCOME_BATCHES]
        self.unreported_ids = db[UNREPORTED]
        self.queue = db[QUEUE]
        self.claims = db[CLAIMS]
        self.contacts = db[CONTACTS]
        self.known_contacts = KnownContacts(known_contacts)
        self.deferred = db[DEFERRED]

    async def record(self, documents: Sequence[dict[str, Any]]) -> list[str]:
        """Insert planned notifications; returns the ids that were new. Those finished at
        planning get their (unreported) outcome too, also when only redelivery brings them
        here again: a crash between the inserts loses no outcome and no report."""
        known = await insert_first_wins(self.collection, documents)
        # Queued after the insert: a crash in between redelivers the batch, and this again.
        await insert_first_wins(self.queue, [_queue_entry(d, d["next_attempt_at"])
                                             for d in documents if d.get("next_attempt_at")])
        finished = [d for d in documents if d.get("state") in FINISHED]
        outcomes = [outcome_document(d, d["state"], d.get("finished_at"), d.get("last_error"),
                                     reported=False) for d in finished]
        await self._flag_unreported(outcomes, await insert_first_wins(self.outcomes, outcomes))
        return [d["_id"] for i, d in enumerate(documents) if i not in known]

    async def _flag_unreported(self, outcomes: Sequence[dict[str, Any]],
                               known: dict[int, dict[str, Any]]) -> None:
        """Queue for the reporter the outcomes just written unreported and, of those already
        stored (a redelivery, a second writer), the ones whose event is still to publish."""
        ids = [o["_id"] for i, o in enumerate(outcomes) if i not in known]
        if known:
            stored = [outcomes[i]["_id"] for i in known]
            ids += [d["_id"] async for d in find_in(self.outcomes, "_id", stored,
                                                    {"unreported": True}, {"_id": 1})]
        await insert_first_wins(self.unreported_ids, [{"_id": nid} for nid in ids])

    async def open_claim(self, claim: Claim) -> None:
        """Register a batch claim before its notifications are claimed (inserted as
        `sending`, or updated by `claim_many`): a crash in between leaves a claim to take
        over, never a notification claimed by nobody."""
        if claim.documents:
            await self.claims.insert_one(claim.record())

    async def close_claims(self, tokens: Sequence[str]) -> None:
        await delete_in(self.claims, "_id", tokens)

    async def claim_many(self, notification_ids: Sequence[str], now: datetime,
                         lease: timedelta) -> Claim:
        """Claim these ids for one attempt each (counted now, before sending) where they are
        still pending and due: one claim insert, one bulk write and one read; then their
        queue entries go (those of ids not claimable are looked at again, `_requeue`)."""
        claim = Claim.new(now, lease)
        ids = list(notification_ids)
        if not ids:
            return claim
        await self.claims.insert_one(claim.record(ids))
        # One bulk of single-document updates: on the embedded database a by-`_id` update
        # costs a quarter of an `$in` update_many's.
        await self.collection.bulk_write(
            [UpdateOne({"_id": nid, "next_attempt_at": {"$lte": now}},
                       {"$set": {"state": "sending", "claim": claim.token},
                        "$unset": {"next_attempt_at": ""}, "$inc": {"attempts": 1}})
             for nid in ids], ordered=False)
        claim.documents = [doc async for doc in find_in(self.collection, "_id", ids,
                                                        {"claim": claim.token})]
        claimed = {d["_id"] for d in claim.documents}
        await delete_in(self.queue, "_id", sorted(claimed))
        missed = [nid for nid in ids if nid not in claimed]
        if missed:
            await self._requeue(missed, now, lease)
        if not claim.documents:
            await self.close_claims([claim.token])
        return claim

    async def _requeue(self, ids: Sequence[str], now: datetime, lease: timedelta) -> None:
        """Queue entries whose notification could not be claimed: another instance claimed
        it first, it is finished, it is due later, or a writer is about to make it pending
        (entry first, notification second). A finished one's entry goes; a pending one's
        follows its `next_attempt_at`; any other is looked at again after a lease, by when
        a claim holding it has finished or lapsed (and its taker queued it anew)."""
        found = [d async for d in find_in(self.collection, "_id", ids, projection={
            "next_attempt_at": 1, "state": 1, "claim": 1})]
        finished = await self._finished(found)
        due = {d["_id"]: d.get("next_attempt_at") for d in found if d["_id"] not in finished}
        # Finished, or no such notification: the entry goes.
        await delete_in(self.queue, "_id", [nid for nid in ids if nid not in due])
        later = [UpdateOne({"_id": nid}, {"$set": {"due": at or now + lease}})
                 for nid, at in due.items()]
        if later:  # no upsert: an entry deleted meanwhile (claimed) stays deleted
            await self.queue.bulk_write(later, ordered=False)

    async def take_over_lapsed(self, now: datetime, limit: int = 50) -> int:
        """Claims whose lease lapsed (their instance died or hung): one instance takes each
        over (compare-and-set on the lease), makes what it left unfinished due now, and
        deletes the claim. Returns how many notifications became due again."""
        due_again = 0
        async for claim in self.claims.find({"lease_until": {"$lte": now}}).sort(
                "lease_until", ASCENDING).limit(limit):
            taken = await self.claims.update_one(
                {"_id": claim["_id"], "lease_until": claim["lease_until"]},
                {"$set": {"lease_until": now + TAKEOVER_LEASE}})
            if taken.modified_count != 1:
                continue  # another instance took it
            ids = list(claim["ids"])
            # An earlier version kept each outcome alone, flagged while its event was
            # unpublished: its instance may have died before queueing the report.
            flagged = {d["_id"]: d.get("unreported", False) async for d in find_in(
                self.outcomes, "_id", ids, projection={"unreported": 1})}
            await insert_first_wins(self.unreported_ids, [
                {"_id": nid} for nid, unreported in flagged.items() if unreported])
            finished = set(flagged) | {
                nid for _, nid in await self._outcomes_under([claim["_id"]])}
            unfinished = [nid for nid in ids if nid not in finished]
            if unfinished:
                await self._queue_at(unfinished, now)
                result = await self.collection.bulk_write([UpdateOne(
                    {"_id": nid, "claim": claim["_id"]},
                    {"$set": {"state": "pending", "next_attempt_at": now},
                     "$unset": {"claim": ""}}) for nid in unfinished], ordered=False)
                due_again += result.modified_count
            await self.close_claims([claim["_id"]])
        return due_again

    async def release(self, claimed: Sequence[dict[str, Any]], now: datetime) -> None:
        """Give back claims never attempted (queued at shutdown, or too long): due at once."""
        if claimed:
            await self._queue_at([d["_id"] for d in claimed], now,
                                 {d["_id"]: d.get("channel") for d in claimed})
            await self.collection.bulk_write([UpdateOne(
                {"_id": doc["_id"], "claim": doc.get("claim")},
                {"$set": {"state": "pending", "next_attempt_at": now},
                 "$unset": {"claim": ""}, "$inc": {"attempts": -1}}) for doc in claimed],
                ordered=False)

    async def due_ids(self, now: datetime, limit: int, *, channel: str | None = None,
                      exclude: Sequence[str] = ()) -> list[str]:
        """Ids worth claiming: queued and due (retries, what did not fit the queues at
        planning, what a lapsed claim left). `channel` keeps one channel's backlog from
        hiding another's; `exclude` skips the ids this worker already holds (filtered here,
        not with a `$nin` of hundreds of ids, which costs the database a comparison per
        candidate)."""
        query: dict[str, Any] = {"due": {"$lte": now}}
        if channel is not None:
            query["channel"] = channel
        held = set(exclude)
        return [doc["_id"] async for doc in self.queue.find(query, {"_id": 1}).sort(
            "due", ASCENDING).limit(limit) if doc["_id"] not in held]

    async def _queue_at(self, ids: Sequence[str], at: datetime,
                        channels: dict[str, str | None] | None = None) -> None:
        """Queue entries due at `at`, written before their notifications become pending."""
        if channels is None:
            channels = {d["_id"]: d.get("channel") async for d in find_in(
                self.collection, "_id", ids, projection={"channel": 1})}
        await self.queue.bulk_write([UpdateOne(
            {"_id": nid}, {"$set": {"due": at, "channel": channels.get(nid)}}, upsert=True)
            for nid in ids], ordered=False)

    async def finish_many(self, finishes: Sequence[Finish], *, reported: bool) -> None:
        """Write the outcomes, one document per claim among them, in one insert.
        Unreported outcomes are queued whole for the reporter loop first (a crash in
        between leaves a report too many, never one too few; of two queued for one
        notification, the first stays)."""
        if not finishes:
            return
        outcomes = [f.outcome(reported=True) for f in finishes]
        if not reported:
            await insert_first_wins(self.unreported_ids, outcomes)
        by_claim: dict[str | None, list[dict[str, Any]]] = {}
        for finish, outcome in zip(finishes, outcomes, strict=True):
            by_claim.setdefault(finish.claimed.get("claim"), []).append(outcome)
        # A duplicate key is this very batch, written before (a retry): recorded already.
        await insert_first_wins(self.outcome_batches, [
            outcome_batch(token, claimed) for token, claimed in by_claim.items()])

    async def _outcomes_under(self, tokens: Sequence[str]) -> dict[tuple[str, str], dict[str, Any]]:
        """The outcomes recorded under these claims, by (claim, notification id)."""
        found: dict[tuple[str, str], dict[str, Any]] = {}
        async for batch in find_in(self.outcome_batches, "claim", sorted(set(tokens))):
            for outcome in batch["outcomes"]:
                found.setdefault((batch["claim"], outcome["_id"]), outcome)
        return found

    async def _finished(self, notifications: Sequence[dict[str, Any]]) -> dict[str, str]:
        """Of these notification documents (`state` and `claim` at least), the finished
        ones and their final state: finished at planning, recorded alone (at planning, or
        by an earlier version), or recorded under the notification's current claim."""
        finished = {d["_id"]: d["state"] for d in notifications if d.get("state") in FINISHED}
        claimed = [d for d in notifications if d["_id"] not in finished and d.get("claim")]
        if not claimed:
            return finished
        finished |= {d["_id"]: d["state"] async for d in find_in(
            self.outcomes, "_id", [d["_id"] for d in claimed], projection={"state": 1})}
        under = await self._outcomes_under([d["claim"] for d in claimed])
        for doc in claimed:
            outcome = under.get((doc["claim"], doc["_id"]))
            if outcome is not None and doc["_id"] not in finished:
                finished[doc["_id"]] = outcome["state"]
        return finished

    async def retry_later(self, claimed: dict[str, Any], at: datetime, error: str) -> bool:
        await self._queue_at([claimed["_id"]], at, {claimed["_id"]: claimed.get("channel")})
        result = await self.collection.update_one(
            {"_id": claimed["_id"], "claim": claimed.get("claim")},
            {"$set": {"state": "pending", "next_attempt_at": at, "last_error": error},
             "$unset": {"claim": ""}})
        return result.matched_count == 1

    async def mark_reported(self, notification_ids: Sequence[str]) -> None:
        for chunk in in_chunks(list(notification_ids)):
            await self.outcomes.update_many({"_id": {"$in": chunk}, "unreported": True},
                                            {"$unset": {"unreported": ""}})
            await self.unreported_ids.delete_many({"_id": {"$in": chunk}})

    async def mark_unreportable(self, notification_id: str, error: str) -> None:
        """An outcome whose event cannot be built: kept, with why, out of the queue (one
        queued whole stays in it, set aside; one queued by id leaves it)."""
        await self.outcomes.update_one({"_id": notification_id},
                                       {"$unset": {"unreported": ""},
                                        "$set": {"report_error": error}})
        await self.unreported_ids.delete_one({"_id": notification_id, "state": None})
        await self.unreported_ids.update_one({"_id": notification_id},
                                             {"$set": {"report_error": error}})

    async def upgrade_storage(self) -> dict[str, int]:
        """Upgrade from versions that found pending notifications and unreported outcomes
        through sparse indexes (`pending_due` on notifications, `unreported` on outcomes):
        queue what those indexes hold, then drop them (an index's presence is the sign
        that this is still to do; a crash in between repeats it harmlessly). Returns how
        many entries were queued, per queue."""
        done = {"pending": 0, "unreported": 0}
        if LEGACY_PENDING_INDEX in await self.collection.index_information():
            since_ever = {"$gte": datetime(1970, 1, 1, tzinfo=UTC)}  # reads the sparse index
            pending = [_queue_entry(d, d["next_attempt_at"]) async for d in self.collection.find(
                {"next_attempt_at": since_ever}, {"next_attempt_at": 1, "channel": 1})]
            for chunk in in_chunks(pending, 1000):
                await insert_first_wins(self.queue, chunk)
            await self.collection.drop_index(LEGACY_PENDING_INDEX)
            done["pending"] = len(pending)
        if LEGACY_UNREPORTED_INDEX in await self.outcomes.index_information():
            ids = [d["_id"] async for d in self.outcomes.find({"unreported": True}, {"_id": 1})]
            for id_chunk in in_chunks(ids, 1000):
                await insert_first_wins(self.unreported_ids, [{"_id": nid} for nid in id_chunk])
            await self.outcomes.drop_index(LEGACY_UNREPORTED_INDEX)
            done["unreported"] = len(ids)
        return done

    async def unreported(self, limit: int) -> list[dict[str, Any]]:
        """Outcomes whose event is still to publish, up to `limit`, except those set aside
        as unreportable: those queued whole as they are; for those queued by id, their
        outcome. A queued id whose outcome is no longer flagged (reported just before a
        crash) leaves the queue."""
        queued = [d async for d in self.unreported_ids.find(
            {"report_error": None}).limit(limit)]
        whole = [d for d in queued if "state" in d]  # a delivered outcome, queued whole
        ids = [d["_id"] for d in queued if "state" not in d]
        outcomes = [d async for d in find_in(self.outcomes, "_id", ids)]
        waiting = [d for d in outcomes if d.get("unreported")]
        waiting_ids = {d["_id"] for d in waiting}
        await delete_in(self.unreported_ids, "_id", [nid for nid in ids if nid not in waiting_ids])
        return whole + waiting

    async def states(self, notification_ids: Sequence[str]) -> dict[str, str]:
        """Each notification's current state: its outcome's, else its own."""
        found = [d async for d in find_in(self.collection, "_id", list(notification_ids),
                                          projection={"state": 1, "claim": 1})]
        return {d["_id"]: d["state"] for d in found} | await self._finished(found)

    async def pending_count(self) -> int:
        """Notifications not finished yet: queued (due or waiting for a retry), plus those
        in live claims (a claim's finished ones count until the claim closes, moments later;
        a queue entry left behind by a crash counts until a fetch looks at it)."""
        pending = await self.queue.count_documents({})
        pipeline: list[dict[str, Any]] = [
            {"$group": {"_id": None, "n": {"$sum": {"$size": "$ids"}}}}]
        claimed = [row["n"] async for row in await self.claims.aggregate(pipeline)]
        return pending + (claimed[0] if claimed else 0)

    # -- reporter contacts (from complaint.received; needed for every later event) ---------
    async def save_contacts(self, contacts: Sequence[dict[str, Any]]) -> None:
        """Keep each complaint's contacts, first write wins (an insert; a redelivered
        complaint's duplicate key is expected)."""
        lost = await insert_first_wins(self.contacts, contacts)
        # A copy that lost to an earlier write may differ from the stored one: not kept.
        self.known_contacts.keep(c for i, c in enumerate(contacts) if i not in lost)

    async def contacts_for(self, tracking_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        known, unknown = self.known_contacts.split(tracking_ids)
        if unknown:
            found = [doc async for doc in find_in(self.contacts, "_id", unknown)]
            self.known_contacts.keep(found)
            known.update((doc["_id"], doc) for doc in found)
        return known

    # -- events that arrived before their complaint ---------------------------------------
    async def defer(self, events: Sequence[tuple[str, str, dict[str, Any]]]) -> None:
        # First write wins: a redelivered event is deferred already.
        await insert_first_wins(self.deferred, [
            {"_id": event_id, "tracking_id": tid, "event": e} for event_id, tid, e in events])

    async def take_deferred(self, tracking_ids: Sequence[str]) -> list[Any]:
        """Deferred events of these complaints. They are removed only once planned:
        the caller's ledger write makes planning them twice harmless."""
        if not tracking_ids:
            return []
        if await self.deferred.find_one({}, {"_id": 1}) is None:
            return []  # the usual case, for the price of one document read
        from shared.contract.events import EVENT_TYPES

        docs = [d async for d in find_in(self.deferred, "tracking_id", tracking_ids)]
        return [EVENT_TYPES[d["event"]["event_type"]].model_validate(d["event"]) for d in docs]

    async def forget_deferred(self, event_ids: Sequence[str]) -> None:
        await delete_in(self.deferred, "_id", event_ids)
