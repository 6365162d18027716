"""The shared MongoDB helpers on the real database: first write wins, and `$in` queries
split into chunks still return every match exactly once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from shared.mongo import IN_CHUNK, database, find_in, in_chunks, insert_first_wins, make_client


@pytest.fixture
async def db(settings_for: Any) -> AsyncIterator[AsyncDatabase[dict[str, Any]]]:
    settings = settings_for("intake")
    client = make_client(settings)
    yield database(client, settings)
    await client.drop_database(settings.mongodb_database)
    await client.close()


def test_chunks_keep_order_and_cover_everything() -> None:
    values = list(range(2 * IN_CHUNK + 3))
    chunks = in_chunks(values)
    assert [len(c) for c in chunks] == [IN_CHUNK, IN_CHUNK, 3]
    assert [v for c in chunks for v in c] == values
    assert in_chunks([]) == []


async def test_find_in_over_several_chunks_with_a_filter_and_projection(db) -> None:
    docs = [{"_id": f"d{i}", "parity": i % 2, "body": "x"} for i in range(3 * IN_CHUNK)]
    assert await insert_first_wins(db.things, docs) == {}
    again = await insert_first_wins(db.things, [docs[5], {"_id": "new"}])
    assert list(again) == [0]  # the existing one lost, the new one landed
    wanted = [f"d{i}" for i in range(0, 3 * IN_CHUNK, 1)] + ["missing"]
    found = [d async for d in find_in(db.things, "_id", wanted, {"parity": 0},
                                      {"body": 0})]
    assert sorted(d["_id"] for d in found) == sorted(f"d{i}" for i in range(0, 3 * IN_CHUNK, 2))
    assert all("body" not in d for d in found)
