"""The notification ledger: one document per notification, keyed by its deterministic id,
so redelivery or restart can never plan the same notification twice.

On the common path nothing is ever updated, only inserted (an update costs the embedded
database several times an insert, and more with every index):

- `notifications`: the planned notification, written once. States: pending (due at
  `next_attempt_at`, the only indexed field) or sending (claimed by a batch `claim` token);
  or finished at planning (skipped, or failed for a citizen-secret mismatch).
- `notification_claims`: one document per claimed batch (its token, its ids and its
  `lease_until`), inserted before the claim and deleted once every notification of the
  batch is finished, due again, or given back. A batch whose lease lapsed (a dead instance)
  is taken over by one instance (compare-and-set on the lease), which makes its unfinished
  notifications due again.
- `notification_outcomes`: the final state of a finished notification, one insert with the
  notification's id. The first outcome recorded is the outcome; a second (a worker whose
  lease lapsed while another took over) does not land. No secondary index: on the embedded
  database the first index on a collection more than doubles the cost of every insert.
- `unreported_outcomes`: the ids of outcomes whose `notification.*` event is still to
  publish (the broker was away, or the notification was finished at planning), written
  after their outcome (which is flagged `unreported` too) and deleted once the reporter
  published them. The outcome's flag repairs a crash between the two writes: planning is
  redelivered and writes the marker again, and a lapsed claim's taker writes it for the
  claim's flagged outcomes.

So several notifier instances never send one notification twice while a claim is alive.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ASCENDING, IndexModel, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from shared.mongo import find_in, in_chunks, insert_first_wins

COLLECTION = "notifications"
OUTCOMES = "notification_outcomes"
CLAIMS = "notification_claims"
UNREPORTED = "unreported_outcomes"
LEGACY_UNREPORTED_INDEX = "unreported"  # on notification_outcomes, before the queue existed
CONTACTS = "contacts"
DEFERRED = "deferred_events"
FINISHED = frozenset({"sent", "failed", "skipped"})
TAKEOVER_LEASE = timedelta(seconds=60)  # a taker that dies midway leaves it to the next one
# What an outcome keeps of its notification: enough to publish its event without a join.
_OUTCOME_FIELDS = ("tracking_id", "source_event_id", "channel", "recipient_masked",
                   "template", "attempts")

INDEXES = {
    COLLECTION: [
        # The queue of notifications due for an attempt: sparse, so only pending ones are
        # in it (those claimed at insert, most of them, never are).
        IndexModel([("next_attempt_at", ASCENDING)], name="pending_due", sparse=True),
    ],
    OUTCOMES: [],  # read by `_id` only
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
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.collection = db[COLLECTION]
        self.outcomes = db[OUTCOMES]
        self.unreported_ids = db[UNREPORTED]
        self.claims = db[CLAIMS]
        self.contacts = db[CONTACTS]
        self.deferred = db[DEFERRED]

    async def record(self, documents: Sequence[dict[str, Any]]) -> list[str]:
        """Insert planned notifications; returns the ids that were new. Those finished at
        planning get their (unreported) outcome too, also when only redelivery brings them
        here again: a crash between the inserts loses no outcome and no report."""
        known = await insert_first_wins(self.collection, documents)
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
        for chunk in in_chunks(list(tokens)):
            await self.claims.delete_many({"_id": {"$in": chunk}})

    async def claim_many(self, notification_ids: Sequence[str], now: datetime,
                         lease: timedelta) -> Claim:
        """Claim these ids for one attempt each (counted now, before sending) where they are
        still pending and due: one claim insert, one bulk write and one read."""
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
        if not claim.documents:
            await self.close_claims([claim.token])
        return claim

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
            finished = {d["_id"]: d.get("unreported", False) async for d in find_in(
                self.outcomes, "_id", ids, projection={"unreported": 1})}
            # Its instance may have died between writing an outcome and queueing its report.
            await insert_first_wins(self.unreported_ids, [
                {"_id": nid} for nid, unreported in finished.items() if unreported])
            unfinished = [nid for nid in ids if nid not in finished]
            if unfinished:
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
            await self.collection.bulk_write([UpdateOne(
                {"_id": doc["_id"], "claim": doc.get("claim")},
                {"$set": {"state": "pending", "next_attempt_at": now},
                 "$unset": {"claim": ""}, "$inc": {"attempts": -1}}) for doc in claimed],
                ordered=False)

    async def due_ids(self, now: datetime, limit: int, *, channel: str | None = None,
                      exclude: Sequence[str] = ()) -> list[str]:
        """Ids worth claiming: pending and due (retries, what did not fit the queues at
        planning, what a lapsed claim left). `channel` keeps one channel's backlog from
        hiding another's; `exclude` skips the ids this worker already holds (filtered here,
        not with a `$nin` of hundreds of ids, which costs the database a comparison per
        candidate)."""
        extra: dict[str, Any] = {}
        if channel is not None:
            extra["channel"] = channel
        held = set(exclude)
        return [doc["_id"] async for doc in self.collection.find(
            {"next_attempt_at": {"$lte": now}, **extra}, {"_id": 1}
        ).sort("next_attempt_at", ASCENDING).limit(limit) if doc["_id"] not in held]

    async def finish_many(self, finishes: Sequence[Finish], *, reported: bool) -> set[str]:
        """Write the outcomes in one multi-document insert; returns the ids whose outcome
        landed (the first one recorded for a notification wins). Unreported outcomes are
        queued for the reporter loop."""
        if not finishes:
            return set()
        outcomes = [f.outcome(reported) for f in finishes]
        known = await insert_first_wins(self.outcomes, outcomes)
        if not reported:
            await insert_first_wins(self.unreported_ids, [
                {"_id": o["_id"]} for i, o in enumerate(outcomes) if i not in known])
        return {f.claimed["_id"] for i, f in enumerate(finishes) if i not in known}

    async def retry_later(self, claimed: dict[str, Any], at: datetime, error: str) -> bool:
        result = await self.collection.update_one(
            {"_id": claimed["_id"], "claim": claimed.get("claim")},
            {"$set": {"state": "pending", "next_attempt_at": at, "last_error": error},
             "$unset": {"claim": ""}})
        return result.matched_count == 1

    async def mark_reported(self, notification_ids: Sequence[str]) -> None:
        for chunk in in_chunks(list(notification_ids)):
            await self.outcomes.update_many({"_id": {"$in": chunk}},
                                            {"$unset": {"unreported": ""}})
            await self.unreported_ids.delete_many({"_id": {"$in": chunk}})

    async def mark_unreportable(self, notification_id: str, error: str) -> None:
        """An outcome whose event cannot be built: kept, with why, out of the queue."""
        await self.outcomes.update_one({"_id": notification_id},
                                       {"$unset": {"unreported": ""},
                                        "$set": {"report_error": error}})
        await self.unreported_ids.delete_one({"_id": notification_id})

    async def queue_legacy_unreported(self) -> int:
        """Upgrade from versions that found unreported outcomes through a sparse index on
        the flag: queue every flagged outcome, then drop that index (whose presence is the
        sign that this is still to do; a crash in between repeats it harmlessly). Returns
        the number of outcomes queued."""
        if LEGACY_UNREPORTED_INDEX not in await self.outcomes.index_information():
            return 0
        ids = [d["_id"] async for d in self.outcomes.find({"unreported": True}, {"_id": 1})]
        for chunk in in_chunks(ids, 1000):
            await insert_first_wins(self.unreported_ids, [{"_id": nid} for nid in chunk])
        await self.outcomes.drop_index(LEGACY_UNREPORTED_INDEX)
        return len(ids)

    async def unreported(self, limit: int) -> list[dict[str, Any]]:
        """Outcomes whose event is still to publish, up to `limit`. A queued id whose
        outcome is no longer flagged (reported just before a crash) leaves the queue."""
        ids = [d["_id"] async for d in self.unreported_ids.find().limit(limit)]
        outcomes = [d async for d in find_in(self.outcomes, "_id", ids)]
        waiting = [d for d in outcomes if d.get("unreported")]
        waiting_ids = {d["_id"] for d in waiting}
        for chunk in in_chunks([nid for nid in ids if nid not in waiting_ids]):
            await self.unreported_ids.delete_many({"_id": {"$in": chunk}})
        return waiting

    async def states(self, notification_ids: Sequence[str]) -> dict[str, str]:
        """Each notification's current state: its outcome's, else its own."""
        ids = list(notification_ids)
        states = {d["_id"]: d["state"] async for d in find_in(
            self.collection, "_id", ids, projection={"state": 1})}
        states |= {d["_id"]: d["state"] async for d in find_in(
            self.outcomes, "_id", ids, projection={"state": 1})}
        return states

    async def pending_count(self) -> int:
        """Notifications not finished yet: due or waiting for a retry, plus those in live
        claims (a claim's finished ones count until the claim closes, moments later)."""
        since_ever = {"$gte": datetime(1970, 1, 1, tzinfo=UTC)}  # reads the sparse index
        pending = await self.collection.count_documents({"next_attempt_at": since_ever})
        pipeline: list[dict[str, Any]] = [
            {"$group": {"_id": None, "n": {"$sum": {"$size": "$ids"}}}}]
        claimed = [row["n"] async for row in await self.claims.aggregate(pipeline)]
        return pending + (claimed[0] if claimed else 0)

    # -- reporter contacts (from complaint.received; needed for every later event) ---------
    async def save_contacts(self, contacts: Sequence[dict[str, Any]]) -> None:
        """Keep each complaint's contacts, first write wins (an insert; a redelivered
        complaint's duplicate key is expected)."""
        await insert_first_wins(self.contacts, contacts)

    async def contacts_for(self, tracking_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        return {doc["_id"]: doc async for doc in find_in(self.contacts, "_id", tracking_ids)}

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
        if event_ids:
            for chunk in in_chunks(list(event_ids)):
                await self.deferred.delete_many({"_id": {"$in": chunk}})
