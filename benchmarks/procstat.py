"""CPU time of the processes a benchmark started, from /proc (Linux), to see where the
cores went: each server and service runs in its own session, so a session's CPU time is
the sum over every process whose session id is the leader's pid."""

from __future__ import annotations

import os
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat_fields(path: Path) -> list[str] | None:
    try:
        text = path.read_text()
    except OSError:
        return None
    # The command name is in parentheses and may contain spaces: split after it.
    return text[text.rfind(")") + 2:].split()


def session_cpu_seconds(leader_pid: int) -> float:
    """utime + stime of every live process in the session led by `leader_pid`."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(entry / "stat")
        # fields[0] is state (field 3); session is field 6, utime 14, stime 15.
        if fields is None or len(fields) < 13 or int(fields[3]) != leader_pid:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / TICKS


def own_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def machine_busy_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    try:
        with open("/proc/stat") as stat:
            values = [int(v) for v in stat.readline().split()[1:]]
    except OSError:
        return 0.0, 0.0
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    total = sum(values[:8])
    return (total - idle) / TICKS, total / TICKS


class CpuMeter:
    """`start()` and `stop()` around the measured phase; `result()` per process name."""

    def __init__(self, sessions: dict[str, int]) -> None:
        self.sessions = sessions
        self.before: dict[str, float] = {}
        self.after: dict[str, float] = {}
        self.machine_before = (0.0, 0.0)
        self.machine_after = (0.0, 0.0)

    def _sample(self) -> dict[str, float]:
        sample = {name: session_cpu_seconds(pid) for name, pid in self.sessions.items()}
        sample["bench"] = own_cpu_seconds()
        return sample

    def start(self) -> None:
        self.before = self._sample()
        self.machine_before = machine_busy_seconds()

    def stop(self) -> None:
        self.after = self._sample()
        self.machine_after = machine_busy_seconds()

    def result(self, wall_seconds: float) -> dict[str, object]:
        processes = {name: round(self.after.get(name, 0.0) - self.before.get(name, 0.0), 2)
                     for name in self.before}
        busy = self.machine_after[0] - self.machine_before[0]
        return {"wall_seconds": round(wall_seconds, 2), "processes": processes,
                "machine_busy_cores": round(busy / wall_seconds, 2) if wall_seconds else None}
