"""MongoDB wiring: one AsyncMongoClient per process, indexes ensured at start."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pymongo import AsyncMongoClient, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from shared.settings import Settings


def make_client(settings: Settings) -> AsyncMongoClient[dict[str, Any]]:
    timeout = settings.mongodb_timeout_ms
    return AsyncMongoClient(
        settings.mongodb_uri.get_secret_value(),
        # Fail fast while the database is down (default is 30 s per call), and let the
        # consumer's retry loop decide what to do.
        serverSelectionTimeoutMS=timeout,
        connectTimeoutMS=timeout,
        socketTimeoutMS=max(timeout * 10, 20000),
        appname=f"lapor-{settings.service_name}",
        tz_aware=True,
    )


def database(client: AsyncMongoClient[dict[str, Any]], settings: Settings
             ) -> AsyncDatabase[dict[str, Any]]:
    return client[settings.mongodb_database]


async def ensure_indexes(db: AsyncDatabase[dict[str, Any]],
                         indexes: Mapping[str, Sequence[IndexModel]]) -> None:
    for collection, models in indexes.items():
        if models:
            await db[collection].create_indexes(list(models))


async def ping(client: AsyncMongoClient[dict[str, Any]]) -> bool:
    try:
        await client.admin.command("ping")
        return True
    except Exception:
        return False
