"""The outcome recorder: batches, publish-then-write, retries while the database is away."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel
from structlog.testing import capture_logs

from services.notifier.adapters.ledger import Finish
from services.notifier.recording import OutcomeRecorder

AT = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


class Event(BaseModel):
    notification_id: str
    state: str


class FakeLedger:
    """Records bulk finishes; can fail the next `failures` writes."""

    def __init__(self, failures: int = 0) -> None:
        self.writes: list[tuple[list[str], bool]] = []
        self.failures = failures

    async def finish_many(self, finishes: Sequence[Finish], *, reported: bool) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("database away")
        self.writes.append(([f.claimed["_id"] for f in finishes], reported))


class Broker:
    def __init__(self, fail: bool = False) -> None:
        self.published: list[list[Any]] = []
        self.fail = fail

    async def publish_all(self, items: Sequence[tuple[BaseModel, str]]) -> None:
        if self.fail:
            raise ConnectionError("broker away")
        self.published.append([event for event, _ in items])


def recorder(ledger: FakeLedger, broker: Broker, retry_for: float = 30.0) -> OutcomeRecorder:
    return OutcomeRecorder(
        ledger=ledger, publish_all=broker.publish_all, topic="lapor.notifications.events",  # type: ignore[arg-type]
        event_of=lambda doc: Event(notification_id=doc["_id"], state=doc["state"]),
        retry_for=retry_for)


async def run_until_idle(rec: OutcomeRecorder) -> None:
    task = asyncio.create_task(rec.run_forever())
    await rec.drain(5)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_outcomes_queued_together_are_published_then_written_in_one_batch() -> None:
    ledger, broker = FakeLedger(), Broker()
    rec = recorder(ledger, broker)
    landed: dict[str, bool] = {}
    for nid, state in (("n1", "sent"), ("n2", "failed"), ("n3", "sent")):
        rec.record({"_id": nid, "claim": "c"}, state, AT,
                   done=lambda ok, nid=nid: landed.__setitem__(nid, ok))
    await run_until_idle(rec)
    assert [[(e.notification_id, e.state) for e in batch] for batch in broker.published] == [
        [("n1", "sent"), ("n2", "failed"), ("n3", "sent")]]
    assert ledger.writes == [(["n1", "n2", "n3"], True)]
    assert landed == {"n1": True, "n2": True, "n3": True}


async def test_when_the_broker_is_away_outcomes_are_written_unreported() -> None:
    ledger, broker = FakeLedger(), Broker(fail=True)
    rec = recorder(ledger, broker)
    rec.record({"_id": "n1"}, "sent", AT)
    await run_until_idle(rec)
    assert ledger.writes == [(["n1"], False)]  # the reporter loop publishes it later


async def test_while_the_database_is_away_the_batch_is_retried() -> None:
    ledger, broker = FakeLedger(failures=2), Broker()
    rec = recorder(ledger, broker)
    landed: list[bool] = []
    rec.record({"_id": "n1"}, "sent", AT, done=landed.append)
    await run_until_idle(rec)
    assert ledger.writes == [(["n1"], True)] and landed == [True]
    assert len(broker.published) == 3  # published each time (same event: consumers dedupe)


async def test_an_outcome_not_written_within_its_retry_time_is_given_up() -> None:
    ledger, broker = FakeLedger(failures=1), Broker()
    rec = recorder(ledger, broker, retry_for=0.0)
    landed: list[bool] = []
    rec.record({"_id": "n1"}, "sent", AT, done=landed.append)
    await run_until_idle(rec)
    assert landed == [False] and ledger.writes == []  # given up: unwritten


async def test_the_after_batch_step_runs_after_each_written_batch_and_may_fail() -> None:
    ledger, broker = FakeLedger(), Broker()
    steps: list[int] = []

    async def after_batch() -> None:
        steps.append(len(ledger.writes))
        raise ConnectionError("database away")  # logged; the recorder goes on

    rec = OutcomeRecorder(
        ledger=ledger, publish_all=broker.publish_all, topic="t",  # type: ignore[arg-type]
        event_of=lambda doc: Event(notification_id=doc["_id"], state=doc["state"]),
        retry_for=30.0, after_batch=after_batch)
    rec.record({"_id": "n1"}, "sent", AT)
    await run_until_idle(rec)
    rec.record({"_id": "n2"}, "sent", AT)
    await run_until_idle(rec)
    assert steps == [1, 2]


async def test_a_failing_callback_does_not_stop_the_recorder() -> None:
    ledger, broker = FakeLedger(), Broker()
    rec = recorder(ledger, broker)

    def explode(_: bool) -> None:
        raise RuntimeError("metrics slip")

    rec.record({"_id": "n1"}, "sent", AT, done=explode)
    landed: list[bool] = []
    rec.record({"_id": "n2"}, "sent", AT, done=landed.append)
    await run_until_idle(rec)
    assert landed == [True]


async def test_drain_gives_up_after_its_time_and_keeps_what_is_unwritten() -> None:
    ledger = FakeLedger()
    rec = recorder(ledger, Broker())
    landed: list[bool] = []
    rec.record({"_id": "n1"}, "sent", AT, done=landed.append)
    await rec.drain(0.05)  # no recorder task: nothing is written, drain still returns
    assert ledger.writes == []
    assert landed == []  # neither written nor given up: still queued
    await run_until_idle(rec)  # a recorder that runs later writes it
    assert ledger.writes == [(["n1"], True)] and landed == [True]


async def test_each_batch_written_is_one_log_line_with_its_counts() -> None:
    ledger, broker = FakeLedger(), Broker()
    rec = recorder(ledger, broker)
    for nid, state in (("n1", "sent"), ("n2", "failed"), ("n3", "sent")):
        rec.record({"_id": nid, "claim": "c"}, state, AT)
    with capture_logs() as logs:
        await run_until_idle(rec)
    lines = [entry for entry in logs if entry["event"] == "delivery outcomes recorded"]
    assert lines == [{"event": "delivery outcomes recorded", "log_level": "info",
                      "sent": 2, "failed": 1}]
