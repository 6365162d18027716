"""New notifications handed straight to the delivery queues: claimed at insert, as many as
the queues take; the rest stay pending for the fetcher; a claim queued too long is given
back rather than sent late."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from services.notifier.delivery import HANDOFF_DEPTH_PER_WORKER, Deliverer
from shared.clock import ManualClock
from shared.settings import Settings
from shared.topics import Topics

NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


class ReleasingLedger:
    def __init__(self) -> None:
        self.released: list[str] = []

    async def release(self, claimed: Any, now: Any = None) -> None:
        self.released += [doc["_id"] for doc in claimed]


def deliverer(workers: int = 1, ledger: Any = None) -> Deliverer:
    clock = ManualClock(NOW)
    return Deliverer(ledger=ledger or ReleasingLedger(), smtp=SimpleNamespace(),  # type: ignore[arg-type]
                     sms=SimpleNamespace(), publish_all=None,  # type: ignore[arg-type]
                     topics=Topics(""), settings=Settings(notify_concurrency=workers),
                     clock=clock, agencies={}, secret_for=lambda tid: "")


def pending(nid: str, channel: str = "email") -> dict[str, Any]:
    return {"_id": nid, "channel": channel, "state": "pending", "attempts": 0,
            "next_attempt_at": NOW}


def test_new_pending_notifications_are_claimed_up_to_the_queue_depth_per_channel() -> None:
    d = deliverer(workers=1)
    depth = HANDOFF_DEPTH_PER_WORKER
    documents = [pending(f"e{i}") for i in range(depth + 3)] + [pending("s1", "sms")]
    documents.append({"_id": "k1", "channel": None, "state": "skipped"})
    claimed = d.claim_on_insert(documents, NOW)
    assert [doc["_id"] for doc in claimed] == [f"e{i}" for i in range(depth)] + ["s1"]
    first = claimed[0]
    assert first["state"] == "sending" and first["attempts"] == 1
    assert first["lease_until"] == NOW + d.lease and "next_attempt_at" not in first
    assert len({doc["claim"] for doc in claimed}) == 1  # one token for the batch
    left = [doc for doc in documents if doc["state"] == "pending"]
    assert [doc["_id"] for doc in left] == [f"e{depth + i}" for i in range(3)]  # the fetcher's


def test_handed_over_notifications_count_against_the_room_of_the_next_batch() -> None:
    d = deliverer(workers=1)
    d.hand_over(d.claim_on_insert([pending(f"e{i}") for i in range(5)], NOW))
    again = d.claim_on_insert([pending(f"f{i}") for i in range(HANDOFF_DEPTH_PER_WORKER)], NOW)
    assert len(again) == HANDOFF_DEPTH_PER_WORKER - 5


async def test_a_claim_queued_past_half_its_lease_is_given_back_not_sent() -> None:
    ledger = ReleasingLedger()
    d = deliverer(workers=1, ledger=ledger)
    fresh, stale = pending("fresh"), pending("stale")
    d.claim_on_insert([fresh, stale], NOW)
    assert not d._claim_ageing(fresh)
    stale["lease_until"] = NOW + d.lease / 2 - timedelta(seconds=1)  # waited too long
    d.hand_over([stale])
    d._queues["email"].put_nowait(None)  # then stop the worker
    await d._work("email")
    assert ledger.released == ["stale"]  # due again for the fetcher, never sent late
    assert "stale" not in d._known["email"] and d.ledger_backlog
