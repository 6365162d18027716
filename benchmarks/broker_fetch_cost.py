"""Benchmark (not a test): what the embedded broker's CPU depends on while a topic is fed
at a steady rate and read as it comes, by how many batches the topic already stores.

Starts a bare Tansu for each case, stores `--stored` one-record batches in a topic (as
independent channel adapters do at 200/s), then for `--seconds` feeds it one more record
every 1/`--rate` s while `consumers` groups read it, each in one of three ways:

- `at once`: aiokafka's defaults here (a fetch answered as soon as anything is new, held
  at most `fetch_max_wait_ms` = 50 ms when nothing is), as the router and the notifier;
- `held`: the broker holds each fetch until a megabyte is ready or `--window-ms` passed
  (`fetch_min_bytes` + `fetch_max_wait_ms`), as the SLA watcher's batch window;
- `paced`: the client takes what was fetched once per `--window-ms`, its partitions
  paused in between, so the broker sees one fetch per window.

Prints the broker's CPU (user + system, % of one core) per case. The seventh round found
that each fetch lists every stored object of each partition it finds new data in
(docs/benchmark-history.md); these cases measure how that adds up.

    .venv/bin/python -m benchmarks.broker_fetch_cost [--stored 10000] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from benchmarks.procstat import session_cpu_seconds
from shared.devinfra.launcher import LocalInfra

TOPIC = "fed"
RECORD = b"x" * 200


@dataclass(frozen=True)
class Case:
    stored: int
    partitions: int
    consumers: int
    mode: str  # "at once", "held" or "paced"

    def label(self) -> str:
        readers = "no reader" if not self.consumers else \
            f"{self.consumers} reader{'s' if self.consumers > 1 else ''}, {self.mode}"
        return f"{self.stored:>6,} stored, {self.partitions} partition(s), {readers}"


async def _store(bootstrap: str, case: Case) -> float:
    """One-record batches, one after another (each acknowledged before the next)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
    await producer.start()
    started = time.perf_counter()
    try:
        for i in range(case.stored):
            await producer.send_and_wait(TOPIC, RECORD, partition=i % case.partitions)
    finally:
        await producer.stop()
    return time.perf_counter() - started


async def _read(consumer: AIOKafkaConsumer, mode: str, window_s: float) -> None:
    while True:
        await consumer.getmany(timeout_ms=1000)
        if mode == "paced":
            parts = consumer.assignment()
            consumer.pause(*parts)
            await asyncio.sleep(window_s)
            consumer.resume(*parts)


async def _feed(bootstrap: str, rate: float, partitions: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
    await producer.start()
    try:
        i = 0
        while True:
            await producer.send(TOPIC, RECORD, partition=i % partitions)
            i += 1
            await asyncio.sleep(1 / rate)
    finally:
        await producer.stop()


async def run_case(case: Case, *, seconds: float, rate: float, window_ms: int
                   ) -> tuple[float, float]:
    """(seconds taken to store the batches, the broker's CPU in % of a core while fed)."""
    with LocalInfra() as infra:
        assert infra.broker is not None and infra.broker.process is not None
        bootstrap = infra.env["LAPOR_KAFKA_BOOTSTRAP_SERVERS"]
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(TOPIC, case.partitions, 1)])
        finally:
            await admin.close()
        stored_in = await _store(bootstrap, case)
        held = case.mode == "held"
        consumers = []
        for k in range(case.consumers):
            consumer = AIOKafkaConsumer(
                bootstrap_servers=bootstrap, group_id=f"reader-{k}",
                auto_offset_reset="latest",
                fetch_max_wait_ms=window_ms if held else 50,
                fetch_min_bytes=1 << 20 if held else 1)
            await consumer.start()
            consumer.assign([TopicPartition(TOPIC, p) for p in range(case.partitions)])
            await consumer.seek_to_end()
            consumers.append(consumer)
        tasks = [asyncio.create_task(_read(c, case.mode, window_ms / 1000)) for c in consumers]
        tasks.append(asyncio.create_task(_feed(bootstrap, rate, case.partitions)))
        try:
            await asyncio.sleep(1)  # the readers' first fetches
            cpu_before, wall_before = session_cpu_seconds(infra.broker.process.pid), \
                time.perf_counter()
            await asyncio.sleep(seconds)
            cpu = session_cpu_seconds(infra.broker.process.pid) - cpu_before
            wall = time.perf_counter() - wall_before
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for consumer in consumers:
                await consumer.stop()
        return stored_in, 100 * cpu / wall


def cases(stored: int) -> list[Case]:
    few = 100
    return [
        Case(stored, 1, 0, "at once"),
        Case(few, 1, 1, "at once"),
        Case(stored, 1, 1, "at once"),
        Case(stored, 1, 4, "at once"),
        Case(stored, 1, 1, "held"),
        Case(stored, 1, 1, "paced"),
        Case(stored, 6, 1, "at once"),
    ]


async def main(args: argparse.Namespace) -> None:
    print(f"the broker's CPU while a topic is fed {args.rate:g} records/s, one record a "
          f"batch, for {args.seconds:g} s (window {args.window_ms} ms for held and paced)")
    for case in cases(args.stored):
        stored_in, cpu = await run_case(case, seconds=args.seconds, rate=args.rate,
                                        window_ms=args.window_ms)
        print(f"  {case.label():58s} {cpu:6.1f} % of a core   "
              f"(stored in {stored_in:.1f} s)", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stored", type=int, default=10_000,
                        help="one-record batches stored before the feed (default 10,000)")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=200.0, help="records fed a second")
    parser.add_argument("--window-ms", type=int, default=1000)
    asyncio.run(main(parser.parse_args()))
