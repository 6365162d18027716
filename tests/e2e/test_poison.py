"""A poison corpus on complaints.submitted and complaints.actions: every hostile input is
rejected or dead-lettered with a reason, the services keep serving, and the valid
messages sent in between are processed."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from shared.devinfra.services import ServiceGroup
from tests.support.kafka import TopicReader
from tests.support.poison import hostile_actions, hostile_submissions


@pytest.fixture
def services(tenant_env: dict[str, str], tmp_path: Path) -> Iterator[ServiceGroup]:
    with ServiceGroup(tenant_env, tmp_path / "logs", names=("intake", "router")) as group:
        yield group


def valid_submission(ref: str) -> bytes:
    return json.dumps({
        "channel": "web", "channel_ref": ref, "submitted_at": datetime.now(UTC).isoformat(),
        "title": "Jalan rusak", "body": "Jalan rusak parah di depan pasar, mohon diperbaiki.",
        "category": "infrastructure.roads", "region_code": "64.08.04",
        "reporter": {"email": f"warga.baik.{ref}@example.id"}}).encode()


async def send(producer: AIOKafkaProducer, topic: str, key: str, value: bytes) -> None:
    await producer.send_and_wait(topic, value, key=key.encode())


async def test_hostile_inputs_are_answered_and_valid_ones_still_flow(
        services: ServiceGroup, tenant_env: dict[str, str]) -> None:
    prefix = tenant_env["LAPOR_TOPIC_PREFIX"]
    bootstrap = tenant_env["LAPOR_KAFKA_BOOTSTRAP_SERVERS"]
    submissions = hostile_submissions()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all",
                                max_request_size=4 * 1024 * 1024)
    await producer.start()
    try:
        valid_refs = []
        for i, (_name, value) in enumerate(submissions):
            await send(producer, prefix + "complaints.submitted", f"poison:{i}", value)
            if i % 5 == 0:  # a valid complaint between the hostile ones
                ref = f"valid-{uuid.uuid4()}"
                valid_refs.append(ref)
                await send(producer, prefix + "complaints.submitted", f"web:{ref}",
                           valid_submission(ref))

        async with TopicReader(bootstrap, prefix + "complaints.received") as received, \
                TopicReader(bootstrap, prefix + "complaints.rejected") as rejected, \
                TopicReader(bootstrap, prefix + "complaints.submitted.dlq") as dead, \
                TopicReader(bootstrap, prefix + "complaints.routed") as routed:
            accepted = await received.wait_count(len(valid_refs), timeout=90)

            async def answered() -> int:
                await rejected.poll()
                await dead.poll()
                return len(rejected.records) + len(dead.records)

            for _ in range(300):
                if await answered() >= len(submissions):
                    break
            assert await answered() == len(submissions)
            assert sorted(e["channel_ref"] for e in accepted) == sorted(valid_refs)
            for event in rejected.values():
                assert event["errors"], event
                assert all(e["code"] and e["message"] for e in event["errors"]), event
            for record in dead.records:
                headers = dict(record.headers)
                assert headers["lapor-error"] and headers["lapor-error-type"]
                assert headers["lapor-service"] == b"intake"

            # The router keeps serving: actions, hostile and valid, on a routed complaint.
            routed_events = await routed.wait_count(len(valid_refs), timeout=60)
        tracking_id = routed_events[0]["tracking_id"]
        agency = routed_events[0]["agency_id"]
        actions = hostile_actions(tracking_id)
        valid_steps = [("acknowledge", "in_progress"), ("request_info", "waiting_citizen")]
        step = 0
        for i, (_name, value) in enumerate(actions):
            await send(producer, prefix + "complaints.actions", tracking_id, value)
            if i in (5, 11):
                action, _ = valid_steps[step]
                step += 1
                await send(producer, prefix + "complaints.actions", tracking_id, json.dumps({
                    "action_id": str(uuid.uuid4()), "tracking_id": tracking_id,
                    "occurred_at": datetime.now(UTC).isoformat(),
                    "actor": {"type": "agency", "id": agency}, "action": action,
                    "message": "Sedang ditindaklanjuti."}).encode())
    finally:
        await producer.stop()

    async with TopicReader(bootstrap, prefix + "complaints.actions.rejected") as rejected, \
            TopicReader(bootstrap, prefix + "complaints.actions.dlq") as dead, \
            TopicReader(bootstrap, prefix + "complaints.status") as status:
        for _ in range(300):
            await rejected.poll()
            await dead.poll()
            if len(rejected.records) + len(dead.records) >= len(actions):
                break
        assert len(rejected.records) + len(dead.records) == len(actions)
        assert all(e["reason"] for e in rejected.values())
        changes = await status.wait_for(
            lambda values: any(v["status"] == "waiting_citizen" for v in values), timeout=30)
    mine = [c["status"] for c in changes if c["tracking_id"] == tracking_id]
    assert mine == ["assigned", "in_progress", "waiting_citizen"]
    for process in services.processes.values():
        assert process.ready()
