"""`make demo`: the whole system on embedded local servers, doing its job in front of you.

Starts the broker, the database, an SMTP server that keeps what it receives and the four
services; a demo channel adapter submits sample complaints (mostly from East Kutai, in
Bahasa Indonesia) and a demo agency desk acknowledges and resolves what it is assigned.
Each complaint's journey is printed live with a running count. Stops cleanly on Ctrl-C or
after DEMO_SECONDS, leaving no process behind.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import TopicPartition

from shared.devinfra.launcher import LocalInfra
from shared.devinfra.mailbox import Mailbox, ReceivedMail
from shared.devinfra.samples import sample_submission
from shared.devinfra.services import ServiceGroup
from shared.devinfra.sms_gateway import SmsGatewayServer
from shared.topics import ACTIONS, NOTIFICATIONS, RECEIVED, REJECTED, ROUTED, STATUS, SUBMITTED
from shared.topics import SLA as SLA_TOPIC
from shared.topics import TRIAGE as TRIAGE_TOPIC

WATCHED = (RECEIVED, REJECTED, ROUTED, TRIAGE_TOPIC, STATUS, SLA_TOPIC, NOTIFICATIONS)
RATE_PER_SECOND = float(os.environ.get("DEMO_RATE", "2"))


def say(kind: str, text: str) -> None:
    stamp = datetime.now().strftime("%H:%M:%S")
    print(f"{stamp}  {kind:<10} {text}", flush=True)


class Demo:
    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.counts: Counter[str] = Counter()
        self.producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
        self.rng = random.Random(2026)  # noqa: S311 - sample data
        self.desk_tasks: set[asyncio.Task[None]] = set()

    async def submit_forever(self) -> None:
        """The demo channel adapter."""
        sequence = 0
        while True:
            sequence += 1
            submission = sample_submission(self.rng, sequence=sequence)
            if sequence % 25 == 0:  # now and then a broken one, to show rejections
                submission.pop("body")
            key = f"{submission['channel']}:{submission['channel_ref']}"
            await self.producer.send_and_wait(
                SUBMITTED, json.dumps(submission).encode(), key=key.encode(),
                headers=[("content-type", b"application/json")])
            self.counts["submitted"] += 1
            region = submission.get("region_code") or "no region"
            say("submitted", f"via {submission['channel']:<11} {submission['category']:<32}"
                             f" {region}")
            await asyncio.sleep(1 / RATE_PER_SECOND)

    async def agency_desk(self, event: dict[str, Any]) -> None:
        """A demo agency: acknowledges each assigned case, then resolves most of them."""
        tracking_id, agency = event["tracking_id"], event["agency_id"]
        await asyncio.sleep(self.rng.uniform(1.5, 3))
        await self.act(tracking_id, agency, "acknowledge",
                       "Tim kami akan meninjau lokasi dalam 3 hari kerja.")
        if self.rng.random() < 0.7:
            await asyncio.sleep(self.rng.uniform(2, 5))
            await self.act(tracking_id, agency, "resolve",
                           "Perbaikan telah dilaksanakan. Terima kasih atas laporan Anda.")

    async def act(self, tracking_id: str, agency: str, action: str, message: str) -> None:
        payload = {"action_id": str(uuid.uuid4()), "tracking_id": tracking_id,
                   "occurred_at": datetime.now(UTC).isoformat(),
                   "actor": {"type": "agency", "id": agency}, "action": action,
                   "message": message}
        await self.producer.send_and_wait(ACTIONS, json.dumps(payload).encode(),
                                          key=tracking_id.encode())

    async def watch(self) -> None:
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False)
        await consumer.start()
        try:
            partitions = [TopicPartition(t, p) for t in WATCHED
                          for p in (consumer.partitions_for_topic(t) or [])]
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            while True:
                batches = await consumer.getmany(timeout_ms=500)
                for records in batches.values():
                    for record in records:
                        self.show(record.topic, json.loads(record.value))
        finally:
            await consumer.stop()

    def show(self, topic: str, event: dict[str, Any]) -> None:
        tid = event.get("tracking_id", "")
        if topic == RECEIVED:
            self.counts["received"] += 1
            dup = event.get("possible_duplicate_of")
            say("received", f"{tid}  tracking id issued" + (f" (mirip {dup})" if dup else ""))
        elif topic == REJECTED:
            self.counts["rejected"] += 1
            codes = ", ".join(f"{e['field']}:{e['code']}" for e in event["errors"])
            say("rejected", f"{event.get('channel_ref')}  {codes}")
        elif topic == ROUTED:
            self.counts["routed"] += 1
            say("routed", f"{tid}  -> {event['agency_name']} (rule {event['rule_id']})")
            task = asyncio.create_task(self.agency_desk(event))
            self.desk_tasks.add(task)
            task.add_done_callback(self.desk_tasks.discard)
        elif topic == TRIAGE_TOPIC:
            self.counts["triage"] += 1
            say("triage", f"{tid}  needs a human: {event['reason']}")
        elif topic == STATUS and event["status"] not in ("assigned", "triage"):
            self.counts[event["status"]] += 1
            say("status", f"{tid}  {event['previous_status']} -> {event['status']}")
        elif topic == SLA_TOPIC:
            self.counts["sla"] += 1
            say("sla", f"{tid}  {event['event_type']} {event['stage']}")
        elif topic == NOTIFICATIONS:
            outcome = event["event_type"].split(".")[1]
            self.counts[f"notification {outcome}"] += 1
            if outcome == "skipped":
                say("notified", f"{tid}  {event['template']} skipped: {event.get('error')}")
            else:
                say("notified", f"{tid}  {event['template']} by {event.get('channel')} to "
                                f"{event.get('recipient')} ({outcome})")

    async def report_forever(self, started: float) -> None:
        while True:
            await asyncio.sleep(10)
            elapsed = time.monotonic() - started
            summary = ", ".join(f"{k} {v}" for k, v in sorted(self.counts.items()))
            print(f"\n--- after {elapsed:.0f}s: {summary}\n", flush=True)


async def run_demo(infra: LocalInfra, mailbox: Mailbox, seconds: float | None) -> Demo:
    demo = Demo(infra.env["LAPOR_KAFKA_BOOTSTRAP_SERVERS"])

    def on_mail(mail: ReceivedMail) -> None:
        demo.counts["e-mails delivered"] += 1

    mailbox.listeners.append(on_mail)
    await demo.producer.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    started = time.monotonic()
    tasks = [asyncio.create_task(c) for c in
             (demo.watch(), demo.submit_forever(), demo.report_forever(started))]
    try:
        await asyncio.wait_for(stop.wait(), seconds) if seconds else await stop.wait()
    except TimeoutError:
        pass
    for task in [*tasks, *demo.desk_tasks]:
        task.cancel()
    await asyncio.gather(*tasks, *demo.desk_tasks, return_exceptions=True)
    await demo.producer.stop()
    return demo


def main() -> int:
    seconds = float(os.environ["DEMO_SECONDS"]) if os.environ.get("DEMO_SECONDS") else None
    workdir = Path(tempfile.mkdtemp(prefix="lapor-demo-"))
    print("LAPOR demo: starting Kafka-protocol broker (Tansu), MongoDB-protocol server "
          "(SecantusDB), SMTP server and the four services...", flush=True)
    with LocalInfra(workdir=workdir) as infra, Mailbox() as mailbox, \
            SmsGatewayServer() as sms:
        env = {**infra.env, **mailbox.env, **sms.env, "LAPOR_LOG_FORMAT": "console",
               "LAPOR_SLA_SCAN_INTERVAL_SECONDS": "1",
               "LAPOR_PUBLIC_BASE_URL": "http://127.0.0.1:9102"}
        with ServiceGroup(env, workdir / "logs") as services:
            ports = ", ".join(f"{n} :{p.port}" for n, p in services.processes.items())
            print(f"All services ready ({ports}); logs in {workdir / 'logs'}.", flush=True)
            print("Submitting sample complaints. Ctrl-C stops.\n", flush=True)
            demo = asyncio.run(run_demo(infra, mailbox, seconds))
            print("\nStopping services...", flush=True)
        summary = ", ".join(f"{k} {v}" for k, v in sorted(demo.counts.items()))
        print(f"Demo finished: {summary}. E-mails kept by the SMTP server: "
              f"{len(mailbox.messages)}; text messages taken by the SMS gateway: "
              f"{len(sms.accepted)}.", flush=True)
        if mailbox.messages:
            sample = mailbox.messages[0]
            print(f"\nFirst e-mail: {sample.subject}\n{sample.text()[:600]}", flush=True)
    return 0 if demo.counts["routed"] > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
