"""When a gauge that is read from the database may be read again.

Some gauges are states counted in the database (the notifier's notifications waiting),
so every replica reports the same numbers; those that can be kept with the writes instead
are (`shared.tally`: the router's open cases, the SLA's open clocks). Such a count grows
with the backlog, and on a database that answers one statement at a time it holds up
everything else while it runs. A `SampleSchedule` takes a sample every `interval`
seconds, and never sooner than `cost_factor` times what the last one took after it
started: however large the backlog, the samples use at most 1/`cost_factor` of the
database's time.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

COST_FACTOR = 100  # a gauge may use at most 1 % of the database's time


class SampleSchedule:
    def __init__(self, interval: float, *, cost_factor: float = COST_FACTOR,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self.cost_factor = cost_factor
        self.monotonic = monotonic
        self._started = float("-inf")
        self.cost_allows_at = float("-inf")  # the earliest moment its cost allows the next

    def due(self) -> bool:
        return self.monotonic() >= max(self._started + self.interval, self.cost_allows_at)

    async def take(self, sample: Callable[[], Awaitable[object]]) -> None:
        """Run `sample` and schedule the next one (also when this one fails)."""
        started = self._started = self.monotonic()
        try:
            await sample()
        finally:
            self.cost_allows_at = started + self.cost_factor * (self.monotonic() - started)
