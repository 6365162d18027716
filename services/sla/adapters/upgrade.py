"""Upgrades the SLA's stored state from earlier layouts, once, at start-up (before the
consumers start, so no event is applied to a case whose clocks are not moved yet).

Earlier versions kept one document per case and stage in `sla_clocks` (`_id =
{tracking_id}:{stage}`). They are folded into one `sla_case_clocks` document per case, then
the old collection is dropped. Read in `_id` order (a case's clocks are adjacent), written
with inserts where the first write wins, with their due hints (ids derived from the cases,
so written once too): an instance that died halfway, or two instances upgrading at once,
leave the same result. Stop every sla instance of the older version
before starting this one: an old instance would keep writing the old layout.
"""

from __future__ import annotations

from typing import Any

import structlog
from pymongo.asynchronous.database import AsyncDatabase

from services.sla.adapters.clocks import COLLECTION, CaseClocks
from services.sla.adapters.due_hints import HINTS, hint_documents
from services.sla.domain import SlaClock, Stage
from shared.mongo import insert_first_wins

log = structlog.get_logger("sla.upgrade")

LEGACY_CLOCKS = "sla_clocks"
BATCH = 500  # cases per insert
_STAGE_ORDER = {stage: index for index, stage in enumerate(Stage)}


def case_from_legacy(records: list[dict[str, Any]]) -> CaseClocks:
    """One case's clocks, from its legacy per-stage documents."""
    clocks = sorted((SlaClock.from_record(record) for record in records),
                    key=lambda clock: _STAGE_ORDER[clock.stage])
    return CaseClocks(clocks[0].tracking_id, tuple(clocks))


async def fold_legacy_clocks(db: AsyncDatabase[dict[str, Any]]) -> int:
    """Move clocks stored one document per stage into one document per case; returns the
    number of cases folded (0 when there is nothing to upgrade)."""
    if LEGACY_CLOCKS not in await db.list_collection_names():
        return 0
    target, written = db[COLLECTION], 0
    batch: list[CaseClocks] = []
    current: list[dict[str, Any]] = []

    async def flush(final: bool = False) -> None:
        nonlocal batch, written
        if batch and (final or len(batch) >= BATCH):
            await insert_first_wins(target, [case.document() for case in batch])
            hints = [entry for entry in (case.hint() for case in batch) if entry]
            await insert_first_wins(db[HINTS], hint_documents(hints, derived_ids=True))
            written += len(batch)
            batch = []

    async for record in db[LEGACY_CLOCKS].find().sort("_id", 1):
        if current and current[0]["tracking_id"] != record["tracking_id"]:
            batch.append(case_from_legacy(current))
            current = []
            await flush()
        current.append(record)
    if current:
        batch.append(case_from_legacy(current))
    await flush(final=True)
    await db.drop_collection(LEGACY_CLOCKS)
    log.warning("sla clocks upgraded to one document per case", cases=written)
    return written
