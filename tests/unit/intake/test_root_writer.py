"""New duplicate roots are written behind the handler: gathered, then one statement for
all of them; what could not be written goes with the next write; a bounded backlog."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.intake.adapters import duplicate_roots
from services.intake.adapters.duplicate_roots import RootWriter
from services.intake.domain.duplicates import Root, TextSketch

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
WINDOW = timedelta(days=7)
BUCKET = ("infrastructure.roads", "64.08.04")
SKETCH = TextSketch.of("", "Jalan rusak parah di depan pasar.")


def roots(*ids: str) -> list[tuple[Any, datetime, Root]]:
    return [(BUCKET, T0, Root(tid, SKETCH)) for tid in ids]


class Statements:
    """RootStore.add, one entry per statement."""

    def __init__(self) -> None:
        self.written: list[list[str]] = []
        self.failing = False

    async def add(self, rows: Any, window: timedelta) -> None:
        assert window == WINDOW
        if self.failing:
            raise ConnectionError("database away")
        if rows:
            self.written.append([root.tracking_id for _, _, root in rows])


async def test_roots_of_several_batches_go_in_one_statement() -> None:
    store = Statements()
    writer = RootWriter(store, WINDOW)  # type: ignore[arg-type]
    await writer.add(roots("a", "b"))
    await writer.add(roots("c"))
    assert store.written == []  # the handler does not wait for the database
    await writer.write()
    await writer.write()  # nothing new: no statement
    assert store.written == [["a", "b", "c"]]


async def test_roots_that_could_not_be_written_go_with_the_next_ones() -> None:
    store = Statements()
    writer = RootWriter(store, WINDOW)  # type: ignore[arg-type]
    await writer.add(roots("a"))
    store.failing = True
    with pytest.raises(ConnectionError):
        await writer.write()
    await writer.add(roots("b"))
    store.failing = False
    await writer.close()  # at shutdown, once the consumer stopped
    assert store.written == [["a", "b"]]
    assert writer.waiting == 0


async def test_close_does_not_raise_when_the_database_is_away() -> None:
    store = Statements()
    store.failing = True
    writer = RootWriter(store, WINDOW)  # type: ignore[arg-type]
    await writer.add(roots("a"))
    await writer.close()  # logged (lost: missed duplicate flags at worst), never raised
    assert writer.waiting == 1


async def test_the_backlog_is_bounded_while_the_database_is_away(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(duplicate_roots, "MAX_WAITING", 3)
    store = Statements()
    writer = RootWriter(store, WINDOW)  # type: ignore[arg-type]
    await writer.add(roots("a", "b"))
    await writer.add(roots("c", "d", "e"))
    assert writer.waiting == 3
    await writer.write()
    assert store.written == [["c", "d", "e"]]  # the newest kept
