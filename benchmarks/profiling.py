"""Optional sampling profiles of the services under load (`--profile`), with py-spy.

py-spy is not a project dependency: `.venv/bin/pip install py-spy`. Each service gets a
`py-spy record --format raw` (collapsed stacks) for the measured phase; the summary ranks
functions by own time (where the CPU went) and project functions by total time (which
of our code paths it went through). Profiling costs CPU on a small machine: compare
figures of profiled runs only with other profiled runs.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

_LINE = re.compile(r"^(?P<stack>.*) (?P<count>\d+)$")
_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^:()]+)(?::\d+)?\)$")
PROJECT = ("services/", "shared/")
ROOT = str(Path(__file__).resolve().parents[1]) + "/"
# Leaf frames of a thread that waits (py-spy --nonblocking samples them as running).
IDLE_LEAVES = ("EpollSelector.select (", "_worker (concurrent/futures/thread.py:81)",
               "Condition.wait (", "Event.wait (")


def py_spy() -> str | None:
    local = Path(sys.executable).parent / "py-spy"
    return str(local) if local.exists() else shutil.which("py-spy")


@dataclass
class Profiler:
    pids: dict[str, int]
    outdir: Path
    rate: int = 100
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self) -> bool:
        binary = py_spy()
        if binary is None:
            print("--profile: py-spy not found (.venv/bin/pip install py-spy); not profiling",
                  file=sys.stderr)
            return False
        self.outdir.mkdir(parents=True, exist_ok=True)
        for name, pid in self.pids.items():
            self.processes[name] = subprocess.Popen(  # noqa: S603
                [binary, "record", "--pid", str(pid), "--rate", str(self.rate), "--format",
                 "raw", "--nonblocking", "--output", str(self.path(name))],
                stdout=subprocess.DEVNULL, stderr=open(self.outdir / f"{name}.py-spy.log", "wb"),  # noqa: SIM115
                start_new_session=True)
        return True

    def path(self, name: str) -> Path:
        return self.outdir / f"{name}.collapsed.txt"

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                os.kill(process.pid, signal.SIGINT)  # py-spy writes its output on SIGINT
        for process in self.processes.values():
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(5)

    def summaries(self, top: int = 8) -> dict[str, dict[str, object]]:
        return {name: summarise(self.path(name), top) for name in self.processes
                if self.path(name).exists()}


def _frame(text: str) -> tuple[str, str]:
    match = _FRAME.match(text)
    if not match:
        return text, ""
    path = match.group("file")
    for marker in ("site-packages/", "/lib/python3.11/", ROOT):
        if marker in path:
            path = path.split(marker, 1)[1]
    return match.group("func"), path


def summarise(path: Path, top: int = 8) -> dict[str, object]:
    own: Counter[str] = Counter()
    ours: Counter[str] = Counter()
    total = idle = 0
    for line in path.read_text(errors="replace").splitlines():
        match = _LINE.match(line)
        if not match:
            continue
        count = int(match.group("count"))
        raw = [f for f in match.group("stack").split(";") if f]
        if not raw:
            continue
        if raw[-1].startswith(IDLE_LEAVES):
            idle += count
            continue
        frames = [_frame(f) for f in raw]
        total += count
        func, file = frames[-1]
        own[f"{func} ({file})"] += count
        seen = {f"{fn} ({fl})" for fn, fl in frames if fl.startswith(PROJECT)}
        for name in seen:
            ours[name] += count

    def ranked(counter: Counter[str]) -> list[tuple[str, float]]:
        return [(name, round(100 * n / max(total, 1), 1))
                for name, n in counter.most_common(top)]

    return {"samples": total, "idle_samples": idle, "own_time_pct": ranked(own),
            "project_total_pct": ranked(ours)}


def print_summaries(summaries: dict[str, dict[str, object]]) -> None:
    for name, summary in summaries.items():
        print(f"  profile {name}: {summary['samples']} busy samples "
              f"({summary.get('idle_samples', 0)} idle left out); % of busy samples")
        print("    own time:")
        for func, pct in summary["own_time_pct"]:  # type: ignore[attr-defined]
            print(f"      {pct:5.1f} %  {func}")
        print("    total time in project code:")
        for func, pct in summary["project_total_pct"]:  # type: ignore[attr-defined]
            print(f"      {pct:5.1f} %  {func}")
