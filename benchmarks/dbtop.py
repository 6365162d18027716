"""Where the database's time goes: per collection and operation, from the server's `top`
command (SecantusDB and MongoDB both keep these counters), as a difference between two
snapshots taken around the measured phase."""

from __future__ import annotations

from typing import Any

from pymongo import AsyncMongoClient

OPERATIONS = ("queries", "getmore", "insert", "update", "remove", "commands")


async def snapshot(uri: str) -> dict[str, Any]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri)
    try:
        return dict((await client.admin.command("top"))["totals"])
    finally:
        await client.close()


def difference(before: dict[str, Any], after: dict[str, Any], database: str,
               per: int) -> list[dict[str, Any]]:
    """Rows (collection, operation, count, seconds, per-item count) for `database`, most
    time first; `per` is the number of complaints, for counts per complaint."""
    rows = []
    for namespace, sections in after.items():
        if not namespace.startswith(database + ".") or not isinstance(sections, dict):
            continue
        old = before.get(namespace, {})
        for operation in OPERATIONS:
            new = sections.get(operation, {"time": 0, "count": 0})
            was = old.get(operation, {"time": 0, "count": 0})
            count, micros = new["count"] - was["count"], new["time"] - was["time"]
            if count:
                rows.append({"collection": namespace.split(".", 1)[1], "operation": operation,
                             "count": count, "seconds": round(micros / 1e6, 3),
                             "per_complaint": round(count / per, 2) if per else None})
    return sorted(rows, key=lambda row: -row["seconds"])


def print_rows(rows: list[dict[str, Any]], limit: int = 20) -> None:
    total = sum(row["seconds"] for row in rows) or 1.0
    print(f"  database time by collection and operation (server `top`, total {total:.1f} s):")
    print(f"    {'collection':<24} {'operation':<9} {'count':>9} {'per complaint':>13} "
          f"{'seconds':>8} {'share':>6}")
    for row in rows[:limit]:
        print(f"    {row['collection']:<24} {row['operation']:<9} {row['count']:>9,} "
              f"{row['per_complaint'] or 0:>13.2f} {row['seconds']:>8.2f} "
              f"{row['seconds'] / total:>6.0%}")


async def set_profiling(uri: str, database: str, level: int) -> None:
    """Database profiler on (2: every operation to `system.profile`) or off (0). It adds an
    insert per operation: for finding which statements run, not for timing them."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri)
    try:
        await client[database].command({"profile": level})
    finally:
        await client.close()


def _shape(value: Any) -> Any:
    """A filter with its values replaced by their operators: `{state: {$in: ...}}` ->
    `{state: $in}`, so statements group by form."""
    if isinstance(value, dict):
        return {k: (_shape(v) if k.startswith("$") is False and isinstance(v, dict)
                    else (sorted(v) if isinstance(v, dict) else "=")) for k, v in value.items()}
    return "="


async def profile_summary(uri: str, database: str, limit: int = 25) -> list[dict[str, Any]]:
    """Statements recorded by the profiler, grouped by collection, operation and filter form,
    most frequent first."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri)
    try:
        groups: dict[tuple[str, str, str], list[float]] = {}
        async for entry in client[database]["system.profile"].find({}):
            command = entry.get("command") or {}
            query = command.get("filter") or command.get("q") or command.get("query") or {}
            if "updates" in command:
                query = (command["updates"][0] or {}).get("q", {}) if command["updates"] else {}
            key = (str(entry.get("ns", "")).split(".", 1)[-1], str(entry.get("op", "")),
                   repr(_shape(query)))
            groups.setdefault(key, []).append(float(entry.get("millis") or 0))
        rows = [{"collection": c, "op": o, "filter": f, "count": len(ms),
                 "millis": round(sum(ms))} for (c, o, f), ms in groups.items()]
        return sorted(rows, key=lambda row: -row["count"])[:limit]
    finally:
        await client.close()
