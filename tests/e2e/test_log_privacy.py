"""Privacy: run the whole flow with known reporters, then search every captured log line of
every service for their e-mail, phone, name, NIK and citizen secret. None may appear."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from shared.citizen_secret import derive_citizen_secret
from shared.devinfra.mailbox import Mailbox
from shared.devinfra.services import ServiceGroup
from shared.devinfra.sms_gateway import SmsGatewayServer
from shared.settings import Settings
from tests.support.kafka import TopicReader, produce

REPORTER = {"name": "Siti Rahmawati Kusuma", "email": "siti.kusuma.privasi@example.id",
            "phone": "0812-3456-7890", "nik": "6408041203900001", "language": "id"}
ANONYMOUS = {"name": "Bambang Wijayakusuma", "email": "bambang.anon.privasi@example.id",
             "phone": "+62 813 9876 5432", "anonymous": True}
SENSITIVE = [
    REPORTER["name"], REPORTER["email"], REPORTER["phone"], "+6281234567890", "81234567890",
    REPORTER["nik"], ANONYMOUS["name"], ANONYMOUS["email"], ANONYMOUS["phone"],
    "+6281398765432", "81398765432", "Rahmawati", "Wijayakusuma",
]


def submission(reporter: dict[str, object], ref: str) -> bytes:
    return json.dumps({
        "channel": "whatsapp", "channel_ref": ref, "submitted_at": datetime.now(UTC).isoformat(),
        "title": "Air PDAM tidak mengalir",
        "body": "Sudah lima hari air tidak mengalir di rumah kami. Hubungi saya di "
                f"{reporter['phone']} atau {reporter['email']}.",
        "category": "infrastructure.clean_water", "region_code": "64.08.12",
        "reporter": reporter}).encode()


async def test_no_reporter_data_in_any_log_line(tenant_env: dict[str, str], mailbox: Mailbox,
                                                tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    with SmsGatewayServer() as sms:
        # DEBUG: every line any service can write, the per-notification ones included.
        env = {**tenant_env, **mailbox.env, **sms.env, "LAPOR_LOG_LEVEL": "DEBUG"}
        with ServiceGroup(env, logs):
            await run_flow(env, mailbox)
    captured = {p.name: p.read_text(errors="replace") for p in logs.glob("*.log")}
    assert set(captured) == {"intake.log", "router.log", "sla.log", "notifier.log"}
    lines = sum(text.count("\n") for text in captured.values())
    assert lines > 50, "the services logged almost nothing: the test would prove nothing"
    assert '"notification sent"' in captured["notifier.log"]  # the DEBUG lines are there
    leaks = [(name, secret) for name, text in captured.items() for secret in SENSITIVE
             if secret.lower() in text.lower()]
    assert leaks == []


async def run_flow(env: dict[str, str], mailbox: Mailbox) -> None:
    prefix, bootstrap = env["LAPOR_TOPIC_PREFIX"], env["LAPOR_KAFKA_BOOTSTRAP_SERVERS"]
    refs = [f"wa-{uuid.uuid4()}", f"wa-{uuid.uuid4()}"]
    await produce(bootstrap, prefix + "complaints.submitted", [
        (f"whatsapp:{refs[0]}".encode(), submission(REPORTER, refs[0])),
        (f"whatsapp:{refs[1]}".encode(), submission(ANONYMOUS, refs[1])),
        # Bad input carrying contact data: a rejection and a dead letter.
        (b"whatsapp:bad", json.dumps({"channel": "whatsapp", "channel_ref": "bad",
                                      "reporter": {"email": REPORTER["email"],
                                                   "phone": "nomor " + REPORTER["phone"]},
                                      "body": REPORTER["nik"]}).encode()),
        (b"whatsapp:junk", f"{REPORTER['email']} {REPORTER['phone']} {{".encode()),
    ])
    async with TopicReader(bootstrap, prefix + "complaints.routed") as routed:
        events = await routed.wait_count(2, timeout=60)
    key = Settings().citizen_secret_key.get_secret_value().encode()
    for event in events:
        tracking_id, agency = event["tracking_id"], event["agency_id"]
        secret = derive_citizen_secret(key, tracking_id)
        SENSITIVE.append(secret)
        steps = [({"type": "agency", "id": agency}, "acknowledge", None),
                 ({"type": "agency", "id": agency}, "request_info", None),
                 ({"type": "citizen", "id": "wa"}, "reply", secret),
                 ({"type": "agency", "id": agency}, "resolve", None),
                 ({"type": "citizen", "id": "wa"}, "confirm", secret),
                 ({"type": "citizen", "id": "wa"}, "reply", "WRONG-SECRT")]
        await produce(bootstrap, prefix + "complaints.actions", [
            (tracking_id.encode(), json.dumps({
                "action_id": str(uuid.uuid4()), "tracking_id": tracking_id,
                "occurred_at": datetime.now(UTC).isoformat(), "actor": actor, "action": action,
                "message": f"Terima kasih, kami akan menghubungi {REPORTER['phone']}.",
                "citizen_secret": citizen_secret}).encode())
            for actor, action, citizen_secret in steps])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # the last e-mails of the flow: both cases closed
        closed = [m for m in mailbox.messages if "ditutup" in m.subject.lower()
                  or "closed" in m.subject.lower() or "selesai" in m.subject.lower()]
        if len(closed) >= 2:
            break
        await asyncio.sleep(0.2)
    assert mailbox.to(REPORTER["email"]), "the reporter was never notified"
