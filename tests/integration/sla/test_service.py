"""The sla service as real processes (`python -m services.sla`) on the real broker and
database, driven only by the lifecycle events it consumes, with a second-scale drill
policy (response 2 s, resolution 4 s, auto_close 2 s, escalation every 1 s) and a scan
every 0.2 s. Results are read back from complaints.sla and complaints.actions."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition
from pymongo import AsyncMongoClient

from services.sla.adapters.clocks import COLLECTION
from shared.contract import Status
from shared.devinfra import LocalInfra
from shared.devinfra.services import ServiceProcess
from shared.tally import COLLECTION as TALLIES
from tests.support.kafka import TopicReader

from .support import (
    ASSIGNEE,
    COORDINATOR,
    FULL_SCHEDULE,
    HOURS_POLICY,
    PARENT,
    close_to,
    duplicates,
    mark,
    new_case,
    now,
    of_stage,
    parse_time,
    publish,
    received,
    seconds,
    status,
    write_policy,
)

RESPONSE, RESOLUTION = 2.0, 4.0  # seconds, as in DRILL_POLICY
# When each mark falls due, in seconds after the stage started.
OFFSETS = {"response": [1.0, 1.5, 2.0, 3.0, 4.0], "resolution": [2.0, 3.0, 4.0, 5.0, 6.0]}
LATE_TOLERANCE = 3.0  # seconds after its due time an emission may still arrive (busy CI)
PAUSED_AFTER, PAUSE = seconds(0.05), seconds(2.0)
RESOLVED_AFTER = seconds(0.05)


def tenant(infra: LocalInfra, policy: Path) -> dict[str, str]:
    name = uuid.uuid4().hex[:10]
    return {**infra.env, "LAPOR_TOPIC_PREFIX": f"t{name}.",
            "LAPOR_MONGODB_DATABASE": f"lapor_{name}", "LAPOR_KAFKA_PARTITIONS": "3",
            "LAPOR_LOG_FORMAT": "json", "LAPOR_RETRY_BACKOFF_SECONDS": "0.05",
            "LAPOR_SLA_POLICY_FILE": str(policy), "LAPOR_SLA_SCAN_INTERVAL_SECONDS": "0.2",
            # The drill's deadlines are seconds: a batch window (meant for deadlines of hours)
            # would hold the events for a third of one.
            "LAPOR_SLA_BATCH_WINDOW_MS": "0"}


class Sla:
    """The tenant's environment, its sla processes, and readers of what they publish."""

    def __init__(self, env: dict[str, str], logdir: Path) -> None:
        self.env, self.logdir = env, logdir
        self.processes: list[ServiceProcess] = []
        self.bootstrap = env["LAPOR_KAFKA_BOOTSTRAP_SERVERS"]
        self.prefix = env["LAPOR_TOPIC_PREFIX"]

    def start(self, count: int = 1) -> list[ServiceProcess]:
        started = [ServiceProcess("sla", self.env,
                                  self.logdir / f"sla-{len(self.processes) + i}.log")
                   for i in range(count)]
        for process in started:
            process.start()
        self.processes += started
        for process in started:
            process.wait_ready(60)
        return started

    def kill(self) -> None:
        for process in self.processes:
            process.kill()

    async def wait_for_clocks(self, count: int, timeout: float = 20.0) -> None:
        """Until the service has stored `count` clocks (it has consumed the events)."""
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            self.env["LAPOR_MONGODB_URI"])
        try:
            cases = client[self.env["LAPOR_MONGODB_DATABASE"]][COLLECTION]
            deadline = time.monotonic() + timeout
            while sum([len(case["clocks"]) async for case in cases.find()]) < count:
                assert time.monotonic() < deadline, "the sla service stored no clocks"
                await asyncio.sleep(0.05)
        finally:
            await client.close()

    async def drop_tally(self) -> None:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            self.env["LAPOR_MONGODB_URI"])
        try:
            await client[self.env["LAPOR_MONGODB_DATABASE"]].drop_collection(TALLIES)
        finally:
            await client.close()

    @staticmethod
    async def open_clocks(process: ServiceProcess, timeout: float = 10.0) -> dict[str, float]:
        """The process's open-clock gauges (sampled every scan), once all four are set."""
        deadline = time.monotonic() + timeout
        while True:
            gauges = {line.split('"')[1]: float(line.rsplit(" ", 1)[1])
                      for line in process.metrics().splitlines()
                      if line.startswith("lapor_sla_open_clocks{")}
            if len(gauges) == 4 or time.monotonic() > deadline:
                return gauges
            await asyncio.sleep(0.1)

    async def send(self, *events: Any) -> None:
        await publish(self.bootstrap, self.prefix, *events)

    async def read(self, topic: str, predicate: Any, timeout: float = 20.0, settle: float = 0.0
                   ) -> list[dict[str, Any]]:
        async with TopicReader(self.bootstrap, self.prefix + topic) as reader:
            await reader.wait_for(predicate, timeout=timeout)
            if settle:  # a little longer, so that a duplicate would show
                await asyncio.sleep(settle)
                await reader.poll()
            return reader.values()


