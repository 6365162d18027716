"""Benchmark (not a test): intake's CPU per complaint for near-duplicate detection, on the
load generator's submissions: the text's sketch (`TextSketch.of`) and the search among a
bucket's roots (`flag_possible_duplicates`), compared with every root and through the
roots' index (`RootIndex`, as intake holds them).

    .venv/bin/python -m benchmarks.duplicate_sketch [--n 3000] [--roots 30]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Hashable, Sequence
from datetime import UTC, datetime

from benchmarks.load import submissions
from services.intake.domain.duplicates import (
    Root,
    SearchableRoots,
    TextSketch,
    flag_possible_duplicates,
)
from services.intake.domain.root_index import BucketRoots, RootIndex


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--roots", type=int, default=30, help="stored roots in each bucket")
    args = parser.parse_args()
    items = submissions(args.n, seed=3)
    texts = [(s["title"], s["body"]) for s in items]
    for title, body in texts:  # warm the shingle hash cache, as a running service has it
        TextSketch.of(title, body)
    started = time.perf_counter()
    sketches = [TextSketch.of(title, body) for title, body in texts]
    sketch_us = (time.perf_counter() - started) / len(texts) * 1e6
    stored = [Root(f"ROOT-{i}", TextSketch.of(*texts[-1 - i])) for i in range(args.roots)]
    index = RootIndex()
    for root in stored:
        index.add(root, datetime(2026, 12, 1, tzinfo=UTC))
    figures = []
    searches: list[dict[Hashable, Sequence[Root] | SearchableRoots]] = [
        {"bucket": stored}, {"bucket": BucketRoots(index)}]
    for roots in searches:
        started = time.perf_counter()
        flags = [flag_possible_duplicates([("bucket", f"NEW-{i}", sketch)], roots)[0]
                 for i, sketch in enumerate(sketches)]
        figures.append(((time.perf_counter() - started) / len(sketches) * 1e6, flags))
    (every_us, every_flags), (indexed_us, indexed_flags) = figures
    assert every_flags == indexed_flags, "the index must flag what every root flags"
    print(f"  sketch {sketch_us:6.1f} µs per complaint   search among {args.roots} roots: "
          f"every root {every_us:6.1f} µs, indexed {indexed_us:6.1f} µs "
          f"({sum(f is not None for f in every_flags)} of {len(sketches)} flagged)")

if __name__ == "__main__":
    main()
