"""The ceilings of the machine the pipeline runs on, measured in the same run:

- the broker's: a relay of plain aiokafka consumers and producers through as many hops as
  the pipeline (submitted -> received -> routed -> notified: 3), each hop its own process
  like a service, doing no work but the same discipline (fetch a batch, publish it with
  acks=all, wait for the acknowledgements, commit), on fresh topics with the pipeline's
  partition count and payloads of a submission's size;
- the database's: insert_many(ordered=False) of complaint-sized documents into a
  collection with a unique index (like intake's), plus the single-write rates
  (insert_one, find_one_and_update by _id) that per-message code is bound by.

`python -m benchmarks.ceiling relay ...` is one relay hop (started by `broker_relay`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import TopicPartition
from pymongo import AsyncMongoClient, IndexModel, ReturnDocument

from benchmarks import event_loop
from benchmarks.load import ADAPTER_LINGER_MS, ProgressBar, observe, publish, submissions
from benchmarks.report import by_window, latency_summary, steady_rate, throughput
from shared.kafka import ensure_topics
from shared.settings import Settings

HOPS = 3
MAX_RECORDS = 500  # the services' LAPOR_KAFKA_MAX_BATCH default


# -- one relay hop (a process of its own) ---------------------------------------------------
async def relay(bootstrap: str, source: str, dest: str, group: str,
                fetch_max_wait_ms: int = 500) -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                                enable_auto_commit=False, auto_offset_reset="earliest",
                                fetch_max_wait_ms=fetch_max_wait_ms)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5,
                                enable_idempotence=False)
    await consumer.start()
    await producer.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        partitions = sorted(consumer.partitions_for_topic(source) or [])
        while not partitions:
            await consumer.client.force_metadata_update()
            partitions = sorted(consumer.partitions_for_topic(source) or [])
        tps = [TopicPartition(source, p) for p in partitions]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        print("ready", flush=True)
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=200, max_records=MAX_RECORDS)
            if not batches:
                continue
            futures = [await producer.send(dest, r.value, key=r.key)
                       for records in batches.values() for r in records]
            await asyncio.gather(*futures)
            await consumer.commit()
    finally:
        await producer.stop()
        await consumer.stop()


# -- the broker ceiling ---------------------------------------------------------------------
async def _start_relay(bootstrap: str, source: str, dest: str, group: str,
                       fetch_max_wait_ms: int) -> asyncio.subprocess.Process:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "benchmarks.ceiling", "relay", "--bootstrap", bootstrap,
        "--source", source, "--dest", dest, "--group", group,
        "--fetch-max-wait-ms", str(fetch_max_wait_ms),
        stdout=asyncio.subprocess.PIPE, start_new_session=True)
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), 60)
    if line.strip() != b"ready":
        raise RuntimeError(f"relay {source} -> {dest} did not start: {line!r}")
    return process


async def _stop_relay(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()


async def broker_relay(bootstrap: str, partitions: int, n: int, rate: float | None,
                       seed: int = 7, timeout: float = 300.0,
                       fetch_max_wait_ms: int | None = None,
                       adapter_linger_ms: int = ADAPTER_LINGER_MS) -> dict[str, Any]:
    """Messages per second through HOPS relay processes, and per-hop latency from the
    records' CreateTime (set by each hop's producer when it sends). The consumers wait for
    data as the services' subscribers do (`LAPOR_KAFKA_FETCH_MAX_WAIT_MS`, 50 ms), unless
    told otherwise: the ceiling must be measured with the pipeline's own settings."""
    if fetch_max_wait_ms is None:
        fetch_max_wait_ms = Settings().kafka_fetch_max_wait_ms
    run = uuid.uuid4().hex[:8]
    topics = [f"ceiling{run}.hop{i}" for i in range(HOPS + 1)]
    settings = Settings.for_service("bench", kafka_bootstrap_servers=bootstrap,
                                    kafka_partitions=partitions)
    await ensure_topics(settings, topics)
    relays = []
    try:
        for i in range(HOPS):
            relays.append(await _start_relay(bootstrap, topics[i], topics[i + 1],
                                             f"ceiling{run}-hop{i}", fetch_max_wait_ms))
        payloads = [json.dumps({**s, "submitted_at": datetime.now(UTC).isoformat()}).encode()
                    for s in submissions(n, seed)]

        def message(i: int) -> tuple[bytes, bytes]:
            return str(i).encode(), payloads[i]

        stamps: dict[str, dict[bytes, int]] = defaultdict(dict)  # topic -> key -> ms
        collector = asyncio.create_task(_collect_stamps(bootstrap, topics, n, stamps, timeout))
        sent = [0]
        kafka = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all",
                                 linger_ms=adapter_linger_ms,
                                 max_batch_size=256 * 1024, enable_idempotence=False)
        await kafka.start()
        try:
            def counters() -> dict[str, int]:
                return {"sent": sent[0],
                        **{f"hop{i}": len(stamps[topics[i]]) for i in range(1, HOPS + 1)}}

            with ProgressBar("broker ceiling", n, counters, f"hop{HOPS}"):
                await publish(kafka, topics[0], n, message, rate=rate,
                              on_sent=lambda k: sent.__setitem__(0, k))
                await collector
        finally:
            collector.cancel()
            await kafka.stop()
    finally:
        for process in relays:
            await _stop_relay(process)

    first = {k: ms / 1000 for k, ms in stamps[topics[0]].items()}
    out = {k: ms / 1000 for k, ms in stamps[topics[-1]].items()}

    def hop(a: int, b: int) -> list[float]:
        src, dst = stamps[topics[a]], stamps[topics[b]]
        return [(dst[k] - src[k]) / 1000 for k in dst if k in src]

    routed = [(first[k], ms / 1000 - first[k]) for k, ms in stamps[topics[2]].items()
              if k in first]
    return {
        "n": n, "mode": f"rate {rate:g}/s" if rate else "max", "hops": HOPS,
        "routed_by_window": by_window(routed, min(first.values())),
        "fetch_max_wait_ms": fetch_max_wait_ms,
        "delivered": len(out),
        "throughput": round(throughput(len(out), min(first.values()), max(out.values())), 1),
        "steady": round(steady_rate(list(out.values())), 1),
        "latency": {"intake": latency_summary(hop(0, 1)), "router": latency_summary(hop(1, 2)),
                    "notifier": latency_summary(hop(1, 3)),
                    "e2e_routed": latency_summary(hop(0, 2)),
                    "e2e_acknowledged": latency_summary(hop(0, 3))},
    }


