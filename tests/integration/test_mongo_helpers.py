"""The shared MongoDB helpers on the real database: first write wins, `$in` queries and
deletes split into chunks still cover every match exactly once, and a transaction that
lost a race is run again without the losers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from shared.mongo import (
    IN_CHUNK,
    database,
    delete_in,
    find_in,
    in_chunks,
    insert_first_wins,
    make_client,
)
from shared.tally import LostRace, commit_all_but_losers, lost_race


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


async def test_delete_in_over_several_chunks_deletes_exactly_those(db) -> None:
    await db.things.insert_many([{"_id": f"d{i}"} for i in range(3 * IN_CHUNK)])
    await delete_in(db.things, "_id", [f"d{i}" for i in range(0, 3 * IN_CHUNK, 3)] + ["no"])
    left = sorted([d["_id"] async for d in db.things.find()])
    assert left == sorted(f"d{i}" for i in range(3 * IN_CHUNK) if i % 3)


async def test_a_transaction_is_run_again_without_the_items_that_lost_a_race(db) -> None:
    await db.things.insert_one({"_id": "b"})  # written by someone else first
    tries: list[list[str]] = []

    async def insert(items: Any, session: Any) -> None:
        tries.append(list(items))
        await db.counts.update_one({"_id": "n"}, {"$inc": {"n": len(items)}}, upsert=True,
                                   session=session)
        try:
            await db.things.insert_many([{"_id": i} for i in items], ordered=False,
                                        session=session)
        except BulkWriteError as exc:
            raise lost_race(exc, list(items)) from exc

    assert await commit_all_but_losers(db, ["a", "b", "c"], str, insert) == {"b"}
    assert tries == [["a", "b", "c"], ["a", "c"]]
    # The aborted try wrote nothing: the count holds the committed try only.
    assert await db.counts.find_one({"_id": "n"}) == {"_id": "n", "n": 2}
    assert sorted([d["_id"] async for d in db.things.find()]) == ["a", "b", "c"]


async def test_a_loss_of_items_not_in_the_transaction_is_raised(db) -> None:
    async def confused(items: Any, session: Any) -> None:
        raise LostRace({"elsewhere"})

    with pytest.raises(LostRace):
        await commit_all_but_losers(db, ["a"], str, confused)
