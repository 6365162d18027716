"""Recording delivery outcomes in batches: one publish and one bulk write per batch.

A worker that has sent (or given up on) a notification hands the outcome here and waits.
Outcomes that arrive while a batch is being written form the next batch, so under load a
batch grows by itself and at rest an outcome is written at once. Per batch: the
`notification.*` events are published first, then the final states are written with
`reported` set, one bulk write. A crash between the two repeats the events (same ids)
and, as a crash between sending and recording always could, the sends; never loses one.
If the broker does not answer in time the states are written unreported, and the
reporter loop publishes them later.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog
from pydantic import BaseModel

from services.notifier.adapters.ledger import Finish, Ledger

log = structlog.get_logger("notifier.recording")

PublishAll = Callable[[Sequence[tuple[BaseModel, str]]], Awaitable[None]]
MAX_BATCH = 500


@dataclass
class _Outcome:
    finish: Finish
    done: asyncio.Future[bool] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future())


class OutcomeRecorder:
    def __init__(self, *, ledger: Ledger, publish_all: PublishAll, topic: str,
                 event_of: Callable[[dict[str, Any]], BaseModel],
                 publish_timeout: float = 5.0) -> None:
        self.ledger = ledger
        self.publish_all = publish_all
        self.topic = topic
        self.event_of = event_of
        self.publish_timeout = publish_timeout
        self._pending: list[_Outcome] = []
        self._wake = asyncio.Event()

    async def record(self, claimed: dict[str, Any], state: str, at: datetime,
                     error: str | None = None) -> bool:
        """Publish and write one outcome (in the next batch); True when the write landed,
        False when the claim had passed to another worker meanwhile."""
        outcome = _Outcome(Finish(claimed, state, at, error))
        self._pending.append(outcome)
        self._wake.set()
        return await outcome.done

    async def run_forever(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
                try:
                    landed = await self._write([o.finish for o in batch])
                except asyncio.CancelledError:
                    for outcome in batch:
                        outcome.done.cancel()
                    raise
                except Exception as exc:  # the database is away: each worker retries
                    for outcome in batch:
                        outcome.done.set_exception(exc)
                    continue
                for outcome in batch:
                    outcome.done.set_result(outcome.finish.claimed["_id"] in landed)

    async def _write(self, batch: list[Finish]) -> set[str]:
        events = [(self.event_of(f.finished_document()), self.topic) for f in batch]
        reported = True
        try:
            await asyncio.wait_for(self.publish_all(events), self.publish_timeout)
        except Exception as exc:  # written unreported: the reporter loop publishes them
            reported = False
            log.warning("publishing outcomes failed; the reporter will retry",
                        error_type=type(exc).__name__, outcomes=len(batch))
        return await self.ledger.finish_many(batch, reported=reported)