@pytest.fixture(scope="module")
def sla(infra: LocalInfra, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sla]:
    """One sla process for the scenario tests of this module (each uses its own cases)."""
    directory = tmp_path_factory.mktemp("sla")
    service = Sla(tenant(infra, write_policy(directory)), directory)
    service.start()
    yield service
    service.kill()


@pytest.fixture(scope="module")
async def scenarios(sla: Sla) -> AsyncIterator[dict[str, tuple[str, datetime]]]:
    """The module's scenarios run side by side on the shared process (each test then checks
    its own case): escalation, pause and resume, auto-close. Returns case and start time."""
    started = now()  # one start for all: their events go out together, right away
    escalated, paused, resolved = new_case(), new_case(), new_case()
    events: list[Any] = [received(escalated, started),
                         status(escalated, Status.ASSIGNED, started),
                         received(paused, started), status(paused, Status.ASSIGNED, started),
                         status(paused, Status.WAITING_CITIZEN, started + PAUSED_AFTER),
                         received(resolved, started), status(resolved, Status.ASSIGNED, started),
                         status(resolved, Status.RESOLVED, started + RESOLVED_AFTER)]
    await sla.send(*events)

    async def citizen_replies() -> None:  # two seconds after the pause, as it happens
        resumed_at = started + PAUSED_AFTER + PAUSE
        await sleep_until(resumed_at)
        await sla.send(status(paused, Status.IN_PROGRESS, resumed_at))

    reply = asyncio.create_task(citizen_replies())
    yield {"escalation": (escalated, started), "pause": (paused, started),
           "auto_close": (resolved, started)}
    await reply


@pytest.fixture
async def fresh(infra: LocalInfra, tmp_path: Path) -> AsyncIterator[Sla]:
    """A tenant of its own, for tests that start and stop processes."""
    service = Sla(tenant(infra, write_policy(tmp_path)), tmp_path)
    yield service
    service.kill()


async def sleep_until(moment: datetime) -> None:
    await asyncio.sleep(max((moment - now()).total_seconds(), 0.0))


def check_schedule(events: list[dict[str, Any]], case: str, stage: str, started: datetime
                   ) -> None:
    """The five marks of a stage, in order, each at or after its time, with the assignee,
    its parent and the national coordinator as the escalation targets."""
    emitted = of_stage(events, case, stage)
    assert [mark(e) for e in emitted] == FULL_SCHEDULE, emitted
    due = started + seconds({"response": RESPONSE, "resolution": RESOLUTION}[stage])
    for event, offset in zip(emitted, OFFSETS[stage], strict=True):
        assert close_to(parse_time(event["due_at"]), due)
        assert event["agency_id"] == ASSIGNEE
        scheduled = started + seconds(offset)
        emitted_at = parse_time(event["occurred_at"])
        assert scheduled - seconds(0.002) <= emitted_at <= scheduled + seconds(LATE_TOLERANCE)
    targets = [e["escalated_to_agency_id"] for e in emitted if e["event_type"] == "sla.breached"]
    assert targets == [ASSIGNEE, PARENT, COORDINATOR]


def test_a_bad_policy_stops_the_service_at_once_naming_file_entry_and_field(
        tmp_path: Path, infra: LocalInfra) -> None:
    policy = tmp_path / "bad_policy.yaml"
    policy.write_text("national_coordinator: kemenpanrb\nescalation_interval: {duration: PT1S}\n"
                      "stages:\n  routing: {duration: PT2S}\n  response: {duration: soon}\n"
                      "  resolution: {duration: PT4S}\n  auto_close: {duration: PT2S}\n")
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "services.sla"], capture_output=True,  # noqa: S603
                            text=True, timeout=30, env={**os.environ, **tenant(infra, policy)})
    assert result.returncode != 0
    assert time.monotonic() - started < 10
    assert str(policy) in result.stderr
    assert "entry stages.response" in result.stderr and "field 'duration'" in result.stderr


