"""The flood guard's marks on the real database: a chunk's marks are one document, named
by its writer; the window's read finds every writer's chunks since a moment, the
refresh's only the other writers' (and those of versions before the writers), by index
ranges on either side of this writer; a chunk written again is stored once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from services.intake.adapters.contact_marks import (
    COLLECTION,
    INDEXES,
    ContactMarks,
    Mark,
    marks_in,
)
from services.intake.adapters.recent_marks import RecentMarks

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.fixture
async def db(database_for: Any) -> AsyncDatabase[dict[str, Any]]:
    return await database_for("intake", INDEXES)


def chunk(n: int, *, at: datetime = T0, name: str = "") -> list[Mark]:
    """n complaints, each from its own e-mail and phone."""
    return [Mark(f"web:{name}{at:%H%M}-{i}", [f"e{name}{at:%H%M}-{i}", f"p{name}{at:%H%M}-{i}"],
                 at) for i in range(n)]


def submission_keys(docs: list[dict[str, Any]]) -> list[str]:
    return sorted(mark.submission_key for doc in docs for mark in marks_in(doc))


async def test_a_chunks_marks_are_one_document_read_back_whole(db) -> None:
    marks = ContactMarks(db, writer="m")
    stored = chunk(100)
    assert await marks.add(stored) == stored
    (doc,) = await db[COLLECTION].find().to_list()
    assert doc["writer"] == "m" and doc["received_at"] == T0
    assert len(doc["keys"]) == 200  # for earlier versions' guard
    (read,) = await marks.received_since(T0 - HOUR, others_only=False)
    assert [(m.submission_key, list(m.contact_keys)) for m in marks_in(read)] == [
        (m.submission_key, list(m.contact_keys)) for m in stored]


async def test_a_refresh_reads_the_other_writers_and_earlier_versions_not_its_own(db) -> None:
    me, before, after = (ContactMarks(db, writer=w) for w in ("m", "a", "z"))
    await me.add(chunk(2, name="me"))
    await before.add(chunk(2, name="a"))
    await after.add(chunk(2, name="z"))
    await after.add(chunk(1, at=T0 - 2 * HOUR, name="z"))  # received before `since`
    legacy = {"_id": "legacy", "received_at": T0, "keys": ["e"],  # no writer: a version before
              "marks": [{"submission_key": "web:legacy", "contact_keys": ["e"],
                         "received_at": T0}]}
    await db[COLLECTION].insert_one(legacy)

    others = await me.received_since(T0 - HOUR, others_only=True)
    assert submission_keys(others) == [
        "web:a0800-0", "web:a0800-1", "web:legacy", "web:z0800-0", "web:z0800-1"]
    everyone = await me.received_since(T0 - HOUR, others_only=False)
    assert len(submission_keys(everyone)) == 7


async def test_the_marks_have_no_index_on_their_contacts(db) -> None:
    """A multikey entry per contact cost the database more than the chunk's document."""
    indexes = await db[COLLECTION].index_information()
    assert sorted(indexes) == ["_id_", "by_writer", "retention"]
    assert indexes["by_writer"]["key"] == [("writer", 1), ("received_at", 1)]


async def test_a_chunk_written_again_is_stored_once_and_counted_once(db) -> None:
    marks = ContactMarks(db, writer="m")
    first = chunk(3)
    await marks.add(first)
    await marks.add(first)  # the same chunk, written again (a redelivery)
    assert await db[COLLECTION].count_documents({}) == 1
    await marks.add([first[1], Mark("web:new", ["e0800-1"], T0)])  # chunked differently
    window = RecentMarks(ContactMarks(db, writer="reader"), HOUR)
    found = await window.recent(["e0800-1"], T0)
    assert sorted(key for key, _ in found) == ["web:0800-1", "web:new"]


async def test_marks_without_a_contact_are_not_stored(db) -> None:
    marks = ContactMarks(db)
    assert await marks.add([Mark("web:anonymous", [], T0)]) == []
    assert await db[COLLECTION].count_documents({}) == 0
