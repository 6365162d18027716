"""MongoDB wiring: one AsyncMongoClient per process, indexes ensured at start."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from pymongo import AsyncMongoClient, IndexModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

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


DUPLICATE_KEY = 11000
# An `$in` costs the embedded database more per value the longer its list (measured: 0.07
# ms per id at 50, 0.16 at 200, 0.9 at 1,500), so long lists go in chunks of this size.
IN_CHUNK = 64
T = TypeVar("T")


def in_chunks(values: Sequence[T], size: int = IN_CHUNK) -> list[list[T]]:
    return [list(values[i:i + size]) for i in range(0, len(values), size)]


async def find_in(collection: AsyncCollection[dict[str, Any]], field: str,
                  values: Sequence[Any], extra: Mapping[str, Any] | None = None,
                  projection: Mapping[str, Any] | None = None
                  ) -> AsyncIterator[dict[str, Any]]:
    """The documents whose `field` is one of `values` (and that match `extra`): one query
    per `IN_CHUNK` values."""
    for chunk in in_chunks(list(values)):
        async for doc in collection.find({field: {"$in": chunk}, **(extra or {})}, projection):
            yield doc


async def delete_in(collection: AsyncCollection[dict[str, Any]], field: str,
                    values: Iterable[Any]) -> None:
    """Delete the documents whose `field` is one of `values`: one statement per `IN_CHUNK`
    values."""
    for chunk in in_chunks(list(values)):
        await collection.delete_many({field: {"$in": chunk}})


def duplicates_in(exc: BulkWriteError) -> dict[int, dict[str, Any]]:
    """The write errors of an unordered bulk write that lost to an existing key (the first
    write won), by position in the bulk; any other write error is raised again."""
    errors = exc.details.get("writeErrors", [])
    if any(error.get("code") != DUPLICATE_KEY for error in errors):
        raise exc
    return {error["index"]: error for error in errors}


async def insert_first_wins(collection: AsyncCollection[dict[str, Any]],
                            documents: Sequence[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """Insert documents in one unordered bulk; those whose key exists already are left as
    they are. Returns their positions (with the write error). An insert is the cheapest
    write there is, and the unique key makes a redelivered or racing write harmless."""
    if not documents:
        return {}
    try:
        await collection.insert_many(list(documents), ordered=False)
    except BulkWriteError as exc:
        return duplicates_in(exc)
    return {}


async def ping(client: AsyncMongoClient[dict[str, Any]]) -> bool:
    try:
        await client.admin.command("ping")
        return True
    except Exception:
        return False
