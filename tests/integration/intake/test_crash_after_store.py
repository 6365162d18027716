"""A crash between storing a complaint and publishing it: the restarted intake publishes
the stored complaint.received, with the very event_id, tracking id and citizen secret
that were stored, exactly once."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from services.intake.app import CRASH_AFTER_STORE
from shared.citizen_secret import verify_citizen_secret
from shared.devinfra.services import ServiceProcess
from shared.topics import Topics
from tests.support.kafka import TopicReader

from .conftest import as_bytes, for_ref, key_of, send, submission


async def wait_exit(process: ServiceProcess, timeout: float = 30) -> int:
    assert process.process is not None
    deadline = time.monotonic() + timeout
    while process.process.poll() is None:
        if time.monotonic() > deadline:
            raise AssertionError(f"intake did not crash\n{process.tail()}")
        await asyncio.sleep(0.05)
    return process.process.returncode


async def test_crash_between_store_and_publish_publishes_once_after_restart(
        intake_env: dict[str, str], bootstrap: str, topics: Topics, complaints: Any,
        tmp_path: Path) -> None:
    crashing = ServiceProcess("intake", {**intake_env, CRASH_AFTER_STORE: "1"},
                              tmp_path / "crashing.log")
    crashing.start()
    try:
        crashing.wait_ready(60)
        data = submission()
        await send(bootstrap, topics.submitted, [(key_of(data), as_bytes(data), None)])
        assert await wait_exit(crashing) == -9  # SIGKILL, by its own hand
    finally:
        crashing.kill()

    stored = await complaints.find_one({"submission_key": key_of(data).decode()})
    assert stored is not None, "the complaint was not stored before the crash"
    async with TopicReader(bootstrap, topics.received) as reader:
        await reader.poll(0.5)
        assert not for_ref(reader.values(), data["channel_ref"]), "published before crash"

    restarted = ServiceProcess("intake", intake_env, tmp_path / "restarted.log")
    restarted.start()
    try:
        restarted.wait_ready(60)
        async with TopicReader(bootstrap, topics.received) as reader:
            await reader.wait_for(lambda vs: for_ref(vs, data["channel_ref"]))
            # Another submission behind it: once that is out, nothing more will come
            # for the first one.
            after = submission()
            await send(bootstrap, topics.submitted, [(key_of(data), as_bytes(after), None)])
            values = await reader.wait_for(lambda vs: for_ref(vs, after["channel_ref"]))
    finally:
        restarted.stop()

    events = for_ref(values, data["channel_ref"])
    assert len(events) == 1
    (event,) = events
    assert event["event_id"] == stored["event"]["event_id"]
    assert event["tracking_id"] == stored["_id"]
    assert verify_citizen_secret(event["tracking_id"], event["citizen_secret"],
                                 stored["citizen_secret_hash"])
    assert "citizen_secret" not in stored["event"]
    assert await complaints.count_documents({"submission_key": key_of(data).decode()}) == 1

