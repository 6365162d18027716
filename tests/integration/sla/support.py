"""Helpers for the sla integration tests: a drill policy, lifecycle events as the router
would publish them, and readers of what the sla service published."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer

from shared.codec import encode, key_for
from shared.consumer import InboundRecord
from shared.contract import (
    Actor,
    ActorType,
    Channel,
    ComplaintReceived,
    ComplaintStatusChanged,
    Status,
)
from shared.tracking_id import new_tracking_id

ASSIGNEE, PARENT, COORDINATOR = "kutim-pupr", "pemkab-kutim", "kemenpanrb"  # agencies.yaml

# Second-scale drill policy: response 2 s, resolution 4 s, levels 1 s apart.
DRILL_POLICY = """\
national_coordinator: kemenpanrb
warnings: [0.5, 0.75]
escalation_interval: {duration: PT1S}
stages:
  routing:    {duration: PT2S}
  response:   {duration: PT2S}
  resolution: {duration: PT4S}
  auto_close: {duration: PT2S}
extra_closed_days: []
"""

# Hour-scale policy for the in-process tests that move a ManualClock.
HOURS_POLICY = """\
national_coordinator: kemenpanrb
warnings: [0.5, 0.75]
escalation_interval: {duration: PT1H}
stages:
  routing:    {duration: PT1H}
  response:   {duration: PT2H}
  resolution: {duration: PT10H}
  auto_close: {duration: PT5H}
"""


def write_policy(directory: Path, text: str = DRILL_POLICY) -> Path:
    path = directory / "sla_policy.yaml"
    path.write_text(text)
    return path


def new_case() -> str:
    return new_tracking_id()


def received(tracking_id: str, at: datetime, category: str = "infrastructure.roads"
             ) -> ComplaintReceived:
    return ComplaintReceived(
        occurred_at=at, tracking_id=tracking_id, channel=Channel.WEB,
        channel_ref=f"web-{uuid.uuid4()}", category=category, region_code="64.08.04",
        title="Jalan berlubang", body="Jalan di depan pasar Sangatta Utara berlubang besar.",
        submitted_at=at, citizen_secret="integration-test-secret")


def status(tracking_id: str, new_status: Status, at: datetime,
           agency_id: str | None = ASSIGNEE) -> ComplaintStatusChanged:
    return ComplaintStatusChanged(
        occurred_at=at, tracking_id=tracking_id, status=new_status, agency_id=agency_id,
        actor=Actor(type=ActorType.SYSTEM, id="router"))


def record(event: Any, offset: int = 0) -> InboundRecord:
    """What the consumer hands the watcher for one event."""
    topic = "complaints.received" if isinstance(event, ComplaintReceived) else "complaints.status"
    return InboundRecord(topic, 0, offset, key_for(event), encode(event))


async def publish(bootstrap: str, prefix: str, *events: Any) -> None:
    """Publish lifecycle events like the intake and router services (keyed by tracking id),
    in order, through one producer so that a scenario's events arrive together."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for event in events:
            topic = "complaints.received" if isinstance(event, ComplaintReceived) \
                else "complaints.status"
            await producer.send(prefix + topic, encode(event), key=key_for(event),
                                headers=[("content-type", b"application/json")])
        await producer.flush()
    finally:
        await producer.stop()


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def mark(event: dict[str, Any]) -> tuple[str, float | int]:
    """("warning", 0.5) or ("breach", 2)."""
    if event["event_type"] == "sla.warning":
        return "warning", event["threshold"]
    return "breach", event["level"]


FULL_SCHEDULE = [("warning", 0.5), ("warning", 0.75), ("breach", 1), ("breach", 2),
                 ("breach", 3)]


def of_stage(events: list[dict[str, Any]], tracking_id: str, stage: str
             ) -> list[dict[str, Any]]:
    return [e for e in events if e.get("tracking_id") == tracking_id and e["stage"] == stage]


def duplicates(events: list[dict[str, Any]], id_field: str = "event_id") -> dict[str, int]:
    counts = Counter(e[id_field] for e in events)
    return {key: n for key, n in counts.items() if n > 1}


def close_to(moment: datetime, expected: datetime, tolerance: float = 0.002) -> bool:
    """Mongo keeps milliseconds: stored times may lose the microseconds."""
    return abs((moment - expected).total_seconds()) <= tolerance


def now() -> datetime:
    return datetime.now(UTC)


def seconds(value: float) -> timedelta:
    return timedelta(seconds=value)
