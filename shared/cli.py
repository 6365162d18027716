"""`lapor`: the operator's command line.

    lapor topics create                      create every topic (and DLQ) if missing
    lapor submit --channel web --body ...    publish a submission, as a channel adapter would
    lapor track TRACKING_ID                  ask the router's public tracking endpoint
    lapor dlq list [TOPIC]                   dead letters per DLQ topic, with their errors
    lapor dlq show DLQ_TOPIC PARTITION OFFSET   one dead letter: headers and bytes
    lapor dlq replay DLQ_TOPIC [--all | --partition P --offset O]
                                             publish dead letters back to their source topic

Connection settings come from the same `LAPOR_*` environment as the services.
`dlq replay --all` remembers what it replayed (consumer group `lapor-dlq-replay`), so
running it twice does not replay twice.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import ConsumerRecord, TopicPartition

from shared.kafka import client_kwargs, ensure_topics
from shared.settings import Settings
from shared.topics import CONSUMED, Topics, dlq

REPLAY_GROUP = "lapor-dlq-replay"


def _headers(record: ConsumerRecord[Any, Any]) -> dict[str, str]:
    return {k: v.decode("utf-8", "replace") for k, v in (record.headers or ())}


async def _read_all(settings: Settings, topic: str, group: str | None = None,
                    idle_ms: int = 1500) -> tuple[AIOKafkaConsumer, list[Any]]:
    consumer = AIOKafkaConsumer(**client_kwargs(settings), group_id=group,
                                enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    partitions = consumer.partitions_for_topic(topic) or set()
    tps = [TopicPartition(topic, p) for p in sorted(partitions)]
    if not tps:
        return consumer, []
    consumer.assign(tps)
    if group is None:
        await consumer.seek_to_beginning(*tps)
    records: list[Any] = []
    while True:  # read until the topic stays quiet
        batches = await consumer.getmany(timeout_ms=idle_ms)
        if not batches:
            break
        for batch in batches.values():
            records.extend(batch)
    return consumer, records


async def dlq_list(settings: Settings, topic: str | None) -> int:
    names = Topics(settings.topic_prefix)
    targets = [topic] if topic else [names.name(dlq(t)) for t in CONSUMED]
    for name in targets:
        consumer, records = await _read_all(settings, name)
        await consumer.stop()
        print(f"{name}: {len(records)} dead letter(s)")
        for record in records:
            h = _headers(record)
            print(f"  p{record.partition}@{record.offset}  {h.get('lapor-error-type', '?'):<18}"
                  f" from {h.get('lapor-source-topic')}[{h.get('lapor-source-partition')}]@"
                  f"{h.get('lapor-source-offset')} by {h.get('lapor-service')}: "
                  f"{h.get('lapor-error', '')[:100]}")
    return 0


async def dlq_show(settings: Settings, topic: str, partition: int, offset: int) -> int:
    consumer, records = await _read_all(settings, topic)
    await consumer.stop()
    for record in records:
        if record.partition == partition and record.offset == offset:
            print(json.dumps({"topic": topic, "partition": partition, "offset": offset,
                              "key": record.key.decode("utf-8", "replace") if record.key
                              else None, "headers": _headers(record)}, indent=2))
            print((record.value or b"").decode("utf-8", "replace"))
            return 0
    print(f"no dead letter at {topic}[{partition}]@{offset}", file=sys.stderr)
    return 1


async def dlq_replay(settings: Settings, topic: str, everything: bool,
                     partition: int | None, offset: int | None) -> int:
    consumer, records = await _read_all(settings, topic, REPLAY_GROUP if everything else None)
    if not everything:
        records = [r for r in records if r.partition == partition and r.offset == offset]
    producer = AIOKafkaProducer(**client_kwargs(settings), acks="all")
    await producer.start()
    try:
        for record in records:
            headers = _headers(record)
            source = headers.get("lapor-source-topic") or topic.removesuffix(".dlq")
            kept = [(k, v.encode()) for k, v in headers.items() if not k.startswith("lapor-")]
            kept.append(("lapor-replayed-from", f"{topic}/{record.partition}/{record.offset}"
                         .encode()))
            await producer.send_and_wait(source, record.value, key=record.key, headers=kept)
            print(f"replayed {topic}[{record.partition}]@{record.offset} -> {source}")
        if everything and records:
            await consumer.commit()
    finally:
        await producer.stop()
        await consumer.stop()
    if not records:
        print("nothing to replay")
    return 0


def submission_from(args: argparse.Namespace) -> dict[str, Any]:
    if args.json:
        payload: dict[str, Any] = json.loads(Path(args.json).read_text(encoding="utf-8"))
    else:
        reporter = {k: v for k, v in {"name": args.name, "email": args.email,
                                      "phone": args.phone, "language": args.language,
                                      "anonymous": args.anonymous}.items() if v is not None}
        payload = {"channel": args.channel, "channel_ref": args.ref or f"cli-{uuid.uuid4()}",
                   "submitted_at": datetime.now(UTC).isoformat(), "kind": args.kind,
                   "title": args.title or "", "body": args.body, "category": args.category,
                   "region_code": args.region, "reporter": reporter}
    return payload


async def submit(settings: Settings, payload: dict[str, Any]) -> int:
    key = f"{payload.get('channel')}:{payload.get('channel_ref')}"
    producer = AIOKafkaProducer(**client_kwargs(settings), acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(Topics(settings.topic_prefix).submitted,
                                     json.dumps(payload).encode(), key=key.encode(),
                                     headers=[("content-type", b"application/json")])
    finally:
        await producer.stop()
    print(f"submitted {key}")
    return 0


def track(url: str, tracking_id: str) -> int:
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/v1/complaints/{tracking_id}",  # noqa: S310
                                    timeout=5) as response:
            body = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        print(f"{tracking_id}: {'unknown tracking id' if exc.code == 404 else exc}",
              file=sys.stderr)
        return 1
    print(f"{body['tracking_id']}  {body['status']}  {body.get('agency_name') or '-'}")
    for entry in body.get("history", []):
        print(f"  {entry['at']}  {entry['status']:<16} {entry.get('message') or ''}")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lapor", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    topics = sub.add_parser("topics").add_subparsers(dest="action", required=True)
    topics.add_parser("create")
    s = sub.add_parser("submit")
    s.add_argument("--json", help="a file with the whole submission")
    s.add_argument("--channel", default="call_center")
    s.add_argument("--ref")
    s.add_argument("--kind", default="complaint")
    s.add_argument("--title")
    s.add_argument("--body")
    s.add_argument("--category")
    s.add_argument("--region")
    s.add_argument("--name")
    s.add_argument("--email")
    s.add_argument("--phone")
    s.add_argument("--language", default="id")
    s.add_argument("--anonymous", action="store_true", default=None)
    t = sub.add_parser("track")
    t.add_argument("tracking_id")
    t.add_argument("--url", default="http://127.0.0.1:9102", help="the router's HTTP address")
    d = sub.add_parser("dlq").add_subparsers(dest="action", required=True)
    d_list = d.add_parser("list")
    d_list.add_argument("topic", nargs="?")
    d_show = d.add_parser("show")
    d_show.add_argument("topic")
    d_show.add_argument("partition", type=int)
    d_show.add_argument("offset", type=int)
    d_replay = d.add_parser("replay")
    d_replay.add_argument("topic")
    d_replay.add_argument("--all", action="store_true", dest="everything")
    d_replay.add_argument("--partition", type=int)
    d_replay.add_argument("--offset", type=int)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    settings = Settings.for_service("cli")
    if args.command == "topics":
        created = asyncio.run(ensure_topics(settings))
        print(f"created {len(created)} topic(s): {', '.join(created) or 'none missing'}")
        return 0
    if args.command == "submit":
        if not args.json and not args.body:
            print("submit needs --body or --json", file=sys.stderr)
            return 2
        return asyncio.run(submit(settings, submission_from(args)))
    if args.command == "track":
        return track(args.url, args.tracking_id)
    if args.action == "list":
        return asyncio.run(dlq_list(settings, args.topic))
    if args.action == "show":
        return asyncio.run(dlq_show(settings, args.topic, args.partition, args.offset))
    if not args.everything and (args.partition is None or args.offset is None):
        print("dlq replay needs --all or --partition and --offset", file=sys.stderr)
        return 2
    return asyncio.run(dlq_replay(settings, args.topic, args.everything, args.partition,
                                  args.offset))


if __name__ == "__main__":
    sys.exit(main())