async def test_warnings_then_breaches_escalate_to_assignee_parent_and_coordinator(
        sla: Sla, scenarios: dict[str, tuple[str, datetime]]) -> None:
    case, started = scenarios["escalation"]
    def both_stages_fully_escalated(values: list[dict[str, Any]]) -> bool:
        return all(any(e.get("level") == 3 for e in of_stage(values, case, stage))
                   for stage in ("response", "resolution"))

    events = await sla.read("complaints.sla", both_stages_fully_escalated, settle=0.5)
    assert duplicates(events) == {}
    check_schedule(events, case, "response", started)
    check_schedule(events, case, "resolution", started)
    assert of_stage(events, case, "routing") == []  # stopped by the assignment


async def test_waiting_for_the_citizen_pauses_and_the_reply_resumes_shifting_the_deadline(
        sla: Sla, scenarios: dict[str, tuple[str, datetime]]) -> None:
    case, started = scenarios["pause"]
    events = await sla.read("complaints.sla", lambda values: any(
        e["tracking_id"] == case and e["stage"] == "resolution" and e.get("level") == 1
        for e in values))
    emitted = of_stage(events, case, "resolution")
    assert len(emitted) >= 3 and [mark(e) for e in emitted] == FULL_SCHEDULE[:len(emitted)]
    # The 4 s resolution deadline moved by the 2 s spent waiting; so did each mark.
    shift = PAUSE.total_seconds()
    for event, offset in zip(emitted, OFFSETS["resolution"], strict=False):
        assert close_to(parse_time(event["due_at"]), started + seconds(RESOLUTION + shift))
        assert parse_time(event["occurred_at"]) >= started + seconds(offset + shift - 0.002)
    # Response was paused before its first mark, then stopped by in_progress.
    assert of_stage(events, case, "response") == []


async def test_auto_close_is_requested_when_the_citizen_stays_silent_after_resolved(
        sla: Sla, scenarios: dict[str, tuple[str, datetime]]) -> None:
    case, started = scenarios["auto_close"]
    actions = await sla.read("complaints.actions",
                             lambda values: any(a["tracking_id"] == case for a in values),
                             settle=0.5)
    mine = [a for a in actions if a["tracking_id"] == case]
    assert len(mine) == 1
    action = mine[0]
    assert action["action"] == "auto_close"
    assert action["actor"] == {"type": "system", "id": "sla"}
    assert parse_time(action["occurred_at"]) >= started + RESOLVED_AFTER + seconds(2.0 - 0.002)
    uuid.UUID(action["action_id"])
    events = await sla.read("complaints.sla", lambda values: True)
    assert of_stage(events, case, "response") == of_stage(events, case, "resolution") == []


async def test_two_instances_side_by_side_publish_every_event_exactly_once(fresh: Sla
                                                                           ) -> None:
    instances = fresh.start(2)
    cases, started = [new_case() for _ in range(12)], now()
    await fresh.send(*[event for case in cases for event in (
        received(case, started), status(case, Status.ASSIGNED, started))])
    expected = 10 * len(cases)  # response and resolution: 2 warnings and 3 breaches each

    def complete(values: list[dict[str, Any]]) -> bool:
        return sum(e["stage"] != "routing" for e in values) >= expected

    events = await fresh.read("complaints.sla", complete, settle=0.6)
    assert duplicates(events) == {}  # every event_id once
    assert len({(e["tracking_id"], e["stage"], mark(e)) for e in events}) == len(events)
    for case in cases:
        for stage in ("response", "resolution"):
            assert [mark(e) for e in of_stage(events, case, stage)] == FULL_SCHEDULE
    # Routing may have warned too: while the group rebalances, one instance can hold a
    # case's complaint.received for a while before the other applies its assignment.
    assert {e["stage"] for e in events} <= {"routing", "response", "resolution"}
    # Each instance's own counters add up to the total: nothing was counted twice.
    counted = 0.0
    for instance in instances:
        for line in instance.metrics().splitlines():
            if line.startswith(("lapor_sla_warnings_total{", "lapor_sla_breaches_total{")):
                counted += float(line.rsplit(" ", 1)[1])
    assert counted == len(events)


