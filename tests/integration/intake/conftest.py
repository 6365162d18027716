"""Intake on the real local broker and database: one tenant and one intake process per
module (start-up costs seconds, tests cost milliseconds), plus helpers to submit like a
channel adapter and to look into the database."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from pymongo import AsyncMongoClient

from shared.devinfra import LocalInfra
from shared.devinfra.services import ServiceProcess
from shared.topics import Topics
from tests.support.tenants import tenant_env_for

tenant = tenant_env_for


@pytest.fixture(scope="module")
def intake_env(infra: LocalInfra) -> dict[str, str]:
    return tenant(infra)


@pytest.fixture(scope="module")
def intake(intake_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[ServiceProcess]:
    log = Path(tmp_path_factory.mktemp("intake")) / "intake.log"
    with ServiceProcess("intake", intake_env, log) as process:
        yield process


@pytest.fixture(scope="module")
def topics(intake_env: dict[str, str]) -> Topics:
    return Topics(intake_env["LAPOR_TOPIC_PREFIX"])


@pytest.fixture(scope="module")
def bootstrap(intake_env: dict[str, str]) -> str:
    return intake_env["LAPOR_KAFKA_BOOTSTRAP_SERVERS"]


@pytest.fixture(scope="module")
async def complaints(intake_env: dict[str, str]) -> AsyncIterator[Any]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        intake_env["LAPOR_MONGODB_URI"], tz_aware=True)
    yield client[intake_env["LAPOR_MONGODB_DATABASE"]]["complaints"]
    await client.close()


def submission(**overrides: Any) -> dict[str, Any]:
    """A valid web submission with its own channel_ref and reporter e-mail."""
    ref = uuid.uuid4().hex[:12]
    data: dict[str, Any] = {
        "channel": "web",
        "channel_ref": f"web-{ref}",
        "submitted_at": datetime.now(UTC).isoformat(),
        "title": "Jalan berlubang",
        "body": f"Jalan di depan rumah nomor {ref} berlubang besar dan membahayakan "
                "pengendara motor, mohon segera diperbaiki.",
        "category": "infrastructure.roads",
        "region_code": "64.08.04",
        "reporter": {"name": "Siti", "email": f"siti.{ref}@warga.example.id"},
    }
    data.update(overrides)
    return data


def key_of(data: dict[str, Any]) -> bytes:
    return f"{data['channel']}:{data['channel_ref']}".encode()


def as_bytes(data: dict[str, Any]) -> bytes:
    return json.dumps(data).encode()


async def send(bootstrap: str, topic: str,
               items: list[tuple[bytes | None, bytes, int | None]]) -> None:
    """Publish `(key, value, partition)` all at once (partition None: by key), in order
    per partition, and wait for every acknowledgement."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        futures = [await producer.send(topic, value, key=key, partition=partition,
                                       headers=[("content-type", b"application/json")])
                   for key, value, partition in items]
        for future in futures:
            await future
    finally:
        await producer.stop()


def for_ref(values: list[dict[str, Any]], channel_ref: str) -> list[dict[str, Any]]:
    return [v for v in values if v.get("channel_ref") == channel_ref]


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample of the Prometheus text exposition (0 when absent)."""
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    sample = f"{name}{{{want}}}" if labels else name
    for line in text.splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0
