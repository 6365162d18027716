"""Figures for the benchmark report: latency summaries, throughput, the printed table.

Pure functions over lists of numbers (seconds) and the result dict; no I/O but `print`.
"""

from __future__ import annotations

import math
import os
import platform
import statistics
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from benchmarks import event_loop

PERCENTILES = (50, 95, 99)


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return math.nan
    rank = max(math.ceil(p / 100 * len(sorted_values)), 1)
    return sorted_values[rank - 1]


def latency_summary(seconds: Sequence[float]) -> dict[str, float | int]:
    """count, p50/p95/p99/max/mean in milliseconds."""
    values = sorted(seconds)
    summary: dict[str, float | int] = {"count": len(values)}
    for p in PERCENTILES:
        summary[f"p{p}_ms"] = round(percentile(values, p) * 1000, 1)
    summary["max_ms"] = round(values[-1] * 1000, 1) if values else math.nan
    summary["mean_ms"] = round(sum(values) / len(values) * 1000, 1) if values else math.nan
    return summary


def worst_seconds(samples: Sequence[tuple[float, float]], first: float, top: int = 5
                  ) -> list[dict[str, float | int]]:
    """`(submitted_at, latency s)` grouped by second of submission since `first`: the `top`
    seconds with the highest maximum, to tell a stall (a few bad seconds) from a slow
    steady state (all seconds alike)."""
    by_second: dict[int, list[float]] = {}
    for submitted, latency in samples:
        by_second.setdefault(int(submitted - first), []).append(latency)
    rows: list[dict[str, float | int]] = [
        {"second": sec, "count": len(v), "p50_ms": round(percentile(sorted(v), 50) * 1000),
             "max_ms": round(max(v) * 1000)} for sec, v in by_second.items()]
    return sorted(rows, key=lambda r: -r["max_ms"])[:top]


