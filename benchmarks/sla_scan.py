"""Benchmark (not a test): how fast the sla scanner publishes what fell due.

Starts its own embedded broker and database, bulk-inserts 200,000 open SLA clocks of which
10,000 have a mark due now, then runs `SlaWatcher.scan` with the real publisher (acks=all)
until all 10,000 events are published, and prints the figures: when the last event was
acknowledged by the broker (target: all 10,000 within 5 s) and when the scan completed
(every clock advanced). Then it reads the topic back.

    .venv/bin/python -m benchmarks.sla_scan [--open 200000] [--due 10000] [--batch 1000]
                                            [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition

from services.sla.adapters.clocks import COLLECTION, INDEXES, CaseClocks, ClockStore
from services.sla.domain import Calendars, Stage, load_policy
from services.sla.domain.clocks import start_clock
from services.sla.handlers import SlaWatcher
from shared.agencies import load_agencies
from shared.clock import SystemClock
from shared.devinfra import LocalInfra
from shared.kafka import ensure_topics
from shared.mongo import ensure_indexes
from shared.service import ServiceRuntime
from shared.settings import Settings

INSERT_CHUNK = 5_000
AGENCY = "kutim-pupr"


class TimedStore(ClockStore):
    """The real store, with the time spent in each call added up."""

    def __init__(self, db: Any) -> None:
        super().__init__(db)
        self.spent: dict[str, float] = {}

    def _timed(self, name: str, coro: Any) -> Any:
        async def run() -> Any:
            started = time.perf_counter()
            try:
                return await coro
            finally:
                self.spent[name] = self.spent.get(name, 0.0) + time.perf_counter() - started
        return run()

    async def due(self, *args: Any, **kwargs: Any) -> Any:
        batches = super().due(*args, **kwargs)
        try:
            while True:
                started = time.perf_counter()
                try:
                    batch = await anext(batches)
                except StopAsyncIteration:
                    return
                finally:
                    self.spent["query due"] = (self.spent.get("query due", 0.0)
                                               + time.perf_counter() - started)
                yield batch
        finally:
            await batches.aclose()

    def claim(self, *args: Any, **kwargs: Any) -> Any:
        return self._timed("claim (ledger insert)", super().claim(*args, **kwargs))

    def write(self, *args: Any, **kwargs: Any) -> Any:
        return self._timed("advance (bulk CAS)", super().write(*args, **kwargs))


def clock_documents(open_count: int, due_count: int, now: datetime) -> list[dict[str, Any]]:
    """`open_count` resolution clocks under the shipped policy (14 working days); the first
    `due_count` started 30 days ago, so their 50% warning is due and nothing else is."""
    policy = load_policy()
    calendars = Calendars(policy.extra_closed_days)
    zone = "Asia/Makassar"
    fresh = start_clock("BENCH-0000-0", Stage.RESOLUTION, now, agency_id=AGENCY, timezone=zone,
                        kind="complaint", category="health.services", policy=policy,
                        calendar=calendars(zone))
    started = now - timedelta(days=12)
    old = start_clock("BENCH-0000-0", Stage.RESOLUTION, started, agency_id=AGENCY,
                      timezone=zone, kind="complaint", category="health.services",
                      policy=policy, calendar=calendars(zone))
    # Keep only the marks not yet due except the first: exactly one emission per due clock.
    first, *rest = old.pending
    assert first.at <= now < rest[0].at, (first.at, rest[0].at, now)
    documents = []
    for index in range(open_count):
        template = old if index < due_count else fresh
        clock = replace(template, tracking_id=f"B{index:07d}")
        documents.append(CaseClocks(clock.tracking_id, (clock,)).document())
    return documents


async def read_count(settings: Settings, topic: str, expected: int, timeout: float) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers,
                                enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        seen: set[str] = set()
        deadline = time.monotonic() + timeout
        while len(seen) < expected and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500, max_records=10_000)
            for records in batches.values():
                for record in records:
                    seen.add(record.value[:400].decode(errors="replace")
                             .split('"event_id":"', 1)[1].split('"', 1)[0])
        return len(seen)
    finally:
        await consumer.stop()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run(args: argparse.Namespace, infra: LocalInfra) -> None:
    tenant = uuid.uuid4().hex[:8]
    settings = Settings.for_service(
        "sla", **{key.removeprefix("LAPOR_").lower(): value for key, value in infra.env.items()},
        topic_prefix=f"bench{tenant}.", mongodb_database=f"bench_{tenant}",
        mongodb_timeout_ms=10_000)  # a loaded machine: generous socket timeouts (100 s)
    runtime = ServiceRuntime("sla", settings)
    await ensure_topics(settings)
    collection = runtime.db[COLLECTION]

    now = datetime.now(UTC)
    documents = clock_documents(args.open, args.due, now)
    started = time.perf_counter()
    for offset in range(0, len(documents), INSERT_CHUNK):
        await collection.insert_many(documents[offset:offset + INSERT_CHUNK], ordered=False)
    await ensure_indexes(runtime.db, INDEXES)  # as the service does at start
    await ClockStore(runtime.db).establish_hints()  # as an upgraded deployment's first start
    insert_seconds = time.perf_counter() - started
    print(f"inserted {len(documents):,} open clocks ({args.due:,} due) and wrote their due "
          f"hints in {insert_seconds:.1f} s")

    await runtime.broker.start()
    store = TimedStore(runtime.db)
    watcher = SlaWatcher(store=store, publish_all=runtime.publish_all, topics=runtime.topics,
                         policy=load_policy(), agencies=load_agencies(settings.agencies_file),
                         clock=SystemClock(), scan_batch=args.batch)
    publish_seconds, acknowledged, all_published_at = 0.0, 0, 0.0
    real_publish = watcher.publish_all

    async def timed_publish(items: Any) -> None:
        nonlocal publish_seconds, acknowledged, all_published_at
        begun = time.perf_counter()
        await real_publish(items)
        publish_seconds += time.perf_counter() - begun
        acknowledged += len(items)
        if acknowledged >= args.due and not all_published_at:
            all_published_at = time.perf_counter()

    watcher.publish_all = timed_publish
    profiler = cProfile.Profile() if args.profile else None
    published, scans = 0, 0
    assert infra.database is not None and infra.database.process is not None
    database_pid = infra.database.process.pid
    database_cpu, client_cpu = cpu_seconds(database_pid), time.process_time()
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    while published < args.due and time.perf_counter() - started < 120:
        published += await watcher.scan()
        scans += 1
    elapsed = time.perf_counter() - started
    database_cpu = cpu_seconds(database_pid) - database_cpu
    client_cpu = time.process_time() - client_cpu
    if profiler:
        profiler.disable()
    empty_started = time.perf_counter()
    await watcher.scan()
    empty_scan = time.perf_counter() - empty_started

    on_topic = await read_count(settings, runtime.topics.sla, args.due, timeout=30)
    await runtime.broker.stop()
    to_publish = (all_published_at or time.perf_counter()) - started
    print(f"published: all {published:,} events acknowledged by the broker {to_publish:.2f} s "
          f"after the scan began ({published / to_publish:,.0f} events/s, batch {args.batch}); "
          f"target: {args.due:,} within 5 s: {'MET' if to_publish <= 5 else 'MISSED'}")
    print(f"scan complete (every clock advanced past its mark) after {elapsed:.2f} s, "
          f"{scans} scan(s)")
    print("busy time per step (publishing a batch overlaps claiming the next; clocks are "
          "advanced once the round's messages are out):")
    for name, seconds in sorted(store.spent.items(), key=lambda kv: -kv[1]):
        print(f"  {name:<20} {seconds:6.2f} s")
    print(f"  {'publish (acks=all)':<20} {publish_seconds:6.2f} s")
    print(f"CPU used during the scan: database server {database_cpu:.2f} s, "
          f"sla scanner {client_cpu:.2f} s")
    print(f"a scan with nothing due over {args.open:,} open clocks: {empty_scan * 1000:.1f} ms")
    print(f"distinct event ids read back from {runtime.topics.sla}: {on_topic:,}")
    load = os.getloadavg()[0]
    print(f"machine: {os.cpu_count()} CPUs, load average {load:.1f} at the end "
          "(the embedded database is a pure-Python server: figures scale with free CPU)")
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--open", type=int, default=200_000)
    parser.add_argument("--due", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    with LocalInfra() as infra:
        asyncio.run(run(args, infra))


if __name__ == "__main__":
    main()
