"""The router's outbox on the real database and broker, in process: a case stored but not
published (a crash in between) is published when its event comes again, and once marked
published it is not published again."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from services.router.adapters.cases import INDEXES, PUBLISHED, CaseStore
from services.router.domain.rules import load_rules
from services.router.handlers import Router
from shared.agencies import load_agencies
from shared.categories import load_taxonomy
from shared.citizen_secret import derive_citizen_secret
from shared.clock import SystemClock
from shared.codec import encode, key_for
from shared.consumer import InboundRecord
from shared.kafka import ensure_topics
from shared.mongo import ensure_indexes
from shared.service import ServiceRuntime
from shared.tracking_id import new_tracking_id
from tests.integration.sla.support import received
from tests.support.kafka import TopicReader


async def test_a_case_stored_but_never_published_is_published_when_its_event_comes_again(
        settings_for: Any) -> None:
    settings = settings_for("router")
    runtime = ServiceRuntime("router", settings)
    await ensure_topics(settings)
    await ensure_indexes(runtime.db, INDEXES)
    await runtime.broker.start()
    try:
        agencies = load_agencies(settings.agencies_file)
        rules = load_rules(settings.routing_rules_file, agencies,
                           taxonomy=load_taxonomy(settings.categories_file))

        async def killed(items: Any) -> None:
            raise ConnectionError("killed between storing the case and publishing")

        def router(publish_all: Any) -> Router:
            return Router(store=CaseStore(runtime.db), publish_all=publish_all,
                          topics=runtime.topics, rules=rules, agencies=agencies,
                          clock=SystemClock())

        tracking_id = new_tracking_id()
        event = received(tracking_id, SystemClock().now()).model_copy(update={
            "citizen_secret": derive_citizen_secret(
                settings.citizen_secret_key.get_secret_value().encode(), tracking_id)})
        record = InboundRecord(runtime.topics.received, 0, 0, key_for(event), encode(event))
        with pytest.raises(ConnectionError):
            await router(killed).handle_received([record])
        stored = await runtime.db["cases"].find_one({"_id": tracking_id})
        assert stored is not None and stored["outbox"]  # stored, events not out
        marker = {"_id": f"{tracking_id}@{stored['version']}"}
        assert await runtime.db[PUBLISHED].find_one(marker) is None

        survivor = router(runtime.publish_all)
        assert await survivor.handle_received([record]) == []  # the event comes again
        assert await runtime.db[PUBLISHED].find_one(marker) is not None
        assert await survivor.handle_received([record]) == []  # and again: marked, not re-sent
        async with TopicReader(settings.kafka_bootstrap_servers,
                               runtime.topics.routed) as reader:
            routed = await reader.wait_count(1)
            await asyncio.sleep(0.5)
            await reader.poll()
            routed = [e for e in reader.values() if e["tracking_id"] == tracking_id]
        assert len(routed) == 1
        assert routed[0]["event_id"] == stored["outbox"][0]["event"]["event_id"]
    finally:
        await runtime.broker.stop()
