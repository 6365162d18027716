"""Load for the reliability tests: many distinct citizens, published at a steady rate, and
the checks that nothing was lost and nothing was done twice."""

from __future__ import annotations

import asyncio
import json
import random
import time
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer
from pymongo import MongoClient

from services.sla.adapters.clocks import COLLECTION as SLA_CLOCKS
from shared.devinfra.mailbox import Mailbox
from shared.devinfra.samples import sample_submission


def citizens(n: int, tag: str, seed: int = 7) -> list[dict[str, Any]]:
    """n submissions, each from its own reporter with an e-mail address, all routable."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        submission = sample_submission(rng, sequence=i)
        submission["region_code"] = rng.choice(["64.08.04", "64.08.12", "64.08.09", "64.72"])
        submission["channel_ref"] = f"{tag}-{i}"
        submission["reporter"] = {"name": f"Warga {i}", "email": f"warga{i}.{tag}@example.id",
                                  "language": "id"}
        out.append(submission)
    return out


async def publish_at_rate(bootstrap: str, topic: str, submissions: list[dict[str, Any]],
                          rate: float) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        started = time.monotonic()
        for i, submission in enumerate(submissions):
            key = f"{submission['channel']}:{submission['channel_ref']}".encode()
            await producer.send(topic, json.dumps(submission).encode(), key=key)
            ahead = started + (i + 1) / rate - time.monotonic()
            if ahead > 0:  # pacing the load generator, not waiting for the system
                await asyncio.sleep(ahead)
        await producer.flush()
    finally:
        await producer.stop()


@dataclass
class Outcome:
    """What the database and the mailbox hold once the system went quiet."""

    complaints: int = 0
    distinct_submissions: int = 0
    cases: int = 0
    routing_clocks: int = 0
    acknowledgements_planned: int = 0
    acknowledgements_sent: int = 0
    citizens_with_one_acknowledgement: int = 0
    citizens_without: int = 0
    citizens_with_several: int = 0  # distinct Message-IDs > 1: a real duplicate
    raw_resends: int = 0  # same Message-ID delivered again (SMTP has no transactions)


def outcome(env: dict[str, str], mailbox: Mailbox, submissions: list[dict[str, Any]]) -> Outcome:
    result = Outcome()
    with MongoClient(env["LAPOR_MONGODB_URI"]) as client:
        db = client[env["LAPOR_MONGODB_DATABASE"]]
        result.complaints = db.complaints.count_documents({})
        result.distinct_submissions = len(db.complaints.distinct("submission_key"))
        result.cases = db.cases.count_documents({})
        result.routing_clocks = db[SLA_CLOCKS].count_documents({"clocks.stage": "routing"})
        result.acknowledgements_planned = db.notifications.count_documents(
            {"template": "acknowledgement"})
        result.acknowledgements_sent = len({  # one document per recorder batch and claim
            outcome["_id"] for batch in db.notification_outcome_batches.find()
            for outcome in batch["outcomes"]
            if outcome.get("template") == "acknowledgement" and outcome["state"] == "sent"})
    with mailbox.lock:
        messages = list(mailbox.messages)
    acknowledgements: dict[str, list[str | None]] = {}
    for mail in messages:  # one pass: the SMTP server shares this process
        if "diterima" in mail.subject:
            for recipient in mail.recipients:
                acknowledgements.setdefault(recipient, []).append(mail.header("Message-ID"))
    for submission in submissions:
        mails = acknowledgements.get(submission["reporter"]["email"], [])
        distinct = set(mails)
        result.raw_resends += len(mails) - len(distinct)
        if len(distinct) == 1:
            result.citizens_with_one_acknowledgement += 1
        elif not distinct:
            result.citizens_without += 1
        else:
            result.citizens_with_several += 1
    return result


def wait_until_quiet(env: dict[str, str], mailbox: Mailbox, submissions: list[dict[str, Any]],
                     timeout: float = 180.0) -> Outcome:
    """Poll until every complaint has its case and its SLA routing clock and every citizen
    an acknowledgement (or the timeout), then report. The SLA watcher gathers its batches
    in a window and, after a restart, rejoins its group: it may finish after the others."""
    deadline = time.monotonic() + timeout
    n = len(submissions)
    while time.monotonic() < deadline:
        current = outcome(env, mailbox, submissions)
        if (current.cases >= n and current.routing_clocks >= n
                and current.citizens_without == 0 and current.acknowledgements_sent >= n):
            return current
        time.sleep(1.0)
    return outcome(env, mailbox, submissions)
