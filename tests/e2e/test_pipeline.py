"""The whole pipeline on real servers: a submission published by a plain aiokafka producer
comes out routed to the expected agency, and the citizen's acknowledgement e-mail carrying
the same tracking id arrives at the SMTP server."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shared.devinfra.mailbox import Mailbox
from shared.devinfra.services import ServiceGroup
from tests.support.kafka import TopicReader, produce


def roads_complaint(email: str) -> dict[str, object]:
    return {
        "channel": "web",
        "channel_ref": f"web-{uuid.uuid4()}",
        "submitted_at": datetime.now(UTC).isoformat(),
        "title": "Jalan berlubang di Jl. Yos Sudarso",
        "body": "Jalan di depan pasar Sangatta Utara berlubang besar dan membahayakan "
                "pengendara motor, terutama saat hujan.",
        "category": "infrastructure.roads",
        "region_code": "64.08.04",
        "reporter": {"name": "Siti Rahmawati", "email": email, "phone": "0812-5550-1234",
                     "language": "id"},
    }


@pytest.fixture
def system(tenant_env: dict[str, str], mailbox: Mailbox, tmp_path: Path):
    env = {**tenant_env, **mailbox.env}
    with ServiceGroup(env, tmp_path / "logs") as services:
        yield env, services


async def test_submission_is_routed_and_the_citizen_acknowledged(system, mailbox: Mailbox):
    env, services = system
    prefix = env["LAPOR_TOPIC_PREFIX"]
    bootstrap = env["LAPOR_KAFKA_BOOTSTRAP_SERVERS"]
    email = f"siti.{uuid.uuid4().hex[:6]}@example.id"
    submission = roads_complaint(email)

    await produce(bootstrap, prefix + "complaints.submitted",
                  [(f"web:{submission['channel_ref']}".encode(), json.dumps(submission).encode())],
                  headers=[("content-type", b"application/json")])

    async with TopicReader(bootstrap, prefix + "complaints.routed") as routed:
        events = await routed.wait_count(1, timeout=60)
    event = events[0]
    assert event["event_type"] == "complaint.routed"
    assert event["agency_id"] == "kutim-pupr"
    assert event["rule_id"] == "kutim-infrastructure"
    assert event["complaint"]["category"] == "infrastructure.roads"
    tracking_id = event["tracking_id"]

    deadline = time.monotonic() + 60
    while not mailbox.to(email) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    mails = mailbox.to(email)
    assert mails, "no acknowledgement e-mail arrived"
    ack = mails[0]
    assert ack.header("X-Lapor-Tracking-Id") == tracking_id
    assert tracking_id in ack.text()
    assert tracking_id in ack.subject

    status, body = services["router"].get_json(f"/v1/complaints/{tracking_id}")
    assert status == 200
    assert body["status"] == "assigned"
    assert "Pekerjaan Umum" in body["agency_name"]
    assert email not in json.dumps(body)
