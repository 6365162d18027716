"""Crash, pause and restart under load: nothing lost, nothing done twice.

Each test runs the four services as real processes on their own embedded broker and
database (the faults must not touch other tests' servers), with a real SMTP server.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.devinfra import LocalInfra
from shared.devinfra.mailbox import Mailbox
from shared.devinfra.services import ServiceGroup
from tests.support.load import Outcome, citizens, publish_at_rate, wait_until_quiet


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[LocalInfra, Mailbox, ServiceGroup, dict[str, str]]]:
    with LocalInfra(workdir=tmp_path / "servers") as infra, Mailbox() as mailbox:
        env = {**infra.env, **mailbox.env, "LAPOR_KAFKA_PARTITIONS": "3",
               "LAPOR_RETRY_BACKOFF_SECONDS": "0.1", "LAPOR_RETRY_BACKOFF_MAX_SECONDS": "1",
               "LAPOR_NOTIFY_RETRY_BASE_SECONDS": "0.2", "LAPOR_NOTIFY_RETRY_MAX_SECONDS": "2",
               "LAPOR_NOTIFY_MAX_ATTEMPTS": "50", "LAPOR_NOTIFY_POLL_SECONDS": "0.2",
               "LAPOR_SLA_SCAN_INTERVAL_SECONDS": "1", "LAPOR_MONGODB_DATABASE": "lapor"}
        group = ServiceGroup(env, tmp_path / "logs")
        with group:
            yield infra, mailbox, group, env

# A restarted service is ready once its consumer group took it back; under load on Tansu
# that once took over 60 s. These tests check the crash or the stop, not the join.
REJOIN_SECONDS = 120


def assert_nothing_lost_nothing_twice(result: Outcome, n: int) -> None:
    assert result.complaints == n, result
    assert result.distinct_submissions == n, result
    assert result.cases == n, result
    assert result.routing_clocks == n, result
    assert result.acknowledgements_planned == n, result
    assert result.acknowledgements_sent == n, result
    assert result.citizens_with_one_acknowledgement == n, result
    assert result.citizens_with_several == 0, result


def test_each_service_killed_once_while_2000_complaints_flow(world) -> None:
    infra, mailbox, group, env = world
    load = citizens(2000, f"crash{uuid.uuid4().hex[:6]}")

    async def run() -> None:
        sender = asyncio.create_task(publish_at_rate(
            env["LAPOR_KAFKA_BOOTSTRAP_SERVERS"], "complaints.submitted", load, rate=200))
        for name in ("intake", "router", "sla", "notifier"):
            await asyncio.sleep(1.5)
            group[name].kill()  # SIGKILL: no clean-up, no commit
            group[name].start()
            await asyncio.to_thread(group[name].wait_ready, REJOIN_SECONDS)
        await sender

    asyncio.run(run())
    result = wait_until_quiet(env, mailbox, load)
    print(f"\ncrash test: {result}")
    assert_nothing_lost_nothing_twice(result, len(load))


def test_broker_frozen_for_15_seconds_during_load(world) -> None:
    infra, mailbox, group, env = world
    load = citizens(600, f"pause{uuid.uuid4().hex[:6]}")

    async def run() -> tuple[bool, bool]:
        sender = asyncio.create_task(publish_at_rate(
            env["LAPOR_KAFKA_BOOTSTRAP_SERVERS"], "complaints.submitted", load, rate=100))
        await asyncio.sleep(2)
        assert infra.broker is not None
        infra.broker.pause()  # SIGSTOP
        try:
            unready = await asyncio.to_thread(_becomes, group["router"], False, 12)
            await asyncio.sleep(max(0.0, 15 - 12))
        finally:
            infra.broker.resume()  # SIGCONT
        ready_again = await asyncio.to_thread(_becomes, group["router"], True, 60)
        await sender
        return unready, ready_again

    unready, ready_again = asyncio.run(run())
    assert unready, "readiness stayed true while the broker was frozen"
    assert ready_again, "readiness did not come back after the broker resumed"
    result = wait_until_quiet(env, mailbox, load)
    print(f"\nbroker pause test: {result}")
    assert_nothing_lost_nothing_twice(result, len(load))
    for process in group.processes.values():  # recovered without a restart
        assert process.process is not None and process.process.poll() is None


def test_database_restarted_during_load(world) -> None:
    infra, mailbox, group, env = world
    load = citizens(600, f"dbrestart{uuid.uuid4().hex[:6]}")

    async def run() -> tuple[bool, bool]:
        sender = asyncio.create_task(publish_at_rate(
            env["LAPOR_KAFKA_BOOTSTRAP_SERVERS"], "complaints.submitted", load, rate=100))
        await asyncio.sleep(2)
        assert infra.database is not None
        infra.database.stop()
        unready = await asyncio.to_thread(_becomes, group["intake"], False, 10)
        await asyncio.sleep(2)
        infra.database.start()
        ready_again = await asyncio.to_thread(_becomes, group["intake"], True, 60)
        await sender
        return unready, ready_again

    unready, ready_again = asyncio.run(run())
    assert unready and ready_again
    result = wait_until_quiet(env, mailbox, load)
    print(f"\ndatabase restart test: {result}")
    assert_nothing_lost_nothing_twice(result, len(load))
    for process in group.processes.values():
        assert process.process is not None and process.process.poll() is None


def _becomes(service, ready: bool, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if service.ready() == ready:
            return True
        time.sleep(0.2)
    return False


def test_sigterm_under_load_stops_within_10_seconds_and_loses_nothing(world) -> None:
    infra, mailbox, group, env = world
    load = citizens(600, f"sigterm{uuid.uuid4().hex[:6]}")

    async def run() -> dict[str, tuple[int | None, float]]:
        sender = asyncio.create_task(publish_at_rate(
            env["LAPOR_KAFKA_BOOTSTRAP_SERVERS"], "complaints.submitted", load, rate=150))
        stops: dict[str, tuple[int | None, float]] = {}
        for name in ("intake", "router", "sla", "notifier"):
            await asyncio.sleep(0.8)
            started = time.monotonic()
            code = await asyncio.to_thread(group[name].stop, 30)  # SIGTERM
            stops[name] = (code, time.monotonic() - started)
            group[name].start()
            await asyncio.to_thread(group[name].wait_ready, REJOIN_SECONDS)
        await sender
        return stops

    stops = asyncio.run(run())
    for name, (code, seconds) in stops.items():
        assert code == 0, f"{name} exited with {code}"
        assert seconds < 10, f"{name} took {seconds:.1f}s to stop"
    result = wait_until_quiet(env, mailbox, load)
    print(f"\nsigterm test: {stops} {result}")
    assert_nothing_lost_nothing_twice(result, len(load))
