"""A bare embedded database for the statement benchmarks: SecantusDB on a free port, a
client, and the server's CPU seconds so far (user + system, from /proc)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

from pymongo import AsyncMongoClient

from benchmarks.procstat import session_cpu_seconds
from shared.devinfra.launcher import LocalInfra


@asynccontextmanager
async def bare_database() -> AsyncIterator[
        tuple[AsyncMongoClient[dict[str, Any]], Callable[[], float]]]:
    with LocalInfra() as infra:
        assert infra.database is not None and infra.database.process is not None
        # The server runs in a session of its own, led by the process we started.
        cpu = partial(session_cpu_seconds, infra.database.process.pid)
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            infra.env["LAPOR_MONGODB_URI"], tz_aware=True)
        try:
            yield client, cpu
        finally:
            await client.close()
