"""Benchmark (not a test): the embedded database's CPU per complaint for the flood guard's
counting, as earlier versions did it (the complaints' multikey index on `contact_keys`)
and with marks (no index on the complaints; a chunk's marks in one `contact_marks`
document), and for the guard's query each way.

Starts a bare SecantusDB and inserts `--chunks` chunks of `--chunk` complaint-like
documents (1.4 KB, two contact keys each) both ways, then runs `--queries` guard queries
(130 contact keys: none found, and 65 found) each way. Prints the server's CPU (user + system).

    .venv/bin/python -m benchmarks.contact_marks [--chunk 100] [--chunks 40] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel

from benchmarks.bare_database import bare_database
from services.intake.adapters.contact_marks import INDEXES, ContactMarks, Mark
from shared.mongo import ensure_indexes, find_in

T0 = datetime(2026, 12, 1, 8, tzinfo=UTC)
LEGACY_INDEX = IndexModel([("contact_keys", ASCENDING), ("received_at", DESCENDING)],
                          name="recent_by_contact")


def key(kind: str, n: int) -> str:
    return hashlib.sha256(f"{kind}{n}".encode()).hexdigest()[:32]


def complaint(n: int, at: datetime) -> dict[str, Any]:
    return {"_id": f"LPR-{n:010d}", "submission_key": f"web:{n}", "received_at": at,
            "contact_keys": [key("e", n), key("p", n)],
            "event": {"title": "Jalan rusak", "body": "x" * 900, "category": "roads",
                      "region_code": "64.08.04", "numbers": list(range(10))}}


async def run(args: argparse.Namespace) -> None:
    async with bare_database() as (client, cpu):
        total = args.chunk * args.chunks
        print(f"  {args.chunks} chunks of {args.chunk} complaints; the database's CPU")
        for round_ in range(args.rounds):
            db = client[f"guard{round_}"]
            indexed, plain = db["indexed"], db["plain"]
            await indexed.create_indexes([LEGACY_INDEX])
            await ensure_indexes(db, INDEXES)
            marks = ContactMarks(db)
            chunks = [[(round_ * 10**6 + c * args.chunk + i, T0 + timedelta(seconds=c))
                       for i in range(args.chunk)] for c in range(args.chunks)]
            before = cpu()
            for chunk in chunks:
                await indexed.insert_many([complaint(n, at) for n, at in chunk], ordered=False)
            legacy = cpu()
            for chunk in chunks:
                await plain.insert_many([complaint(n, at) for n, at in chunk], ordered=False)
            unindexed = cpu()
            for chunk in chunks:
                await marks.add([Mark(f"web:{n}", [key("e", n), key("p", n)], at)
                                 for n, at in chunk])
            marked = cpu()
            print(f"  round {round_}  per complaint: indexed complaint "
                  f"{(legacy - before) / total * 1000:.3f} ms; complaint without index "
                  f"{(unindexed - legacy) / total * 1000:.3f} + its marks "
                  f"{(marked - unindexed) / total * 1000:.3f} ms")
            since = T0 - timedelta(hours=1)
            kinds = {
                "none found": [[key("x", q * 1000 + i) for i in range(130)]
                               for q in range(args.queries)],
                "65 found": [[key("e", round_ * 10**6 + q * 7 + i) for i in range(65)]
                             + [key("x", q * 1000 + i) for i in range(65)]
                             for q in range(args.queries)],
            }
            for kind, queries in kinds.items():
                before = cpu()
                found_legacy = 0
                for keys in queries:
                    found_legacy += len([d async for d in find_in(
                        indexed, "contact_keys", keys, {"received_at": {"$gte": since}},
                        {"_id": 0, "submission_key": 1, "contact_keys": 1})])
                legacy = cpu()
                found_marks = 0
                for keys in queries:
                    found_marks += len(await marks.recent(keys, since))
                marked = cpu()
                assert found_legacy == found_marks, (found_legacy, found_marks)
                print(f"  round {round_}  per guard query of 130 keys, {kind}: index "
                      f"{(legacy - before) / args.queries * 1000:.2f} ms; marks "
                      f"{(marked - legacy) / args.queries * 1000:.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--chunk", type=int, default=100)
    parser.add_argument("--chunks", type=int, default=40)
    parser.add_argument("--queries", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=2)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
