"""The router's outbox on the real database and broker, in process: a case stored but not
published (a crash in between) is published when its event comes again, and once marked
published it is not published again."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
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
from shared.contract import ComplaintReceived
from shared.kafka import ensure_topics
from shared.mongo import ensure_indexes
from shared.service import ServiceRuntime
from shared.tracking_id import new_tracking_id
from tests.integration.sla.support import received
from tests.support.kafka import TopicReader


async def killed(items: Any) -> None:
    raise ConnectionError("killed between storing the case and publishing")


def router_factory(runtime: ServiceRuntime, settings: Any, store: CaseStore
                   ) -> Callable[[Any], Router]:
    """Routers on one store: each with its own publisher (the real one, or `killed`)."""
    agencies = load_agencies(settings.agencies_file)
    rules = load_rules(settings.routing_rules_file, agencies,
                       taxonomy=load_taxonomy(settings.categories_file))

    def router(publish_all: Any) -> Router:
        return Router(store=store, publish_all=publish_all, topics=runtime.topics,
                      rules=rules, agencies=agencies, clock=SystemClock())
    return router


def received_by(settings: Any, tracking_id: str) -> ComplaintReceived:
    """A complaint.received as intake publishes it (its citizen secret derived)."""
    return received(tracking_id, SystemClock().now()).model_copy(update={
        "citizen_secret": derive_citizen_secret(
            settings.citizen_secret_key.get_secret_value().encode(), tracking_id)})


async def test_a_case_stored_but_never_published_is_published_when_its_event_comes_again(
        settings_for: Any) -> None:
    settings = settings_for("router")
    runtime = ServiceRuntime("router", settings)
    await ensure_topics(settings)
    await ensure_indexes(runtime.db, INDEXES)
    await runtime.broker.start()
    try:
        router = router_factory(runtime, settings, CaseStore(runtime.db))
        tracking_id = new_tracking_id()
        event = received_by(settings, tracking_id)
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


async def test_the_tally_counts_each_case_version_once_across_crashes_and_redeliveries(
        settings_for: Any) -> None:
    settings = settings_for("router")
    runtime = ServiceRuntime("router", settings)
    await ensure_topics(settings)
    await runtime.broker.start()
    try:
        store = CaseStore(runtime.db)
        assert await store.establish_tally()  # nothing stored yet: counted as empty
        assert await store.open_counts() == {}
        router = router_factory(runtime, settings, store)
        tracking_id = new_tracking_id()
        event = received_by(settings, tracking_id)
        record = InboundRecord(runtime.topics.received, 0, 0, key_for(event), encode(event))
        with pytest.raises(ConnectionError):
            await router(killed).handle_received([record])
        assert await store.open_counts() == {}  # stored, not yet counted
        survivor = router(runtime.publish_all)
        for _ in range(2):  # the event comes again, twice
            assert await survivor.handle_received([record]) == []
            assert await store.open_counts() == {("assigned", "kutim-pupr"): 1}

        acknowledge = {"action_id": "ack-1", "tracking_id": tracking_id,
                       "occurred_at": SystemClock().now().isoformat(),
                       "actor": {"type": "agency", "id": "kutim-pupr"},
                       "action": "acknowledge"}
        action = InboundRecord(runtime.topics.actions, 0, 0, tracking_id.encode(),
                               json.dumps(acknowledge).encode())
        with pytest.raises(ConnectionError):
            await router(killed).handle_actions([action])
        assert (await store.get(tracking_id) or {})["case"]["status"] == "in_progress"
        assert await store.open_counts() == {("assigned", "kutim-pupr"): 1}
        for _ in range(2):
            assert await survivor.handle_actions([action]) == []
            assert await store.open_counts() == {("in_progress", "kutim-pupr"): 1}
        assert await store.open_counts() == await store.count_open()

        # Two instances that find the same version unmarked (a rebalance race) both mark
        # it: the marker that lands first counts the change, the other changes nothing.
        second = new_tracking_id()
        event = received_by(settings, second)
        with pytest.raises(ConnectionError):
            await router(killed).handle_received([InboundRecord(
                runtime.topics.received, 0, 1, key_for(event), encode(event))])
        stored = await store.get(second)
        assert stored is not None and await store.unpublished([stored]) == [stored]
        await asyncio.gather(*(store.mark_published([stored]) for _ in range(3)))
        assert await store.unpublished([stored]) == []
        assert await store.open_counts() == {("in_progress", "kutim-pupr"): 1,
                                             ("assigned", "kutim-pupr"): 1}
    finally:
        await runtime.broker.stop()


async def test_an_existing_deployment_gets_its_tally_counted_once_and_loses_the_old_index(
        settings_for: Any) -> None:
    settings = settings_for("router")
    runtime = ServiceRuntime("router", settings)
    cases = runtime.db["cases"]
    await cases.create_index([("case.status", 1), ("case.assignee", 1)],
                             name="status_assignee")

    def legacy(status: str, assignee: str | None, outbox: bool = False) -> dict[str, Any]:
        return {"_id": new_tracking_id(), "version": 3,  # stored before the tally
                "case": {"status": status, "assignee": assignee},
                "outbox": [{"topic": "complaints.status", "event": {}}] if outbox else []}

    stored = [legacy("assigned", "kutim-pupr"), legacy("assigned", "kutim-pupr"),
              legacy("triage", None), legacy("closed", "kutim-dlh"),
              legacy("in_progress", "kutim-dlh", outbox=True)]
    await cases.insert_many(stored)
    store = CaseStore(runtime.db)
    await store.drop_legacy_index()
    await store.drop_legacy_index()  # a second start finds nothing to drop
    assert "status_assignee" not in await cases.index_information()
    expected = {("assigned", "kutim-pupr"): 2, ("triage", None): 1,
                ("in_progress", "kutim-dlh"): 1}
    assert await store.establish_tally()
    assert await store.open_counts() == expected
    await cases.insert_one(legacy("assigned", "kutim-dlh"))
    assert not await store.establish_tally()  # counted once, not again
    # A version stored before the tally, marked only now, was counted by the count.
    await store.mark_published(await store.unpublished(stored))
    assert await store.unpublished(stored) == []
    assert await store.open_counts() == expected