async def _collect_stamps(bootstrap: str, topics: list[str], n: int,
                          stamps: dict[str, dict[bytes, int]], timeout: float) -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(t, p) for t in topics
               for p in sorted(consumer.partitions_for_topic(t) or [])]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        deadline = time.monotonic() + timeout
        while len(stamps[topics[-1]]) < n and time.monotonic() < deadline:
            batches = await observe(consumer, max_records=10_000)
            for tp, records in batches.items():
                target = stamps[tp.topic]
                for r in records:
                    target.setdefault(r.key, r.timestamp)
    finally:
        await consumer.stop()


# -- the database ceiling -------------------------------------------------------------------
def complaint_document(submission: dict[str, Any], i: int) -> dict[str, Any]:
    """A document shaped and sized like intake's stored complaint."""
    tracking_id = f"BNCH-{i:08d}"
    now = datetime.now(UTC)
    return {
        "_id": tracking_id,
        "submission_key": f"{submission['channel']}:{submission['channel_ref']}",
        "channel": submission["channel"], "category": submission["category"],
        "region_code": submission.get("region_code"), "received_at": now,
        "contact_keys": [f"email:{submission['reporter']['email']}"],
        "citizen_secret_hash": "x" * 64,
        "event": {**submission, "event_id": str(uuid.uuid4()),
                  "event_type": "complaint.received", "schema_version": 1,
                  "occurred_at": now.isoformat(), "tracking_id": tracking_id},
    }


async def database(uri: str, n: int, chunks: tuple[int, ...] = (100, 1000),
                   singles: int = 1000) -> dict[str, Any]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri)
    name = f"ceiling_{uuid.uuid4().hex[:8]}"
    db = client[name]
    result: dict[str, Any] = {"docs": n, "insert_many": {}}
    try:
        items = submissions(n, seed=11)
        size = len(json.dumps(complaint_document(items[0], 0), default=str))
        result["doc_bytes"] = size
        for chunk in chunks:
            collection = db[f"complaints_{chunk}"]
            await collection.create_indexes([IndexModel("submission_key", unique=True)])
            docs = [complaint_document(s, i) for i, s in enumerate(items)]
            started = time.perf_counter()
            for i in range(0, n, chunk):
                await collection.insert_many(docs[i:i + chunk], ordered=False)
            result["insert_many"][str(chunk)] = round(n / (time.perf_counter() - started), 1)
        singles_coll = db["singles"]
        docs = [complaint_document(s, i) for i, s in enumerate(items[:singles])]
        started = time.perf_counter()
        for doc in docs:
            await singles_coll.insert_one(doc)
        result["insert_one"] = round(len(docs) / (time.perf_counter() - started), 1)
        started = time.perf_counter()
        for doc in docs:
            await singles_coll.find_one_and_update(
                {"_id": doc["_id"]}, {"$set": {"state": "sending"}, "$inc": {"attempts": 1}},
                return_document=ReturnDocument.AFTER)
        result["find_one_and_update"] = round(len(docs) / (time.perf_counter() - started), 1)
    finally:
        await client.drop_database(name)
        await client.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description="one relay hop of the broker ceiling")
    sub = parser.add_subparsers(dest="command", required=True)
    hop = sub.add_parser("relay")
    hop.add_argument("--bootstrap", required=True)
    hop.add_argument("--source", required=True)
    hop.add_argument("--dest", required=True)
    hop.add_argument("--group", required=True)
    hop.add_argument("--fetch-max-wait-ms", type=int, default=500)
    args = parser.parse_args()
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    event_loop.run(relay(args.bootstrap, args.source, args.dest, args.group,
                         args.fetch_max_wait_ms))


if __name__ == "__main__":
    main()
