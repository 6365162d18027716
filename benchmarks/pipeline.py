"""The whole pipeline under load, measured against the ceilings of the same machine.

    .venv/bin/python -m benchmarks.pipeline [--n 20000] [--rate R | --max] [--profile]
    make bench BENCH_ARGS="--n 5000 --max"

Starts the embedded broker and database (LocalInfra), an SMTP sink in a process of its
own, measures the ceilings (a 3-hop relay of plain aiokafka consumers/producers doing no
work; the database's bulk and single write rates), then starts the four services (real
processes, LAPOR_LOG_LEVEL=WARNING) and publishes N realistic submissions, each with a
reporter e-mail, at a fixed rate or as fast as possible, `submitted_at` set at send time.

Everything is measured from event timestamps, not from when this process sees them:
  intake    submitted_at -> complaint.received occurred_at
  router    received -> complaint.routed (or needs_triage) occurred_at
  notifier  received -> notification.sent (template acknowledgement) occurred_at
  end to end: submitted -> routed, submitted -> acknowledgement sent.
Throughput = complaints / (first submission .. last routed, resp. last acknowledgement).
The report prints the pipeline's figures as ratios of the ceilings, so results compare
across noisy machines; a JSON copy goes to benchmarks/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition
from pydantic_core import from_json

from benchmarks import ceiling, dbtop, event_loop
from benchmarks.load import (
    ADAPTER_LINGER_MS,
    ProgressBar,
    observe,
    producer,
    publish,
    submission_message,
    submissions,
)
from benchmarks.procstat import CpuMeter
from benchmarks.profiling import Profiler, print_summaries
from benchmarks.report import (
    by_window,
    cpu_per_complaint,
    latency_summary,
    load_average,
    machine,
    print_report,
    print_spread,
    ratio,
    stamp,
    steady_rate,
    throughput,
    worst_seconds,
)
from shared.devinfra.launcher import LocalInfra, ServerProcess, free_port
from shared.devinfra.services import SERVICES, ServiceGroup
from shared.kafka import ensure_topics
from shared.settings import Settings
from shared.topics import Topics

RESULTS = Path(__file__).parent / "results"
ACK_TEMPLATE = "acknowledgement"
TARGET_ACK_RATE = 1000.0  # complaints/s end to end to notification, --max, 2 cores
TARGET_ROUTED_P99_MS = 250.0  # submitted -> routed p99 at 200 complaints/s


def _ts(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


class Observed:
    """What came out of the pipeline, keyed by tracking id, with event timestamps."""

    def __init__(self) -> None:
        self.received: dict[str, tuple[float, float]] = {}  # tid -> (submitted, received)
        self.possible_duplicates = 0
        self.rejected: Counter[str] = Counter()
        self.routed: dict[str, float] = {}
        self.triage: dict[str, float] = {}
        self.acks: dict[str, float] = {}
        self.ack_not_sent: dict[str, str] = {}
        self.other_notifications: Counter[str] = Counter()

    def add(self, kind: str, raw: bytes) -> None:
        # pydantic's parser: half of `json.loads`'s time, which was a third of the
        # benchmark process's own CPU (it shares the machine it measures)
        event = from_json(raw, cache_strings="keys")
        if kind == "received":
            tid = event["tracking_id"]
            if tid not in self.received:
                self.received[tid] = (_ts(event["submitted_at"]), _ts(event["occurred_at"]))
                self.possible_duplicates += bool(event.get("possible_duplicate_of"))
        elif kind == "rejected":
            for error in event.get("errors", []):
                self.rejected[error.get("code", "?")] += 1
            self.rejected["_submissions"] += 1
        elif kind == "routed":
            self.routed.setdefault(event["tracking_id"], _ts(event["occurred_at"]))
        elif kind == "triage":
            self.triage.setdefault(event["tracking_id"], _ts(event["occurred_at"]))
        elif kind == "notifications":
            tid, outcome = event["tracking_id"], event["event_type"]
            if event.get("template") == ACK_TEMPLATE:
                if outcome == "notification.sent":
                    self.acks.setdefault(tid, _ts(event["occurred_at"]))
                else:
                    self.ack_not_sent[tid] = outcome
            else:
                self.other_notifications[f"{outcome} {event.get('template')}"] += 1

    def counters(self) -> dict[str, int]:
        return {"received": len(self.received), "rejected": self.rejected["_submissions"],
                "routed": len(self.routed) + len(self.triage), "acked": len(self.acks),
                "other notices": sum(self.other_notifications.values())}

    def done(self, n: int, wait_for: str = "ack") -> bool:
        received = len(self.received)
        return (received + self.rejected["_submissions"] >= n
                and len(self.routed) + len(self.triage) >= received
                and (wait_for == "routed"
                     or len(self.acks) + len(self.ack_not_sent) >= received))


async def collect(bootstrap: str, topics: Topics, observed: Observed) -> None:
    """Read every output topic from the beginning, for as long as the run lasts."""
    kinds = {topics.received: "received", topics.rejected: "rejected",
             topics.routed: "routed", topics.triage: "triage",
             topics.notifications: "notifications"}
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                max_partition_fetch_bytes=4 * 1024 * 1024)
    await consumer.start()
    try:
        tps = [TopicPartition(t, p) for t in kinds
               for p in sorted(consumer.partitions_for_topic(t) or [])]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        while True:
            batches = await observe(consumer, max_records=5000)
            for tp, records in batches.items():
                kind = kinds[tp.topic]
                for record in records:
                    observed.add(kind, record.value)
    finally:
        await consumer.stop()


async def wait_done(observed: Observed, n: int, timeout: float, stall: float,
                    interrupted: asyncio.Event, wait_for: str = "ack",
                    collector: asyncio.Task[None] | None = None) -> bool:
    """True when everything came out; False after the timeout, a stall or Ctrl-C (the
    report then shows what came out so far). If the collector fails, its error is raised:
    the figures would be a stall that did not happen."""
    deadline = time.monotonic() + timeout
    last_counts, last_change = observed.counters(), time.monotonic()
    while not observed.done(n, wait_for):
        await asyncio.sleep(0.1)
        if collector is not None and collector.done():
            collector.result()  # raises the collector's error
            raise RuntimeError("the collector stopped before the run was complete")
        counts = observed.counters()
        if counts != last_counts:
            last_counts, last_change = counts, time.monotonic()
        reason = ("the timeout" if time.monotonic() > deadline
                  else "a stall" if time.monotonic() - last_change > stall
                  else "an interrupt" if interrupted.is_set() else None)
        if reason:
            print(f"\nstopped waiting after {reason}: {counts}", file=sys.stderr)
            return False
    return True


def interruptible() -> asyncio.Event:
    """The first Ctrl-C or SIGTERM ends the wait and reports partial figures; the default
    handlers come back for a second one."""
    loop = asyncio.get_running_loop()
    event = asyncio.Event()

    def stop() -> None:
        event.set()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop)
    return event


def pipeline_figures(observed: Observed, n: int, first: float, last: float,
                     complete: bool) -> dict[str, Any]:
    received = observed.received
    out = {**observed.routed, **observed.triage}  # the router's answer, either way
    acks = observed.acks
    latency = {
        "intake": latency_summary([r - s for s, r in received.values()]),
        "router": latency_summary([t - received[k][1] for k, t in out.items() if k in received]),
        "notifier": latency_summary([t - received[k][1] for k, t in acks.items()
                                     if k in received]),
        "e2e_routed": latency_summary([t - received[k][0] for k, t in out.items()
                                       if k in received]),
        "e2e_acknowledged": latency_summary([t - received[k][0] for k, t in acks.items()
                                             if k in received]),
    }
    routed = [(received[k][0], t - received[k][0]) for k, t in out.items() if k in received]
    intake_hop = [(s, r - s) for s, r in received.values()]
    router_hop = [(received[k][0], t - received[k][1]) for k, t in out.items() if k in received]
    return {
        "complete": complete,
        "counts": {"submitted": n, "received": len(received),
                   "rejected": observed.rejected["_submissions"],
                   "rejected_codes": {k: v for k, v in observed.rejected.items()
                                      if not k.startswith("_")},
                   "possible_duplicates": observed.possible_duplicates,
                   "routed": len(observed.routed), "triage": len(observed.triage),
                   "acknowledged": len(acks), "ack_not_sent": len(observed.ack_not_sent),
                   "other_notifications": sum(observed.other_notifications.values()),
                   "other_notifications_by_kind": dict(observed.other_notifications)},
        "throughput": {
            "submitted": round(throughput(n, first, last), 1),
            "to_routed": round(throughput(len(out), first, max(out.values(), default=first)), 1),
            "to_acknowledged": round(throughput(len(acks), first,
                                                max(acks.values(), default=first)), 1),
            "steady_routed": round(steady_rate(list(out.values())), 1),
            "steady_acknowledged": round(steady_rate(list(acks.values())), 1),
        },
        "latency": latency,
        "worst_seconds_routed": worst_seconds(routed, first),
        "routed_by_window": by_window(routed, first),
        # The same seconds of submission, hop by hop: which stage a slow second comes from,
        # and which stage grows as the run goes on.
        "worst_seconds_by_hop": {
            "intake": worst_seconds(intake_hop, first),
            "router": worst_seconds(router_hop, first),
        },
        "hop_by_window": {
            "intake": by_window(intake_hop, first),
            "router": by_window(router_hop, first),
        },
    }


def ratios(pipeline: dict[str, Any], ceilings: dict[str, Any], max_mode: bool
           ) -> dict[str, float]:
    out: dict[str, float] = {}
    relay = ceilings.get("broker_relay") or {}
    db = ceilings.get("database") or {}
    tp = pipeline["throughput"]
    if max_mode and relay:
        out["throughput to routed / broker relay"] = ratio(tp["to_routed"], relay["throughput"])
        out["throughput to ack sent / broker relay"] = ratio(tp["to_acknowledged"],
                                                             relay["throughput"])
    if max_mode and db:
        best = max(db["insert_many"].values())
        out["throughput to routed / db insert_many"] = ratio(tp["to_routed"], best)
        out["throughput to ack sent / db insert_many"] = ratio(tp["to_acknowledged"], best)
    for key in ("intake", "router", "notifier", "e2e_routed", "e2e_acknowledged"):
        mine, theirs = pipeline["latency"][key], (relay.get("latency") or {}).get(key)
        if theirs:
            for p in ("p50_ms", "p99_ms"):
                out[f"latency {key} {p[:3]} / relay"] = ratio(mine[p], theirs[p])
    return out


def targets(pipeline: dict[str, Any], rate: float | None, cores: int) -> dict[str, str]:
    verdicts: dict[str, str] = {}
    note = "" if cores == 2 else f" (target is for 2 cores; this machine has {cores})"
    if rate is None and pipeline["counts"]["acknowledged"]:
        value = pipeline["throughput"]["to_acknowledged"]
        verdicts[f">= {TARGET_ACK_RATE:,.0f} complaints/s to notification"] = (
            f"{'PASS' if value >= TARGET_ACK_RATE else 'FAIL'} ({value:,.0f}/s){note}")
    elif rate is not None and abs(rate - 200) < 1e-9:
        p99 = pipeline["latency"]["e2e_routed"]["p99_ms"]
        verdicts[f"p99 submitted->routed <= {TARGET_ROUTED_P99_MS:.0f} ms at 200/s"] = (
            f"{'PASS' if p99 <= TARGET_ROUTED_P99_MS else 'FAIL'} ({p99:,.1f} ms){note}")
    return verdicts


async def measure_pipeline(args: argparse.Namespace, env: dict[str, str], topics: Topics,
                           sessions: dict[str, int], group: ServiceGroup, run_stamp: str
                           ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    bootstrap = env["LAPOR_KAFKA_BOOTSTRAP_SERVERS"]
    items = submissions(args.n, args.seed, duplicate_share=args.duplicate_share)
    observed = Observed()
    collector = asyncio.create_task(collect(bootstrap, topics, observed))
    kafka = producer(bootstrap, args.adapter_linger_ms)
    await kafka.start()
    meter = CpuMeter(sessions)
    profiler = None
    if args.profile:
        # The services, and the database server (SecantusDB is Python too).
        profiler = Profiler({**{name: group[name].process.pid  # type: ignore[union-attr]
                                for name in group.processes},
                             "secantusdb": sessions["secantusdb"]},
                            RESULTS / f"{run_stamp}-profile", rate=args.profile_rate)
        if not profiler.start():
            profiler = None
    sent = [0]
    top_before = await dbtop.snapshot(env["LAPOR_MONGODB_URI"])
    if args.db_profile:
        await dbtop.set_profiling(env["LAPOR_MONGODB_URI"], env["LAPOR_MONGODB_DATABASE"], 2)
    started = time.monotonic()
    meter.start()
    try:
        with ProgressBar("pipeline", args.n,
                         lambda: {"sent": sent[0], **observed.counters()}, "acked"):
            first, last = await publish(kafka, topics.submitted, args.n,
                                        submission_message(items), rate=args.rate,
                                        on_sent=lambda k: sent.__setitem__(0, k))
            complete = await wait_done(observed, args.n, args.timeout, args.stall,
                                       interruptible(), args.wait_for, collector)
    finally:
        meter.stop()
        wall = time.monotonic() - started
        if profiler is not None:
            profiler.stop()
        collector.cancel()
        await asyncio.gather(collector, return_exceptions=True)
        await kafka.stop()
    profiles = profiler.summaries() if profiler is not None else {}
    figures = pipeline_figures(observed, args.n, first, last, complete)
    if args.db_profile:
        await dbtop.set_profiling(env["LAPOR_MONGODB_URI"], env["LAPOR_MONGODB_DATABASE"], 0)
        figures["database_statements"] = await dbtop.profile_summary(
            env["LAPOR_MONGODB_URI"], env["LAPOR_MONGODB_DATABASE"])
    figures["database_time"] = dbtop.difference(
        top_before, await dbtop.snapshot(env["LAPOR_MONGODB_URI"]),
        env["LAPOR_MONGODB_DATABASE"], args.n)
    return figures, meter.result(wall), profiles


async def run(args: argparse.Namespace) -> dict[str, Any]:
    run_stamp = stamp()
    logdir = Path(tempfile.mkdtemp(prefix="lapor-bench-"))
    mode = f"rate {args.rate:g}/s" if args.rate else "max"
    result: dict[str, Any] = {
        "run": {"started_at": datetime.now().isoformat(timespec="seconds"), "n": args.n,
                "mode": mode, "rate": args.rate, "partitions": args.partitions,
                "seed": args.seed, "duplicate_share": args.duplicate_share,
                "wait_for": args.wait_for, "services": args.services,
                "notify_concurrency": args.notify_concurrency, "sink": args.sink,
                "smtp_messages_per_connection": args.smtp_messages_per_connection,
                "adapter_linger_ms": args.adapter_linger_ms,
                "profiled": args.profile, "load_start": load_average(),
                "command": "python -m benchmarks.pipeline " + " ".join(sys.argv[1:]),
                "logs": str(logdir)},
        "machine": machine(),
    }
    with LocalInfra() as infra:
        smtp_port = free_port()
        sink = ([sys.executable, "-m", "benchmarks.smtp_sink", "--port", str(smtp_port)]
                if args.sink == "minimal" else
                [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{smtp_port}",
                 "-c", "benchmarks.smtp_sink.PipeliningSink"])
        smtp = ServerProcess("smtp-sink", sink, smtp_port, logdir / "smtp-sink.log")
        smtp.start()
        try:
            bootstrap = infra.env["LAPOR_KAFKA_BOOTSTRAP_SERVERS"]
            ceilings: dict[str, Any] = {}
            if not args.skip_ceiling:
                print("measuring the ceilings (broker relay, database writes) ...",
                      file=sys.stderr, flush=True)
                ceilings["broker_relay"] = await ceiling.broker_relay(
                    bootstrap, args.partitions, args.ceiling_n or args.n, args.rate,
                    timeout=args.timeout, adapter_linger_ms=args.adapter_linger_ms)
                # On a database server of its own, so the pipeline's server starts empty
                # (the ceiling writes and drops tens of thousands of documents). Whether
                # that changes the pipeline's latency is not established
                # (docs/benchmark-history.md, "Seventh round").
                with LocalInfra() as scratch:
                    ceilings["database"] = await ceiling.database(
                        scratch.env["LAPOR_MONGODB_URI"], min(max(args.n, 10_000), 20_000))
            result["ceiling"] = ceilings

            tenant = uuid.uuid4().hex[:8]
            env = {**infra.env, "LAPOR_TOPIC_PREFIX": f"bench{tenant}.",
                   "LAPOR_MONGODB_DATABASE": f"bench_{tenant}",
                   "LAPOR_KAFKA_PARTITIONS": str(args.partitions),
                   "LAPOR_LOG_LEVEL": args.log_level,
                   "LAPOR_SMTP_HOST": "127.0.0.1", "LAPOR_SMTP_PORT": str(smtp_port),
                   "LAPOR_NOTIFY_CONCURRENCY": str(args.notify_concurrency),
                   "LAPOR_SMTP_MESSAGES_PER_CONNECTION": str(args.smtp_messages_per_connection)}
            topics = Topics(env["LAPOR_TOPIC_PREFIX"])
            await ensure_topics(Settings.for_service(
                "bench", kafka_bootstrap_servers=bootstrap, topic_prefix=topics.prefix,
                kafka_partitions=args.partitions))
            print("starting the four services ...", file=sys.stderr, flush=True)
            group = ServiceGroup(env, logdir, names=tuple(args.services))
            try:
                group.start()
                sessions = {name: p.process.pid for name, p in group.processes.items()  # type: ignore[union-attr]
                            } | {"tansu": infra.broker.process.pid,  # type: ignore[union-attr]
                                 "secantusdb": infra.database.process.pid,  # type: ignore[union-attr]
                                 "smtp-sink": smtp.process.pid}  # type: ignore[union-attr]
                pipeline, cpu, profiles = await measure_pipeline(
                    args, env, topics, sessions, group, run_stamp)
            finally:
                group.stop()
        finally:
            smtp.stop()
    result["run"]["load_end"] = load_average()
    result["pipeline"] = pipeline
    if cpu:
        cpu["ms_per_complaint"] = cpu_per_complaint(cpu["processes"], args.n)
    result["cpu"] = cpu
    result["ratios"] = ratios(pipeline, ceilings, args.rate is None)
    result["targets"] = targets(pipeline, args.rate, result["machine"]["cores"])
    if profiles:
        result["profiles"] = profiles
    RESULTS.mkdir(exist_ok=True)
    pace = f"rate{args.rate:g}" if args.rate else "max"
    path = RESULTS / f"{run_stamp}-n{args.n}-{pace}.json"
    path.write_text(json.dumps(result, indent=2, default=str))
    result["run"]["json"] = str(path)
    return result


EMBEDDED_BROKER_PARTITIONS = 1
"""What the embedded broker should be run with. Tansu's in-memory store keeps every
produced batch as an object of its own and, on every fetch that finds data in a partition,
lists all of that partition's objects: 0.6 ms per 1,000 stored batches, measured, so a
broker slows down as a run goes on. A service's batch spread over six partitions is stored
as up to six batches, on one partition as one; with one instance per service, as here,
more partitions buy no parallelism. In 100 s runs at 200/s one partition roughly halved
the relay's and the pipeline's e2e routed p99 (docs/benchmark-history.md, "Seventh round")."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.pipeline",
        description="LAPOR end-to-end benchmark against the machine's own ceilings")
    parser.add_argument("--n", type=int, default=20_000, help="submissions (default 20000)")
    pace = parser.add_mutually_exclusive_group()
    pace.add_argument("--rate", type=float, default=None, help="submissions per second")
    pace.add_argument("--max", action="store_true", help="as fast as possible (default)")
    parser.add_argument(
        "--partitions", type=int, default=EMBEDDED_BROKER_PARTITIONS,
        help=f"partitions per topic, for the pipeline and the relay alike (default "
             f"{EMBEDDED_BROKER_PARTITIONS}: see EMBEDDED_BROKER_PARTITIONS; the services' "
             f"own default, for Apache Kafka, is {Settings().kafka_partitions})")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--duplicate-share", type=float, default=0.1,
                        help="share of submissions with a verbatim sample text (default 0.1)")
    parser.add_argument("--ceiling-n", type=int, default=None,
                        help="messages through the broker relay (default: --n)")
    parser.add_argument("--skip-ceiling", action="store_true")
    parser.add_argument("--log-level", default="WARNING", help="services' LAPOR_LOG_LEVEL")
    parser.add_argument("--timeout", type=float, default=None,
                        help="seconds to wait for the pipeline (default 120 + n/20)")
    parser.add_argument("--stall", type=float, default=60.0,
                        help="give up after this many seconds without progress")
    parser.add_argument("--wait-for", choices=("ack", "routed"), default="ack",
                        help="stop when every complaint is acknowledged (default) or routed")
    parser.add_argument("--services", default=",".join(SERVICES),
                        help="comma-separated subset to start, to isolate a stage "
                             "(without notifier, --wait-for routed is implied)")
    parser.add_argument("--profile", action="store_true",
                        help="py-spy every service during the load (needs py-spy)")
    parser.add_argument("--profile-rate", type=int, default=100, help="py-spy samples/s")
    parser.add_argument("--notify-concurrency", type=int, default=200,
                        help="notifier sends in flight per channel (default 200: the sink "
                             "takes any number of connections; the service's default, 16, "
                             "suits a real relay's per-client connection limit)")
    parser.add_argument("--smtp-messages-per-connection", type=int, default=50,
                        help="LAPOR_SMTP_MESSAGES_PER_CONNECTION for the notifier (default "
                             "50 since the sixteenth round, as a deployment whose relay "
                             "offers CHUNKING may set it: 200 sends in flight over four "
                             "connections; the service's default is 1)")
    parser.add_argument("--sink", choices=("aiosmtpd", "minimal"), default="minimal",
                        help="the SMTP server standing in for the mail relay, which in a "
                             "deployment runs elsewhere: benchmarks.smtp_sink (default "
                             "since the eleventh round: 0.08 ms of CPU per complaint) or "
                             "aiosmtpd (0.6 ms; the default of the earlier rounds)")
    parser.add_argument("--adapter-linger-ms", type=int, default=ADAPTER_LINGER_MS,
                        help=f"how long the load generator (and the relay's) holds a "
                             f"submission to batch it (default {ADAPTER_LINGER_MS}, as "
                             f"independent channel adapters publish; the wait counts in "
                             f"the latency)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="run the whole benchmark this many times, a pause apart, and "
                             "print the spread of the key figures (one run's tail latency "
                             "moves with the machine)")
    parser.add_argument("--pause", type=float, default=25.0,
                        help="seconds between repeated runs (default 25)")
    parser.add_argument("--db-profile", action="store_true",
                        help="count the database statements by collection and filter form "
                             "(the database profiler: slows the run)")
    args = parser.parse_args(argv)
    if args.rate is not None and args.rate <= 0:
        parser.error("--rate must be positive")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    args.services = [name.strip() for name in args.services.split(",") if name.strip()]
    unknown = set(args.services) - set(SERVICES)
    if unknown or not {"intake", "router"} <= set(args.services):
        parser.error(f"--services: intake and router are needed; unknown: {sorted(unknown)}")
    if "notifier" not in args.services:
        args.wait_for = "routed"
    if args.timeout is None:
        args.timeout = 120 + args.n / 20
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    results = []
    for index in range(args.repeat):
        if index:
            time.sleep(args.pause)  # let the previous run's processes and load settle
        results.append(event_loop.run(run(args)))
        report_one(results[-1])
    if len(results) > 1:
        print_spread(results)
    return 0 if all(r["pipeline"]["complete"] for r in results) else 1


def report_one(result: dict[str, Any]) -> None:
    print_report(result)
    dbtop.print_rows(result["pipeline"]["database_time"])
    for row in result["pipeline"].get("database_statements", []):
        print(f"    {row['count']:>7,}  {row['collection']:<20} {row['op']:<8} {row['filter']}")
    if result.get("profiles"):
        print_summaries(result["profiles"])
    print(f"  results: {result['run']['json']}; service logs: {result['run']['logs']}")


if __name__ == "__main__":
    sys.exit(main())
