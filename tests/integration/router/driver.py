"""A driver that plays intake, agencies, citizens and admins against a real router: it
publishes `complaint.received` and actions, and reads what the router publishes."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaProducer
from pymongo import AsyncMongoClient

from shared.citizen_secret import derive_citizen_secret
from shared.codec import encode
from shared.contract import Channel, ComplaintReceived, Reporter
from shared.devinfra.services import ServiceProcess
from shared.settings import Settings
from shared.tracking_id import new_tracking_id
from tests.support.kafka import TopicReader

# The reporter of every test complaint: none of these strings may leave the router's
# public endpoint.
REPORTER = {"name": "Siti Rahmawati", "email": "siti.rahmawati@example.id",
            "phone": "+6281255501234"}
REPORTER_STRINGS = tuple(REPORTER.values()) + ("Rahmawati", "81255501234")

# Intake derives the citizen secret from LAPOR_CITIZEN_SECRET_KEY; do the same.
SECRET_KEY = Settings().citizen_secret_key.get_secret_value().encode()


class Reader(TopicReader):
    """TopicReader polling in short slices: on Tansu each fetch brings about one producer
    batch, so the default 0.2 s poll would space the router's answers 0.2 s apart."""

    async def poll(self, timeout: float = 0.02) -> None:
        await super().poll(timeout)


class Lapor:
    """Drives the router like the rest of the system would, over the real broker."""

    def __init__(self, env: dict[str, str], router: ServiceProcess) -> None:
        self.env = env
        self.router = router
        self.prefix = env["LAPOR_TOPIC_PREFIX"]
        self.bootstrap = env["LAPOR_KAFKA_BOOTSTRAP_SERVERS"]
        self.producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all")
        self.readers = {name: Reader(self.bootstrap, self.prefix + f"complaints.{name}")
                        for name in ("status", "routed", "triage", "actions.rejected")}
        self.mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            env["LAPOR_MONGODB_URI"], tz_aware=True)
        self.cases = self.mongo[env["LAPOR_MONGODB_DATABASE"]]["cases"]

    async def start(self) -> Lapor:
        await self.producer.start()
        for reader in self.readers.values():
            await reader.start()
        return self

    async def stop(self) -> None:
        await self.producer.stop()
        for reader in self.readers.values():
            await reader.stop()
        await self.mongo.close()

    # -- publishing ---------------------------------------------------------------------
    async def send(self, topic: str, key: str | None, value: bytes) -> None:
        await self.producer.send_and_wait(self.prefix + topic, value,
                                          key=key.encode() if key else None,
                                          headers=[("content-type", b"application/json")])

    async def receive(self, *, region: str | None = "64.08.04",
                      category: str | None = "infrastructure.roads", kind: str = "complaint",
                      anonymous: bool = False, confidential: bool = False
                      ) -> tuple[str, str]:
        """Publish a complaint.received as intake would; returns (tracking_id, secret)."""
        tracking_id = new_tracking_id()
        secret = derive_citizen_secret(SECRET_KEY, tracking_id)
        now = datetime.now(UTC)
        event = ComplaintReceived(
            tracking_id=tracking_id, occurred_at=now, channel=Channel.WEB,
            channel_ref=f"web-{uuid.uuid4()}", kind=kind, category=category,
            region_code=region, title="Jalan berlubang di Jl. Yos Sudarso",
            body="Jalan di depan pasar berlubang besar dan membahayakan pengendara.",
            reporter=Reporter(**REPORTER, anonymous=anonymous, confidential=confidential),
            submitted_at=now, citizen_secret=secret)
        await self.send("complaints.received", tracking_id, encode(event))
        return tracking_id, secret

    async def act(self, tracking_id: str, action: str, actor: tuple[str, str], *,
                  action_id: str | None = None, **fields: Any) -> str:
        """Publish an action on complaints.actions (key: tracking id); returns its id."""
        action_id = action_id or str(uuid.uuid4())
        payload = {"action_id": action_id, "tracking_id": tracking_id,
                   "occurred_at": datetime.now(UTC).isoformat(),
                   "actor": {"type": actor[0], "id": actor[1]}, "action": action,
                   **{k: v for k, v in fields.items() if v is not None}}
        await self.send("complaints.actions", tracking_id, json.dumps(payload).encode())
        return action_id

    # -- reading ------------------------------------------------------------------------
    def seen(self, topic: str, tracking_id: str) -> list[dict[str, Any]]:
        return [v for v in self.readers[topic].values() if v.get("tracking_id") == tracking_id]

    async def wait(self, topic: str, tracking_id: str, count: int,
                   timeout: float = 15.0) -> list[dict[str, Any]]:
        """The first `count` events of the complaint on the topic (waits for them)."""
        await self.readers[topic].wait_for(
            lambda values: sum(v.get("tracking_id") == tracking_id for v in values) >= count,
            timeout)
        return self.seen(topic, tracking_id)

    async def wait_status(self, tracking_id: str, status: str, *, nth: int = 1,
                          timeout: float = 15.0) -> dict[str, Any]:
        """The nth complaint.status_changed to `status` for the complaint."""
        def found(values: list[dict[str, Any]]) -> bool:
            return sum(v.get("tracking_id") == tracking_id and v["status"] == status
                       for v in values) >= nth

        await self.readers["status"].wait_for(found, timeout)
        return [v for v in self.seen("status", tracking_id) if v["status"] == status][nth - 1]

    async def rejection(self, action_id: str, timeout: float = 15.0) -> dict[str, Any]:
        values = await self.readers["actions.rejected"].wait_for(
            lambda vs: any(v.get("action_id") == action_id for v in vs), timeout)
        return next(v for v in values if v.get("action_id") == action_id)

    def rejections(self, action_id: str) -> list[dict[str, Any]]:
        return [v for v in self.readers["actions.rejected"].values()
                if v.get("action_id") == action_id]

    async def settle(self, tracking_id: str) -> None:
        """Wait until everything sent so far for the complaint was handled: an action that
        is surely rejected goes behind it (same key, same partition, applied in order)."""
        marker = await self.act(tracking_id, "auto_close", ("admin", "settle-marker"))
        await self.rejection(marker)
        for reader in self.readers.values():  # events published before the marker's answer
            for _ in range(3):
                await reader.poll(0.05)

    async def case(self, tracking_id: str) -> dict[str, Any]:
        document = await self.cases.find_one({"_id": tracking_id})
        assert document is not None, tracking_id
        return document

    def track(self, tracking_id: str) -> tuple[int, Any]:
        return self.router.get_json(f"/v1/complaints/{tracking_id}")

    async def wait_metric(self, predicate: Callable[[str], bool], timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            text = self.router.metrics()
            if predicate(text):
                return text
            if time.monotonic() > deadline:
                raise AssertionError("metric condition not met:\n" + text[-3000:])
            await asyncio.sleep(0.1)


def metric_value(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text format (0 when absent)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        head, _, value = line.rpartition(" ")
        sample, _, label_text = head.partition("{")
        if sample != name:
            continue
        got = ",".join(sorted(label_text.rstrip("}").split(","))) if label_text else ""
        if got == wanted:
            return float(value)
    return 0.0


def no_reporter_data(body: object) -> bool:
    text = json.dumps(body, ensure_ascii=False)
    return not any(s in text for s in REPORTER_STRINGS)
