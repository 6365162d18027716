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
