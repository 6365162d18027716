"""The notifier alone, as a real process, against the session's broker and database, a real
SMTP server (aiosmtpd) and a real HTTP server playing the SMS gateway.

One notifier per module (start-up is the expensive part): tests use their own complaints
(fresh tracking ids, addresses and numbers), so they never see each other's messages.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from shared.citizen_secret import derive_citizen_secret
from shared.codec import encode, key_for
from shared.contract import (
    Actor,
    ActorType,
    Channel,
    ComplaintReceived,
    ComplaintStatusChanged,
    Language,
    Reporter,
    SlaBreached,
    SlaWarning,
    Status,
)
from shared.devinfra import LocalInfra
from shared.devinfra.mailbox import Mailbox, ReceivedMail
from shared.devinfra.services import ServiceProcess
from shared.devinfra.sms_gateway import SmsGatewayServer
from shared.settings import Settings
from shared.tracking_id import new_tracking_id
from tests.support.kafka import TopicReader, produce
from tests.support.tenants import tenant_env_for

DEFAULT_SECRET_KEY = Settings().citizen_secret_key.get_secret_value().encode()
MESSAGE_ID_DOMAIN = "lapor.go.id"  # from the default LAPOR_SMTP_FROM
ASSIGNEE = "kutim-pupr"
ASSIGNEE_EMAIL = "dpu@kutaitimurkab.go.id"
PARENT = "pemkab-kutim"
PARENT_EMAIL = "pengaduan@kutaitimurkab.go.id"

NOTIFIER_ENV = {
    # Each notification's own line is at DEBUG: the privacy checks read it too.
    "LAPOR_LOG_LEVEL": "DEBUG",
    "LAPOR_NOTIFY_RETRY_BASE_SECONDS": "0.1",
    "LAPOR_NOTIFY_RETRY_MAX_SECONDS": "1.0",
    "LAPOR_NOTIFY_POLL_SECONDS": "0.1",
    "LAPOR_NOTIFY_MAX_ATTEMPTS": "10",
    "LAPOR_SMTP_TIMEOUT_SECONDS": "3",
}


@dataclass
class Complaint:
    """One complaint's events, built like intake, router and sla would publish them."""

    language: Language = Language.ID
    email: str | None = None
    phone: str | None = None
    name: str = "Siti Rahmawati"
    anonymous: bool = False
    title: str = "Jalan berlubang di Jl. Yos Sudarso"
    tracking_id: str = field(default_factory=new_tracking_id)
    published: list[tuple[str, BaseModel]] = field(default_factory=list)
    status: Status = Status.RECEIVED

    @property
    def secret(self) -> str:
        return derive_citizen_secret(DEFAULT_SECRET_KEY, self.tracking_id)

    def received(self) -> ComplaintReceived:
        return ComplaintReceived(
            tracking_id=self.tracking_id, channel=Channel.WEB,
            channel_ref=f"web-{uuid.uuid4()}", title=self.title,
            body="Jalan di depan pasar berlubang besar & <berbahaya> bagi pengendara motor.",
            category="infrastructure.roads", region_code="64.08.04",
            reporter=Reporter(name=self.name, email=self.email, phone=self.phone,
                              language=self.language, anonymous=self.anonymous),
            submitted_at=datetime.now(UTC), citizen_secret=self.secret)

    def status_changed(self, status: Status, message: str | None = None,
                       agency_id: str | None = ASSIGNEE) -> ComplaintStatusChanged:
        event = ComplaintStatusChanged(
            tracking_id=self.tracking_id, status=status, previous_status=self.status,
            agency_id=agency_id, actor=Actor(type=ActorType.AGENCY, id=ASSIGNEE),
            message=message)
        self.status = status
        return event

    def sla_warning(self) -> SlaWarning:
        return SlaWarning(tracking_id=self.tracking_id, stage="resolution", threshold=0.75,
                          due_at=datetime.now(UTC) + timedelta(days=2), agency_id=ASSIGNEE)

    def sla_breached(self, level: int = 2) -> SlaBreached:
        return SlaBreached(tracking_id=self.tracking_id, stage="resolution", level=level,
                           due_at=datetime.now(UTC) - timedelta(days=3),
                           overdue_seconds=3 * 86400 + 3600, agency_id=ASSIGNEE,
                           escalated_to_agency_id=PARENT)


