"""Benchmark (not a test): intake's CPU per complaint for near-duplicate detection, on the
load generator's submissions: the text's sketch (`TextSketch.of`) and the search among a
bucket's roots (`flag_possible_duplicates`).

    .venv/bin/python -m benchmarks.duplicate_sketch [--n 3000] [--roots 30]
"""

from __future__ import annotations

import argparse
import time

from benchmarks.load import submissions
from services.intake.domain.duplicates import Root, TextSketch, flag_possible_duplicates


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
    roots = {"bucket": [Root(f"ROOT-{i}", TextSketch.of(*texts[-1 - i]))
                        for i in range(args.roots)]}
    started = time.perf_counter()
    for i, sketch in enumerate(sketches):
        flag_possible_duplicates([("bucket", f"NEW-{i}", sketch)], roots)
    search_us = (time.perf_counter() - started) / len(sketches) * 1e6
    print(f"  sketch {sketch_us:6.1f} µs per complaint   search among {args.roots} roots "
          f"{search_us:6.1f} µs")


if __name__ == "__main__":
    main()