def by_window(samples: Sequence[tuple[float, float]], first: float, window: float = 10.0
              ) -> list[dict[str, float | int]]:
    """`(submitted_at, latency s)` in windows of `window` seconds of submission since
    `first`, in order, with their p50 and p99: whether latency grows as a run goes on (the
    embedded broker's does) or comes in bursts."""
    windows: dict[int, list[float]] = {}
    for submitted, latency in samples:
        windows.setdefault(int(max(0.0, submitted - first) // window), []).append(latency)
    return [{"from_s": round(index * window), "count": len(values),
             "p50_ms": round(percentile(sorted(values), 50) * 1000),
             "p99_ms": round(percentile(sorted(values), 99) * 1000)}
            for index, values in sorted(windows.items())]


def format_windows(windows: Sequence[dict[str, float | int]]) -> str:
    return ", ".join(f"{w['from_s']} s {w['p50_ms']}/{w['p99_ms']}" for w in windows)


def throughput(count: int, first: float, last: float) -> float:
    """Items per second over [first, last] (epoch seconds)."""
    span = last - first
    return count / span if span > 0 and count else math.nan


def steady_rate(completions: Sequence[float], low: float = 0.1, high: float = 0.9) -> float:
    """Completions per second between the 10th and 90th percentile completion: the
    sustained rate, without start-up ramp and tail."""
    values = sorted(completions)
    if len(values) < 20:
        return math.nan
    i, j = int(low * (len(values) - 1)), int(high * (len(values) - 1))
    span = values[j] - values[i]
    return (j - i) / span if span > 0 else math.nan


def cpu_per_complaint(processes: dict[str, float], complaints: int) -> dict[str, float]:
    """Milliseconds of CPU per complaint, per process and for them `all`: what a change
    must lower for the two cores to carry more complaints (1,000/s needs 2 ms in all)."""
    if complaints <= 0:
        return {}
    per = {name: round(secs / complaints * 1000, 3) for name, secs in processes.items()}
    return {**per, "all": round(sum(processes.values()) / complaints * 1000, 3)}


def ratio(value: float, ceiling: float) -> float:
    if not ceiling or math.isnan(ceiling) or math.isnan(value):
        return math.nan
    return round(value / ceiling, 3)


def machine() -> dict[str, Any]:
    model = ""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    return {"cpu_model": model, "cores": usable, "python": platform.python_version(),
            "system": f"{platform.system()} {platform.release()}",
            "event_loop": services_loop()}


def services_loop() -> str:
    """The services' event loop: `LAPOR_EVENT_LOOP` (they inherit the environment), else
    what `auto` takes, as the benchmark's own processes do."""
    chosen = os.environ.get("LAPOR_EVENT_LOOP", "auto").lower()
    return event_loop.loop_name() if chosen == "auto" else chosen


def load_average() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def _fmt(value: Any, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}"


HOPS = [
    ("intake", "submitted -> received"),
    ("router", "received -> routed"),
    ("notifier", "received -> ack sent"),
    ("e2e_routed", "submitted -> routed"),
    ("e2e_acknowledged", "submitted -> ack sent"),
]


def print_report(result: dict[str, Any]) -> None:
    run, pipeline = result["run"], result["pipeline"]
    ceiling = result.get("ceiling") or {}
    relay = ceiling.get("broker_relay") or {}
    print()
    print(f"LAPOR pipeline benchmark  {run['started_at']}")
    mach = result["machine"]
    loop = f", {mach['event_loop']} loop" if "event_loop" in mach else ""  # seventeenth round
    print(f"  machine: {mach['cores']} cores, {mach['cpu_model']}, Python {mach['python']}{loop}")
    linger = run.get("adapter_linger_ms", 5)  # results from before the option used 5 ms
    sink = run.get("sink", "aiosmtpd")  # the default before the eleventh round
    shared = run.get("smtp_messages_per_connection", 1)  # 1 before the sixteenth round
    print(f"  N={run['n']}  mode={run['mode']}  partitions={run['partitions']}  "
          f"adapter linger={linger} ms  smtp sink={sink} ({shared} per connection)  "
          f"load average at start {run['load_start']}, at end {run['load_end']}")
    if run.get("services") and len(run["services"]) < 4:
        print(f"  services: {', '.join(run['services'])} only (waiting for {run['wait_for']})")
    if run.get("profiled"):
        print("  profiled with py-spy: compare only with other profiled runs")
    counts = pipeline["counts"]
    print(f"  submitted {counts['submitted']}, received {counts['received']}, rejected "
          f"{counts['rejected']}, routed {counts['routed']}, triage {counts['triage']}, "
          f"acknowledgements sent {counts['acknowledged']} (failed/skipped "
          f"{counts['ack_not_sent']}), other notifications {counts['other_notifications']}"
          + ("" if pipeline["complete"] else "   ** INCOMPLETE **"))
    print()
    header = (f"  {'hop':<10} {'':<24} {'count':>7} {'p50 ms':>8} {'p95 ms':>8} "
              f"{'p99 ms':>8} {'max ms':>8}   {'relay p50/p99 ms':>17}")
    print(header)
    print("  " + "-" * (len(header) - 2))
    relay_lat = relay.get("latency", {})
    for key, label in HOPS:
        s = pipeline["latency"].get(key) or {}
        r = relay_lat.get(key) or {}
        relay_text = (f"{_fmt(r.get('p50_ms'), 1)}/{_fmt(r.get('p99_ms'), 1)}" if r else "")
        print(f"  {key.split('_')[0]:<10} {label:<24} {_fmt(s.get('count')):>7} "
              f"{_fmt(s.get('p50_ms'), 1):>8} {_fmt(s.get('p95_ms'), 1):>8} "
              f"{_fmt(s.get('p99_ms'), 1):>8} {_fmt(s.get('max_ms'), 1):>8}   {relay_text:>17}")
    worst = pipeline.get("worst_seconds_routed")
    if worst:
        print("  e2e routed, the slowest seconds of submission (second: count, p50/max ms): "
              + "; ".join(f"{w['second']}: {w['count']}, {w['p50_ms']}/{w['max_ms']}"
                          for w in worst))
    for hop, hop_worst in (pipeline.get("worst_seconds_by_hop") or {}).items():
        if hop_worst:
            print(f"    {hop} hop alone: "
                  + "; ".join(f"{w['second']}: {w['p50_ms']}/{w['max_ms']}" for w in hop_worst))
    windows = pipeline.get("routed_by_window")
    if windows and len(windows) > 1:
        print("  e2e routed by 10 s of submission (from: p50/p99 ms): " + format_windows(windows))
        for hop, hop_windows in (pipeline.get("hop_by_window") or {}).items():
            if hop_windows:
                print(f"    {hop} hop alone: " + format_windows(hop_windows))
    relay_windows = relay.get("routed_by_window")
    if relay_windows and len(relay_windows) > 1:
        print("    the relay alone, the same: " + format_windows(relay_windows))
    print()
    tp = pipeline["throughput"]
    print(f"  throughput to routed:       {_fmt(tp['to_routed'])} /s   "
          f"(steady 10-90%: {_fmt(tp['steady_routed'])} /s)")
    print(f"  throughput to ack sent:     {_fmt(tp['to_acknowledged'])} /s   "
          f"(steady 10-90%: {_fmt(tp['steady_acknowledged'])} /s)")
    print(f"  submission (load) rate:     {_fmt(tp['submitted'])} /s")
    if ceiling:
        db = ceiling.get("database") or {}
        print()
        print("  ceilings (same run, same machine):")
        if relay:
            print(f"    broker relay, 3 hops, no work: {_fmt(relay.get('throughput'))} msg/s "
                  f"end to end ({relay.get('n')} msgs, {relay.get('mode')})")
        if db:
            print("    database insert_many (ordered=False): "
                  + ", ".join(f"{_fmt(v)} docs/s (chunk {k})"
                              for k, v in db.get("insert_many", {}).items())
                  + f"; insert_one {_fmt(db.get('insert_one'))}/s; "
                    f"find_one_and_update {_fmt(db.get('find_one_and_update'))}/s")
    ratios = result.get("ratios") or {}
    if ratios:
        print()
        print("  ratios (pipeline / ceiling; latency: pipeline / relay, lower is better):")
        for key, value in ratios.items():
            print(f"    {key:<44} {_fmt(value, 3)}")
    cpu = result.get("cpu") or {}
    if cpu:
        print()
        wall = cpu.get("wall_seconds")
        per = cpu.get("ms_per_complaint") or cpu_per_complaint(cpu["processes"], run["n"])
        print(f"  CPU seconds during the load ({_fmt(wall, 1)} s wall; % of one core; "
              f"ms per complaint):")
        for name, secs in cpu["processes"].items():
            share = secs / wall * 100 if wall else math.nan
            ms = per.get(name, math.nan)
            print(f"    {name:<12} {secs:8.1f} s  {share:5.0f} %  {ms:6.3f} ms")
        print(f"    {'all':<12} {sum(cpu['processes'].values()):8.1f} s"
              f"{'':9}{per.get('all', math.nan):6.3f} ms")
        machine_busy = cpu.get("machine_busy_cores")
        if machine_busy is not None:
            print(f"    whole machine busy: {machine_busy:.2f} of {mach['cores']} cores "
                  f"(includes anything else running)")
    targets = result.get("targets") or {}
    if targets:
        print()
        for name, verdict in targets.items():
            print(f"  target {name}: {verdict}")
    print()


SPREAD = (  # (label, path into a result)
    ("to routed /s (steady)", ("pipeline", "throughput", "steady_routed")),
    ("to ack sent /s (steady)", ("pipeline", "throughput", "steady_acknowledged")),
    ("e2e routed p50 ms", ("pipeline", "latency", "e2e_routed", "p50_ms")),
    ("e2e routed p99 ms", ("pipeline", "latency", "e2e_routed", "p99_ms")),
    ("e2e ack sent p50 ms", ("pipeline", "latency", "e2e_acknowledged", "p50_ms")),
    ("e2e ack sent p99 ms", ("pipeline", "latency", "e2e_acknowledged", "p99_ms")),
    ("database CPU s", ("cpu", "processes", "secantusdb")),
    ("CPU ms per complaint", ("cpu", "ms_per_complaint", "all")),
    # Each process's share: a change shows in the process it touched, while the machine's
    # mood moves them all (the broker and the sink, which no service change touches,
    # tell how much).
    *((f"  {name} ms/complaint", ("cpu", "ms_per_complaint", name))
      for name in ("intake", "router", "sla", "notifier", "secantusdb", "tansu", "smtp-sink")),
    ("machine busy cores", ("cpu", "machine_busy_cores")),
)


SERVICES = ("intake", "router", "sla", "notifier")
SERVICES_AGAINST_DATABASE = "services / database CPU"


def services_against_database(result: dict[str, Any]) -> float | None:
    """The four services' CPU per complaint over the database's, in one run. A change to the
    services' code leaves the database's CPU alone, while the machine's speed moves both:
    on a machine whose speed drifts between runs (by a quarter within minutes, seventeenth
    round), this ratio shows such a change where the absolute figures cannot."""
    per_complaint = (result.get("cpu") or {}).get("ms_per_complaint") or {}
    database = per_complaint.get("secantusdb")
    services = [per_complaint.get(name) for name in SERVICES]
    if not database or any(not isinstance(v, int | float) for v in services):
        return None
    return sum(services) / database  # type: ignore[arg-type]


def digits(label: str) -> int:
    """Decimals worth printing for a figure of `SPREAD`."""
    if label == SERVICES_AGAINST_DATABASE or label.endswith("ms/complaint"):
        return 3
    return 2 if "per complaint" in label else 1


def spread(results: Sequence[dict[str, Any]]) -> list[tuple[str, list[float]]]:
    """Each key figure over repeated runs (missing ones left out)."""
    rows = []
    for label, path in SPREAD:
        values = []
        for result in results:
            value: Any = result
            for key in path:
                value = value.get(key) if isinstance(value, dict) else None
            if isinstance(value, int | float) and value == value:  # not NaN
                values.append(float(value))
        if values:
            rows.append((label, values))
    ratios = [r for r in map(services_against_database, results) if r is not None]
    if ratios:
        rows.append((SERVICES_AGAINST_DATABASE, ratios))
    return rows


def print_spread(results: Sequence[dict[str, Any]]) -> None:
    print()
    print(f"  over {len(results)} runs (each run: value; then median, min-max):")
    for label, values in spread(results):
        ordered = sorted(values)
        d = digits(label)
        print(f"    {label:<26} {', '.join(_fmt(v, d) for v in values):<44} "
              f"median {_fmt(statistics.median(values), d)}, "
              f"{_fmt(ordered[0], d)}-{_fmt(ordered[-1], d)}")


def stamp() -> str:
    return datetime.now().strftime("%Y%m%d-%H%M%S")
