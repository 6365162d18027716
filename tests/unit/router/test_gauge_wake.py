"""The gauges' sampler is woken once a change is counted in the tally of open cases, not
before: woken earlier, it could read the tally before the change and then sleep for its
whole interval (seen as a flaky gauge test in CI)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

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
    """The case store's calls the handler makes, in memory, with the order of events."""

    def __init__(self, steps: list[str]) -> None:
        self.steps = steps

    async def insert_new(self, documents: Sequence[dict[str, Any]]) -> set[str]:
        self.steps.append("insert")
        return set()

    async def get_many(self, tracking_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        return {}

    async def unpublished(self, documents: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        return []

    async def mark_published(self, documents: Sequence[dict[str, Any]]) -> None:
        self.steps.append("counted")


async def test_a_new_case_wakes_the_sampler_after_it_is_counted(
        shipped_rules: list[RoutingRule], shipped_agencies: AgencyRegistry) -> None:
    steps: list[str] = []

    async def publish_all(items: Sequence[tuple[BaseModel, str]]) -> None:
        steps.append("published")

    topics = Topics("t.")
    router = Router(store=Cases(steps), publish_all=publish_all,  # type: ignore[arg-type]
                    topics=topics, rules=shipped_rules, agencies=shipped_agencies,
                    clock=ManualClock(NOW), on_change=lambda: steps.append("sampler woken"))
    event = ComplaintReceived(
        tracking_id="7KQ2-M9XD-4", occurred_at=NOW - timedelta(seconds=1),
        channel=Channel.WEB, channel_ref="web-1", category="infrastructure.roads",
        region_code="64.08.04", body="Jalan poros Sangatta berlubang besar.",
        submitted_at=NOW - timedelta(minutes=1), citizen_secret="APG2D-6CK6Y")
    dead = await router.handle_received([InboundRecord(topics.received, 0, 0, b"k",
                                                       encode(event))])
    assert dead == []
    assert steps == ["insert", "published", "counted", "sampler woken"]
