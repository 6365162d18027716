"""A/B runs of the pipeline benchmark: the working tree against an earlier commit,
interleaved, because on a shared machine the figures of one run move with the machine
more than most changes move them.

    .venv/bin/python -m benchmarks.compare BASE_REV [--pairs 2] [--pause 20] -- --n 2000 --rate 200

BASE_REV is checked out in a temporary git worktree; each pair runs `benchmarks.pipeline`
(same arguments, same virtualenv) once there and once here, in alternating order (base
first in odd pairs, current first in even ones, so a drifting machine favours neither),
`--pause` seconds apart. Then the key figures of every run side by side, with their
medians. The virtualenv must suit both trees (same dependencies).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.report import _fmt, digits, spread

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
RESULTS_LINE = re.compile(r"results: (\S+\.json);")


def run_order(pairs: int) -> list[str]:
    """Which tree runs when: base first in odd pairs, current first in even ones."""
    order: list[str] = []
    for index in range(pairs):
        order += ["base", "current"] if index % 2 == 0 else ["current", "base"]
    return order


def comparison(base: Sequence[dict[str, Any]], current: Sequence[dict[str, Any]]
               ) -> list[tuple[str, list[float], list[float]]]:
    """Each key figure: the base runs' values and the current runs' values."""
    before, after = dict(spread(base)), dict(spread(current))
    return [(label, before.get(label, []), after.get(label, []))
            for label in dict.fromkeys([*before, *after])]


def _median(values: list[float], places: int = 1) -> str:
    return _fmt(statistics.median(values), places) if values else "-"


def print_comparison(base_rev: str, base: Sequence[dict[str, Any]],
                     current: Sequence[dict[str, Any]]) -> None:
    print()
    print(f"  {base_rev} (base) against the working tree, {len(base)} + {len(current)} runs"
          " (values in run order; medians):")
    for label, before, after in comparison(base, current):
        d = digits(label)
        print(f"    {label:<26} {', '.join(_fmt(v, d) for v in before):<24} -> "
              f"{', '.join(_fmt(v, d) for v in after):<24} "
              f"median {_median(before, d)} -> {_median(after, d)}")


def _run(cwd: Path, args: Sequence[str]) -> dict[str, Any]:
    completed = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "benchmarks.pipeline", *args], cwd=cwd, text=True,
        stdout=subprocess.PIPE, check=False)
    sys.stdout.write(completed.stdout)
    match = RESULTS_LINE.search(completed.stdout)
    if match is None:
        raise SystemExit(f"benchmark in {cwd} gave no results (exit {completed.returncode})")
    path = Path(match.group(1))
    path = path if path.is_absolute() else cwd / path
    result: dict[str, Any] = json.loads(path.read_text())
    if cwd != ROOT:  # the base worktree goes away: keep its result beside ours
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / f"{path.stem}-base.json").write_text(path.read_text())
    return result


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    split = argv.index("--") if "--" in argv else len(argv)
    own, pipeline_args = argv[:split], argv[split + 1:] or ["--n", "2000", "--rate", "200"]
    parser = argparse.ArgumentParser(prog="python -m benchmarks.compare",
                                     description=(__doc__ or "").split("\n\n")[0],
                                     epilog="after --: the arguments of benchmarks.pipeline "
                                            "(default --n 2000 --rate 200)")
    parser.add_argument("base", help="the commit to compare against (e.g. HEAD~1)")
    parser.add_argument("--pairs", type=int, default=2)
    parser.add_argument("--pause", type=float, default=20.0,
                        help="seconds between runs (default 20)")
    args = parser.parse_args(own)
    if args.pairs < 1:
        parser.error("--pairs must be at least 1")
    runs: dict[str, list[dict[str, Any]]] = {"base": [], "current": []}
    with tempfile.TemporaryDirectory(prefix="lapor-bench-base-") as scratch:
        worktree = Path(scratch) / "base"
        subprocess.run(["git", "worktree", "add", "--detach", str(worktree),  # noqa: S603, S607
                        args.base], cwd=ROOT, check=True, capture_output=True)
        try:
            for index, side in enumerate(run_order(args.pairs)):
                if index:
                    time.sleep(args.pause)
                print(f"\n== {side} ({args.base if side == 'base' else 'working tree'})",
                      flush=True)
                runs[side].append(_run(worktree if side == "base" else ROOT, pipeline_args))
        finally:
            subprocess.run(["git", "worktree", "remove", "--force",  # noqa: S603, S607
                            str(worktree)],
                           cwd=ROOT, check=False, capture_output=True)
    print_comparison(args.base, runs["base"], runs["current"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
