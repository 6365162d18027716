"""Benchmark (not a test): the embedded database's CPU for the flood guard's marks, as the
sixteenth and seventeenth rounds kept them (a multikey index on each chunk's contact keys,
and a query of a chunk's contacts per chunk) and as intake keeps them now (an index on
the writer and time, one entry a chunk, and a refresh of the other writers' new chunks).

Starts a bare SecantusDB and stores `--chunks` chunks of `--chunk` complaints' marks (two
contact keys each) both ways, then runs `--queries` of each read: the guard's query of
130 contact keys (65 found) by the multikey index, and a refresh that finds nothing new
(one instance alone). Prints the server's CPU (user + system).

    .venv/bin/python -m benchmarks.contact_marks [--chunk 100] [--chunks 40] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
from datetime import UTC, datetime, timedelta

from pymongo import ASCENDING, DESCENDING, IndexModel

from benchmarks.bare_database import bare_database
from services.intake.adapters.contact_marks import (
    INDEXES,
    RETENTION,
    ContactMarks,
    Mark,
    marks_document,
)
from shared.mongo import ensure_indexes, find_in

T0 = datetime(2026, 12, 1, 8, tzinfo=UTC)
MULTIKEY_INDEXES = [
    IndexModel([("keys", ASCENDING), ("received_at", DESCENDING)], name="recent_by_contact"),
    IndexModel([("received_at", ASCENDING)], name="retention",
               expireAfterSeconds=int(RETENTION.total_seconds())),
]


def key(kind: str, n: int) -> str:
    return hashlib.sha256(f"{kind}{n}".encode()).hexdigest()[:32]


async def run(args: argparse.Namespace) -> None:
    async with bare_database() as (client, cpu):
        total = args.chunk * args.chunks
        print(f"  {args.chunks} chunks of {args.chunk} complaints; the database's CPU")
        for round_ in range(args.rounds):
            db = client[f"guard{round_}"]
            multikey = db["multikey_marks"]
            await multikey.create_indexes(MULTIKEY_INDEXES)
            await ensure_indexes(db, INDEXES)
            marks = ContactMarks(db)
            chunks = [[Mark(f"web:{n}", [key("e", n), key("p", n)], T0 + timedelta(seconds=c))
                       for n in range(round_ * 10**6 + c * args.chunk,
                                      round_ * 10**6 + (c + 1) * args.chunk)]
                      for c in range(args.chunks)]
            before = cpu()
            for chunk in chunks:
                await multikey.insert_many([marks_document(chunk, marks.writer)])
            indexed = cpu()
            for chunk in chunks:
                await marks.add(chunk)
            by_writer = cpu()
            print(f"  round {round_}  per complaint: marks with the multikey index "
                  f"{(indexed - before) / total * 1000:.3f} ms; by writer "
                  f"{(by_writer - indexed) / total * 1000:.3f} ms")
            since = T0 - timedelta(hours=1)
            queries = [[key("e", round_ * 10**6 + q * 7 + i) for i in range(65)]
                       + [key("x", q * 1000 + i) for i in range(65)]
                       for q in range(args.queries)]
            before = cpu()
            for keys in queries:
                [doc async for doc in find_in(multikey, "keys", keys,
                                              {"received_at": {"$gte": since}},
                                              {"_id": 0, "marks": 1})]
            queried = cpu()
            last = T0 + timedelta(seconds=args.chunks)
            for _ in queries:
                assert await marks.received_since(last, others_only=True) == []
            refreshed = cpu()
            print(f"  round {round_}  per read: guard query of 130 keys (65 found) "
                  f"{(queried - before) / args.queries * 1000:.2f} ms; a refresh "
                  f"{(refreshed - queried) / args.queries * 1000:.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--chunk", type=int, default=100)
    parser.add_argument("--chunks", type=int, default=40)
    parser.add_argument("--queries", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=2)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