async def test_a_restart_after_the_deadlines_passed_catches_up_once(fresh: Sla) -> None:
    (first,) = fresh.start()
    cases, started = [new_case() for _ in range(4)], now()
    await fresh.send(*[event for case in cases for event in (
        received(case, started), status(case, Status.ASSIGNED, started))])
    await fresh.wait_for_clocks(3 * len(cases))  # routing, response, resolution per case
    first.kill()  # down (SIGKILL) before the first mark falls due at 1 s
    # As after an upgrade from a version without the open-clock tally: the restarted
    # instance counts it from the clocks before it consumes anything.
    await fresh.drop_tally()
    # Down while response breaches up to level 3 and resolution reaches level 1.
    await sleep_until(started + seconds(4.5))
    restarted_at = now()
    (restarted,) = fresh.start()
    expected = 10 * len(cases)
    events = await fresh.read("complaints.sla", lambda values: sum(
        e["stage"] != "routing" for e in values) >= expected, settle=0.6)
    assert duplicates(events) == {}
    assert len({(e["tracking_id"], e["stage"], mark(e)) for e in events}) == len(events)
    for case in cases:
        for stage in ("response", "resolution"):
            assert [mark(e) for e in of_stage(events, case, stage)] == FULL_SCHEDULE
    missed = [e for e in events if e["stage"] == "response" and e.get("level") == 3]
    assert len(missed) == len(cases)  # due at 4 s, while the service was down
    for event in missed:
        assert parse_time(event["occurred_at"]) >= restarted_at
        assert event["overdue_seconds"] >= 2.5
    assert await fresh.open_clocks(restarted) == {"routing": 0, "response": len(cases),
                                                  "resolution": len(cases), "auto_close": 0}


# -- new cases kept back for their assignment ---------------------------------------------
async def committed(sla: Sla, topic: str, partitions: int = 3) -> dict[int, int | None]:
    """The sla group's committed offsets of a topic, per partition (None: nothing yet)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=sla.bootstrap,
                                group_id=f"{sla.prefix}lapor-sla", enable_auto_commit=False)
    await consumer.start()
    try:
        return {n: await consumer.committed(TopicPartition(sla.prefix + topic, n))
                for n in range(partitions)}
    finally:
        await consumer.stop()


async def stored_case(sla: Sla, tracking_id: str) -> dict[str, Any] | None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(sla.env["LAPOR_MONGODB_URI"])
    try:
        return await client[sla.env["LAPOR_MONGODB_DATABASE"]][COLLECTION].find_one(
            {"_id": tracking_id})
    finally:
        await client.close()


async def wait_for_case(sla: Sla, tracking_id: str, stages: int, timeout: float = 20.0
                        ) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        case = await stored_case(sla, tracking_id)
        if case is not None and len(case["clocks"]) >= stages:
            return case
        assert time.monotonic() < deadline, f"{tracking_id}: {case}"
        await asyncio.sleep(0.05)


@pytest.fixture
async def holding(infra: LocalInfra, tmp_path: Path) -> AsyncIterator[Sla]:
    """A tenant whose deadlines are hours (so new cases may wait for their assignment),
    with a 2 s hold."""
    env = tenant(infra, write_policy(tmp_path, HOURS_POLICY)) | {"LAPOR_SLA_HOLD_MS": "2000"}
    service = Sla(env, tmp_path)
    yield service
    service.kill()


async def test_a_case_assigned_a_batch_later_is_written_once_and_committed_after(
        holding: Sla) -> None:
    holding.start()
    case = new_case()
    await holding.send(received(case, now()))  # the first record of its partition: offset 0
    await asyncio.sleep(0.5)  # taken in a batch of its own (no window), and kept back
    assert await stored_case(holding, case) is None
    # The batch was committed, but not past the record kept back.
    assert set((await committed(holding, "complaints.received")).values()) <= {None, 0}
    await holding.send(status(case, Status.ASSIGNED, now()))
    document = await wait_for_case(holding, case, stages=3)
    assert document["version"] == 0  # inserted once, with both events: never replaced
    assert [c["state"] for c in document["clocks"]] == ["stopped", "running", "running"]
    deadline = time.monotonic() + 10
    while sorted((await committed(holding, "complaints.received")).values(),
                 key=lambda offset: offset or 0)[-1] != 1:
        assert time.monotonic() < deadline, "the complaint.received was never committed"
        await asyncio.sleep(0.1)


async def test_a_case_kept_back_when_the_service_dies_is_written_after_the_restart(
        holding: Sla) -> None:
    (first,) = holding.start()
    case, received_at = new_case(), now()
    await holding.send(received(case, received_at))
    await asyncio.sleep(0.5)
    assert await stored_case(holding, case) is None  # kept back, waiting for its assignment
    first.kill()  # SIGKILL: what it held is gone with it, and was never committed
    holding.start()
    # No assignment comes: after the hold, the routing clock is written on its own.
    document = await wait_for_case(holding, case, stages=1)
    (routing,) = document["clocks"]
    assert routing["stage"] == "routing" and routing["state"] == "running"
    assert close_to(routing["started_at"].replace(tzinfo=received_at.tzinfo), received_at)
