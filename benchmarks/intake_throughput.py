"""Intake throughput on the embedded servers (a benchmark, not a test).

    .venv/bin/python -m benchmarks.intake_throughput [--n 20000] [--partitions 6]

Starts LocalInfra (Tansu + SecantusDB), creates the tenant's topics, pre-publishes N
realistic submissions (`shared.devinfra.samples`) to `complaints.submitted`, then starts
ONE intake process (`python -m services.intake`) and reads `complaints.received` until
N complaints came out. Throughput = N / (time of the last complaint.received record -
time of the first), from the broker timestamps the intake producer set: intake alone,
start-up and group join excluded.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import tempfile
import time
import uuid
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import TopicPartition

from shared.devinfra.launcher import LocalInfra
from shared.devinfra.samples import sample_submission
from shared.devinfra.services import ServiceProcess
from shared.kafka import ensure_topics
from shared.settings import Settings
from shared.topics import Topics


async def prepublish(bootstrap: str, topic: str, n: int, seed: int) -> float:
    rng = random.Random(seed)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20,
                                max_batch_size=256 * 1024)
    await producer.start()
    started = time.perf_counter()
    try:
        futures = []
        for sequence in range(n):
            submission = sample_submission(rng, sequence=sequence)
            key = f"{submission['channel']}:{submission['channel_ref']}".encode()
            futures.append(await producer.send(topic, json.dumps(submission).encode(), key=key,
                                               headers=[("content-type", b"application/json")]))
        await producer.flush()
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return time.perf_counter() - started


async def read_until(bootstrap: str, topic: str, n: int, timeout: float) -> list[int]:
    """Broker timestamps (ms) of the first n records of `topic`, all partitions."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                auto_offset_reset="earliest")
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic)
        while not partitions:
            await consumer.client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic)
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        stamps: list[int] = []
        deadline = time.monotonic() + timeout
        last_report = time.monotonic()
        while len(stamps) < n:
            if time.monotonic() > deadline:
                raise SystemExit(f"timed out: {len(stamps)} of {n} complaints received")
            batches = await consumer.getmany(timeout_ms=500, max_records=5000)
            for records in batches.values():
                stamps += [r.timestamp for r in records]
            if time.monotonic() - last_report > 5:
                print(f"  ... {len(stamps)} received", flush=True)
                last_report = time.monotonic()
        return stamps
    finally:
        await consumer.stop()


async def count_records(bootstrap: str, topic: str) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        total = 0
        while True:
            batches = await consumer.getmany(timeout_ms=500)
            if not batches:
                return total
            total += sum(len(r) for r in batches.values())
    finally:
        await consumer.stop()


def metric_lines(text: str, *prefixes: str) -> list[str]:
    return [line for line in text.splitlines()
            if line.startswith(prefixes) and not line.startswith("#")]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20_000, help="submissions (default 20000)")
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--log-level", default="INFO", help="intake's LAPOR_LOG_LEVEL")
    parser.add_argument("--max-batch", type=int, default=None,
                        help="LAPOR_KAFKA_MAX_BATCH for intake (default: the setting's)")
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="lapor-bench-"))
    with LocalInfra() as infra:
        tenant = uuid.uuid4().hex[:8]
        env = {**infra.env, "LAPOR_TOPIC_PREFIX": f"bench{tenant}.",
               "LAPOR_MONGODB_DATABASE": f"bench_{tenant}",
               "LAPOR_KAFKA_PARTITIONS": str(args.partitions),
               "LAPOR_LOG_LEVEL": args.log_level}
        if args.max_batch:
            env["LAPOR_KAFKA_MAX_BATCH"] = str(args.max_batch)
        bootstrap = env["LAPOR_KAFKA_BOOTSTRAP_SERVERS"]
        topics = Topics(env["LAPOR_TOPIC_PREFIX"])
        settings = Settings.for_service("bench", kafka_bootstrap_servers=bootstrap,
                                        topic_prefix=topics.prefix,
                                        kafka_partitions=args.partitions)
        await ensure_topics(settings)

        took = await prepublish(bootstrap, topics.submitted, args.n, args.seed)
        print(f"pre-published {args.n} submissions in {took:.1f} s")

        intake = ServiceProcess("intake", env, workdir / "intake.log")
        intake.start()
        try:
            started = time.monotonic()
            intake.wait_ready(60)
            print(f"intake ready in {time.monotonic() - started:.1f} s; measuring ...")
            stamps = await read_until(bootstrap, topics.received, args.n, args.timeout)
            metrics = intake.metrics()
        finally:
            intake.stop()
        rejected = await count_records(bootstrap, topics.rejected)

    first, last = min(stamps), max(stamps)
    seconds = max(last - first, 1) / 1000
    print(f"complaints received: {len(stamps)}, rejected: {rejected}")
    for line in metric_lines(metrics, "lapor_intake_possible_duplicates_total",
                             "lapor_intake_processing_seconds_count",
                             "lapor_intake_processing_seconds_sum"):
        print(f"  {line}")
    print(f"first to last complaint.received: {seconds:.2f} s")
    print(f"THROUGHPUT: {len(stamps) / seconds:,.0f} submissions/s through intake "
          f"({args.partitions} partitions, one intake process)")
    print(f"intake log: {workdir / 'intake.log'}")

if __name__ == "__main__":
    asyncio.run(main())
