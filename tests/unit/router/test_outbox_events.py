"""A new case's events are published as built (not validated back from the outbox's stored
form), and are what its stored outbox says; a case version read back from the database (a
crash left it unpublished) publishes the same events from its stored form."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import bson
from pydantic import BaseModel

from services.router.domain.rules import RoutingRule
from services.router.handlers import Router
from shared.agencies import AgencyRegistry
from shared.clock import ManualClock
from shared.codec import encode
from shared.consumer import InboundRecord
from shared.contract import Channel, ComplaintReceived
from shared.topics import Topics

NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


class Cases:
    """The case store's calls, in memory: what was inserted."""

    def __init__(self) -> None:
        self.inserted: list[dict[str, Any]] = []

    async def insert_new(self, documents: Sequence[dict[str, Any]]) -> set[str]:
        self.inserted += documents
        return set()

    async def unpublished(self, documents: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        return []

    async def mark_published(self, documents: Sequence[dict[str, Any]]) -> None:
        pass


async def test_events_are_published_as_built_and_as_stored(
        shipped_rules: list[RoutingRule], shipped_agencies: AgencyRegistry) -> None:
    published: list[tuple[BaseModel, str]] = []

    async def publish_all(items: Sequence[tuple[BaseModel, str]]) -> None:
        published.extend(items)

    topics = Topics("t.")
    store = Cases()
    router = Router(store=store, publish_all=publish_all,  # type: ignore[arg-type]
                    topics=topics, rules=shipped_rules, agencies=shipped_agencies,
                    clock=ManualClock(NOW))
    event = ComplaintReceived(
        tracking_id="7KQ2-M9XD-4", occurred_at=NOW - timedelta(seconds=1),
        channel=Channel.WEB, channel_ref="web-1", category="infrastructure.roads",
        region_code="64.08.04", body="Jalan poros Sangatta berlubang besar.",
        reporter={"name": "Siti", "email": "siti@example.id"},
        submitted_at=NOW - timedelta(minutes=1), citizen_secret="APG2D-6CK6Y")
    assert await router.handle_received([InboundRecord(topics.received, 0, 0, b"k",
                                                       encode(event))]) == []
    (document,) = store.inserted
    assert [type(e).__name__ for e, _ in published] == ["ComplaintRouted",
                                                         "ComplaintStatusChanged"]
    assert [e for e, _ in published] == [entry.event for entry in document["outbox"]]
    assert all(e is entry.event for (e, _), entry in zip(published, document["outbox"],
                                                           strict=True))  # not rebuilt
    assert [(e.model_dump(mode="json"), topic) for e, topic in published] == [
        (entry["event"], topics.name(entry["topic"])) for entry in document["outbox"]]

    # As the database gives it back: plain dicts, the stored form only.
    stored = bson.decode(bson.encode(document), codec_options=bson.CodecOptions(tz_aware=True))
    assert stored["outbox"] == [dict(entry) for entry in document["outbox"]]
    again: list[tuple[BaseModel, str]] = []
    router.publish_all = lambda items: _collect(again, items)  # type: ignore[method-assign]
    await router._flush([stored])
    assert again == published


async def _collect(into: list[tuple[BaseModel, str]],
                   items: Sequence[tuple[BaseModel, str]]) -> None:
    into.extend(items)