@dataclass
class NotifierSystem:
    env: dict[str, str]
    mailbox: Mailbox
    gateway: SmsGatewayServer
    service: ServiceProcess
    outcomes: TopicReader

    @property
    def prefix(self) -> str:
        return self.env["LAPOR_TOPIC_PREFIX"]

    @property
    def bootstrap(self) -> str:
        return self.env["LAPOR_KAFKA_BOOTSTRAP_SERVERS"]

    def topic_for(self, event: BaseModel) -> str:
        if isinstance(event, ComplaintReceived):
            return self.prefix + "complaints.received"
        if isinstance(event, ComplaintStatusChanged):
            return self.prefix + "complaints.status"
        return self.prefix + "complaints.sla"

    async def publish(self, complaint: Complaint | None, *events: BaseModel) -> None:
        """Publish as the upstream services do (key = tracking id), remembering the exact
        bytes so they can be replayed."""
        for event in events:
            topic = self.topic_for(event)
            await produce(self.bootstrap, topic, [(key_for(event), encode(event))],
                          headers=[("content-type", b"application/json")])
            if complaint is not None:
                complaint.published.append((topic, event))

    async def replay(self, complaint: Complaint) -> None:
        for topic, event in complaint.published:
            await produce(self.bootstrap, topic, [(key_for(event), encode(event))],
                          headers=[("content-type", b"application/json")])

    # -- what came out ------------------------------------------------------------------
    async def outcomes_for(self, tracking_id: str, count: int, timeout: float = 20.0
                           ) -> list[dict[str, Any]]:
        def mine(values: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return [v for v in values if v.get("tracking_id") == tracking_id]

        await self.outcomes.wait_for(lambda values: len(mine(values)) >= count, timeout)
        return mine(self.outcomes.values())

    def mails_for(self, tracking_id: str) -> list[ReceivedMail]:
        with self.mailbox.lock:
            return [m for m in self.mailbox.messages
                    if m.header("X-Lapor-Tracking-Id") == tracking_id]

    def sms_to(self, number: str) -> list[dict[str, Any]]:
        return self.gateway.to(number)

    def requests_to(self, number: str) -> list[dict[str, Any]]:
        with self.gateway.lock:
            return [r for r in self.gateway.requests if r.get("to") == number]

    def metrics(self) -> str:
        return self.service.metrics()

    def metric(self, name: str, **labels: str) -> float:
        """Sum of the samples of `name` whose labels include `labels`."""
        total = 0.0
        for line in self.metrics().splitlines():
            match = re.match(r"^(\w+)(?:\{(.*)\})? (\S+)$", line)
            if not match or match.group(1) != name:
                continue
            found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2) or ""))
            if all(found.get(k) == v for k, v in labels.items()):
                total += float(match.group(3))
        return total

    def restart(self, *, kill: bool = False) -> None:
        if kill:
            self.service.kill()
            self.service.process = None
        else:
            assert self.service.stop() == 0, self.service.tail()
        self.service.start()
        self.service.wait_ready(60)


@pytest.fixture(scope="module")
def notifier_env(infra: LocalInfra) -> dict[str, str]:
    return tenant_env_for(infra, **NOTIFIER_ENV)


@pytest.fixture(scope="module")
def notifier_servers() -> Iterator[tuple[Mailbox, SmsGatewayServer]]:
    with Mailbox() as mailbox, SmsGatewayServer(token="gateway-test-token") as gateway:  # noqa: S106
        yield mailbox, gateway


@pytest.fixture(scope="module")
async def notifier(notifier_env: dict[str, str], notifier_servers: tuple[Mailbox, Any],
                   tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[NotifierSystem]:
    mailbox, gateway = notifier_servers
    env = {**notifier_env, **mailbox.env, **gateway.env}
    log_path = Path(tmp_path_factory.mktemp("notifier")) / "notifier.log"
    service = ServiceProcess("notifier", env, log_path)
    service.start()
    try:
        await asyncio.to_thread(service.wait_ready, 60)
        reader = TopicReader(env["LAPOR_KAFKA_BOOTSTRAP_SERVERS"],
                             env["LAPOR_TOPIC_PREFIX"] + "notifications.events")
        await reader.start()
        try:
            yield NotifierSystem(env, mailbox, gateway, service, reader)
        finally:
            await reader.stop()
    finally:
        service.stop()
