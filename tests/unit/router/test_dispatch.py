"""The router's one subscriber: a batch from both topics handles new complaints before
actions (an action may be about a complaint of the same batch), and returns the dead
letters of both."""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

from services.router.handlers import Router
from shared.consumer import DeadLetter, InboundRecord
from shared.topics import Topics


def record(topic: str, offset: int) -> InboundRecord:
    return InboundRecord(topic, 0, offset, b"k", b"{}")


async def test_a_mixed_batch_handles_received_first_and_keeps_every_dead_letter() -> None:
    topics = Topics("t.")
    calls: list[tuple[str, list[int]]] = []

    async def handle_received(records: Sequence[InboundRecord]) -> list[DeadLetter]:
        calls.append(("received", [r.offset for r in records]))
        return [DeadLetter(records[0], "bad", "invalid_event")]

    async def handle_actions(records: Sequence[InboundRecord]) -> list[DeadLetter]:
        calls.append(("actions", [r.offset for r in records]))
        return [DeadLetter(records[-1], "bad", "not_json_object")]

    router: Any = SimpleNamespace(topics=topics, handle_received=handle_received,
                                  handle_actions=handle_actions)
    batch = [record(topics.actions, 1), record(topics.received, 2),
             record(topics.actions, 3), record(topics.received, 4)]
    dead = await Router.handle(router, batch)
    assert calls == [("received", [2, 4]), ("actions", [1, 3])]
    assert [d.record.offset for d in dead] == [2, 3]

    calls.clear()
    assert await Router.handle(router, [record(topics.received, 5)]) != []
    assert calls == [("received", [5])]  # no empty call for the other topic
