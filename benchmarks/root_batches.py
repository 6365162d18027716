"""Benchmark (not a test): the embedded database's CPU per duplicate root, stored one
document per root (as before the batches) or in batches (`RootStore`), written and read.

Starts a bare SecantusDB, writes `--seconds` seconds' worth of roots (`--rate` a second,
one statement a second, as `RootWriter` does) each way, into collections with the roots'
TTL index, then reads them all back once each way (a refresh reads each root a few times).
Prints the server's CPU (user + system) per root.

    .venv/bin/python -m benchmarks.root_batches [--rate 800] [--seconds 10] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import Binary
from pymongo.asynchronous.database import AsyncDatabase

from benchmarks.bare_database import bare_database
from benchmarks.load import submissions
from services.intake.adapters.duplicate_roots import (
    COLLECTION,
    INDEXES,
    LEGACY_COLLECTION,
    Bucket,
    RootStore,
    Stored,
)
from services.intake.domain.duplicates import Root, TextSketch
from shared.mongo import ensure_indexes

WINDOW = timedelta(days=7)
T0 = datetime(2026, 12, 1, tzinfo=UTC)


class SingleRoots:
    """The earlier versions' layout: one document per root."""

    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.collection = db[LEGACY_COLLECTION]

    async def add(self, roots: Sequence[Stored], window: timedelta) -> None:
        await self.collection.insert_many([
            {"_id": root.tracking_id, "category": bucket[0], "region_code": bucket[1],
             "received_at": at, "expires_at": at + window,
             "sketch": Binary(root.sketch.to_bytes())} for bucket, at, root in roots],
            ordered=False)

    async def expiring_after(self, moment: datetime) -> tuple[list[Any], None]:
        return [doc async for doc in self.collection.find({"expires_at": {"$gt": moment}})], None


async def measure(db: AsyncDatabase[dict[str, Any]], store: RootStore | SingleRoots,
                  seconds: list[list[Stored]], cpu: Callable[[], float]) -> tuple[float, float]:
    await ensure_indexes(db, {store.collection.name: INDEXES[COLLECTION]})
    before = cpu()
    for roots in seconds:
        await store.add(roots, WINDOW)
    written = cpu()
    found, _ = await store.expiring_after(T0)
    read = cpu()
    total = sum(len(roots) for roots in seconds)
    assert len(found) == total, f"{store.collection.name}: read {len(found)} of {total}"
    return (written - before) / total * 1000, (read - written) / total * 1000


async def run(args: argparse.Namespace) -> None:
    texts = [(s["title"], s["body"]) for s in submissions(args.rate, seed=5)]
    sketches = [TextSketch.of(title, body) for title, body in texts]
    bucket: Bucket = ("infrastructure.roads", "64.08.04")
    async with bare_database() as (client, cpu):
        print(f"  {args.rate} roots a second for {args.seconds} s, one statement a second; "
              f"the database's CPU per root (ms)")
        for round_ in range(args.rounds):
            seconds: list[list[Stored]] = [[(bucket, T0 + timedelta(seconds=s), Root(
                f"LPR-{round_}-{s}-{i}", sketches[i])) for i in range(args.rate)]
                for s in range(args.seconds)]
            # A database each: the batches' store also reads the single roots' collection.
            single, batched = client[f"single{round_}"], client[f"batched{round_}"]
            stores: dict[str, tuple[AsyncDatabase[dict[str, Any]], RootStore | SingleRoots]] = {
                "one document per root": (single, SingleRoots(single)),
                "batches": (batched, RootStore(batched))}
            for name, (db, store) in stores.items():
                write, read = await measure(db, store, seconds, cpu)
                print(f"  round {round_}  {name:22s} write {write:6.3f}   read {read:6.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rate", type=int, default=800, help="roots written a second")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
