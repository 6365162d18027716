"""The flood guard's marks on the real database: a chunk's marks are one document; the
guard's read finds the complaints of the asked contacts within the window, each
submission once however often it was marked; a chunk written again is stored once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from services.intake.adapters.contact_marks import COLLECTION, INDEXES, ContactMarks, Mark
from shared.mongo import IN_CHUNK

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.fixture
async def db(database_for: Any) -> AsyncDatabase[dict[str, Any]]:
    return await database_for("intake", INDEXES)


def chunk(n: int, *, at: datetime = T0) -> list[Mark]:
    """n complaints, each from its own e-mail and phone."""
    return [Mark(f"web:{at:%H%M}-{i}", [f"e{at:%H%M}-{i}", f"p{at:%H%M}-{i}"], at)
            for i in range(n)]


async def test_a_chunks_marks_are_one_document_found_by_any_of_its_contacts(db) -> None:
    marks = ContactMarks(db)
    await marks.add(chunk(100))
    assert await db[COLLECTION].count_documents({}) == 1
    found = await marks.recent(["p0800-7", "e0800-42", "nobody"], T0 - HOUR)
    assert sorted(found) == [("web:0800-42", ["e0800-42", "p0800-42"]),
                             ("web:0800-7", ["e0800-7", "p0800-7"])]
    assert await marks.recent(["nobody", "no-one"], T0 - HOUR) == []


async def test_only_complaints_since_the_windows_start_count(db) -> None:
    marks = ContactMarks(db)
    early, late = T0, T0 + 50 * timedelta(minutes=1)
    # one reporter in both chunks; the later chunk holds an earlier complaint too
    await marks.add([Mark("web:a", ["shared"], early)])
    await marks.add([Mark("web:b", ["shared"], early), Mark("web:c", ["shared"], late)])
    found = await marks.recent(["shared"], early + timedelta(minutes=10))
    assert found == [("web:c", ["shared"])]
    assert sorted(k for k, _ in await marks.recent(["shared"], early)) == [
        "web:a", "web:b", "web:c"]


async def test_a_submission_marked_twice_counts_once_and_a_chunk_again_is_stored_once(
        db) -> None:
    marks = ContactMarks(db)
    first = chunk(3)
    await marks.add(first)
    await marks.add(first)  # the same chunk, written again (a redelivery)
    assert await db[COLLECTION].count_documents({}) == 1
    await marks.add([first[1], Mark("web:new", ["e0800-1"], T0)])  # chunked differently
    found = await marks.recent(["e0800-1"], T0 - HOUR)
    assert sorted(key for key, _ in found) == ["web:0800-1", "web:new"]


async def test_many_contacts_are_asked_in_several_queries_and_all_found(db) -> None:
    marks = ContactMarks(db)
    await marks.add(chunk(2 * IN_CHUNK))
    asked = [f"e0800-{i}" for i in range(2 * IN_CHUNK)] + ["nobody"]
    assert len(await marks.recent(asked, T0 - HOUR)) == 2 * IN_CHUNK


async def test_marks_without_a_contact_are_not_stored(db) -> None:
    marks = ContactMarks(db)
    await marks.add([Mark("web:anonymous", [], T0)])
    assert await db[COLLECTION].count_documents({}) == 0
