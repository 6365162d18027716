"""Intake handlers in-process on the real broker and database, driven record by record:
two instances racing on one submission, and a batch delivered again after the flood
guard filled up. (The service-level tests go through the consumer; these pin the
interleavings down.)"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from pydantic import SecretStr

from services.intake import handlers
from services.intake.adapters.complaints import (
    LEGACY_CONTACT_INDEX,
    LEGACY_SUBMISSION_KEY_INDEX,
)
from services.intake.adapters.contact_marks import Mark
from services.intake.app import build_intake
from services.intake.handlers import Intake
from shared.consumer import InboundRecord
from shared.contract import Reporter
from shared.kafka import ensure_topics
from shared.mongo import ensure_indexes
from shared.service import ServiceRuntime
from shared.settings import Settings
from tests.support.kafka import TopicReader

from .conftest import as_bytes, for_ref, key_of, submission


@pytest.fixture
async def instances(settings_for: Callable[..., Settings]
                    ) -> AsyncIterator[tuple[list[Intake], ServiceRuntime]]:
    settings = settings_for("intake", intake_rate_limit_per_hour=2)
    runtimes = [ServiceRuntime("intake", settings) for _ in range(2)]
    intakes = [build_intake(runtime) for runtime in runtimes]
    await ensure_topics(settings)
    await ensure_indexes(runtimes[0].db, runtimes[0].indexes)
    for runtime in runtimes:
        await runtime.broker.start()  # publishing only: no subscriber was registered
    yield intakes, runtimes[0]
    for runtime in runtimes:
        await runtime.broker.stop()
        if runtime._mongo is not None:
            await runtime._mongo.close()


def record(runtime: ServiceRuntime, data: dict[str, Any], partition: int,
           offset: int) -> InboundRecord:
    return InboundRecord(runtime.topics.submitted, partition, offset, key_of(data),
                         as_bytes(data))


async def test_two_instances_racing_on_one_submission_store_one_complaint(instances) -> None:
    (first, second), runtime = instances
    data = submission()
    complaints = runtime.db["complaints"]
    await asyncio.gather(first.handle([record(runtime, data, 0, 0)]),
                         second.handle([record(runtime, data, 1, 0)]))

    assert await complaints.count_documents({"submission_key": key_of(data).decode()}) == 1
    stored = await complaints.find_one({"submission_key": key_of(data).decode()})
    bootstrap = runtime.settings.kafka_bootstrap_servers
    async with TopicReader(bootstrap, runtime.topics.received) as reader:
        events = for_ref(await reader.wait_count(2), data["channel_ref"])
    # Both answered, both with the winner's stored event.
    assert [e["tracking_id"] for e in events] == [stored["_id"]] * 2
    assert {e["event_id"] for e in events} == {stored["event"]["event_id"]}


async def test_the_tracking_id_key_is_drawn_once_and_kept_in_the_database(instances) -> None:
    """Instances starting together use one key, and so does an instance started later:
    a submission gets the same tracking id from each, whatever secrets were rotated."""
    (first, second), runtime = instances
    derive_first, derive_second = await asyncio.gather(first.prepare(), second.prepare())
    later = build_intake(ServiceRuntime("intake", runtime.settings.model_copy(
        update={"citizen_secret_key": SecretStr("a rotated secret key, long enough to use")})))
    derive_later = await later.prepare()
    ids = {derive("web:one submission", 0) for derive in (derive_first, derive_second,
                                                          derive_later)}
    assert len(ids) == 1
    assert await runtime.db["intake_keys"].count_documents({}) == 1
    await later.store.collection.database.client.close()


async def test_a_redelivered_batch_gets_the_same_answers(instances) -> None:
    (intake, _), runtime = instances  # rate limit: 2 an hour
    email = f"redelivery.{submission()['channel_ref']}@warga.example.id"
    sent = [submission(reporter={"email": email}) for _ in range(3)]
    batch = [record(runtime, s, 0, offset) for offset, s in enumerate(sent)]
    await intake.handle(batch)
    await intake.handle(batch)  # a crash before the commit: the whole batch again

    bootstrap = runtime.settings.kafka_bootstrap_servers
    async with TopicReader(bootstrap, runtime.topics.received) as reader:
        received = await reader.wait_count(4)
    async with TopicReader(bootstrap, runtime.topics.rejected) as reader:
        rejected = await reader.wait_count(2)
    for accepted in sent[:2]:  # not refused by their own earlier count
        events = for_ref(received, accepted["channel_ref"])
        assert len(events) == 2 and len({(e["event_id"], e["tracking_id"]) for e in events}) == 1
    assert [r["channel_ref"] for r in rejected] == [sent[2]["channel_ref"]] * 2
    assert len({r["event_id"] for r in rejected}) == 1
    assert not for_ref(received, sent[2]["channel_ref"])
    keys = [key_of(s).decode() for s in sent]
    assert await runtime.db["complaints"].count_documents({"submission_key": {"$in": keys}}) == 2


async def test_the_flood_guard_counts_across_chunks_of_a_batch(
        instances, monkeypatch: pytest.MonkeyPatch) -> None:
    (intake, _), runtime = instances  # rate limit: 2 an hour
    monkeypatch.setattr(handlers, "CHUNK", 2)  # the batch below flows as three chunks
    phone = "0813 4000 " + str(uuid.uuid4().int)[:4]
    earlier = submission(reporter={"phone": phone})
    await intake.handle([record(runtime, earlier, 1, 0)])  # already stored: counts 1
    sent = [submission(reporter={"phone": phone, "email": f"x{n}.{phone[-4:]}@w.example.id"})
            for n in range(5)]
    batch = [record(runtime, s, 1, offset) for offset, s in enumerate(sent, start=1)]
    await intake.handle(batch)
    await intake.handle(batch)  # redelivered: the same answers

    bootstrap = runtime.settings.kafka_bootstrap_servers
    refs = [s["channel_ref"] for s in sent]
    async with TopicReader(bootstrap, runtime.topics.received) as reader:
        received = await reader.wait_for(
            lambda vs: len([v for v in vs if v["channel_ref"] in refs]) >= 2)
    async with TopicReader(bootstrap, runtime.topics.rejected) as reader:
        rejected = await reader.wait_for(
            lambda vs: len([v for v in vs if v["channel_ref"] in refs]) >= 8)
    assert {v["channel_ref"] for v in received if v["channel_ref"] in refs} == {refs[0]}
    assert sorted(v["channel_ref"] for v in rejected) == sorted(refs[1:] * 2)
    keys = [key_of(s).decode() for s in [earlier, *sent]]
    assert await runtime.db["complaints"].count_documents({"submission_key": {"$in": keys}}) == 2


async def test_a_submission_whose_tracking_id_is_taken_is_stored_under_its_next_one(
        instances) -> None:
    (intake, _), runtime = instances
    derive = await intake.prepare()
    clashing = derive("web:the first id of every submission", 0)
    # Every submission's first id is the same: the second one clashes with the first.
    intake.tracking_id_for = lambda key, attempt: clashing if attempt == 0 else derive(key, attempt)
    first, second = submission(), submission()
    first_key, second_key = key_of(first).decode(), key_of(second).decode()
    await intake.handle([record(runtime, first, 0, 0)])
    await intake.handle([record(runtime, second, 0, 1)])
    await intake.handle([record(runtime, second, 0, 2)])  # sent again: found past the clash

    complaints = runtime.db["complaints"]
    # A new deployment has no index on the submission key: `_id` alone keeps them apart.
    assert LEGACY_SUBMISSION_KEY_INDEX not in await complaints.index_information()
    stored = {doc["submission_key"]: doc["_id"] async for doc in complaints.find(
        {"submission_key": {"$in": [first_key, second_key]}})}
    assert stored == {first_key: clashing, second_key: derive(second_key, 1)}
    bootstrap = runtime.settings.kafka_bootstrap_servers
    async with TopicReader(bootstrap, runtime.topics.received) as reader:
        received = await reader.wait_count(3)
    assert [e["tracking_id"] for e in for_ref(received, second["channel_ref"])] == [
        derive(second_key, 1)] * 2
    assert len({e["event_id"] for e in for_ref(received, second["channel_ref"])}) == 1
    # The look-up of a refused submission follows the same ids.
    found = await intake.store.find_stored([first_key, second_key, "web:never sent"],
                                           intake.tracking_id_for)
    assert {key: doc["_id"] for key, doc in found.items()} == stored

    # Two of one batch whose first id is taken: both stored, each under its second id.
    third, fourth = submission(), submission()
    await intake.handle([record(runtime, third, 0, 3), record(runtime, fourth, 0, 4)])
    for data in (third, fourth):
        key = key_of(data).decode()
        assert [doc["_id"] async for doc in complaints.find({"submission_key": key})] == [
            derive(key, 1)]


async def test_a_complaint_stored_by_an_earlier_version_is_not_stored_again(instances) -> None:
    """Earlier versions drew random tracking ids and kept one complaint per submission by a
    unique index on `submission_key`; on a deployment that has it, a submission stored
    then and sent again is answered with its stored complaint."""
    (intake, _), runtime = instances
    complaints = runtime.db["complaints"]
    await complaints.create_index("submission_key", unique=True,
                                  name=LEGACY_SUBMISSION_KEY_INDEX)
    data = submission()
    await intake.handle([record(runtime, data, 0, 0)])
    key = key_of(data).decode()
    stored = await complaints.find_one({"submission_key": key})
    # As an earlier version would have stored it: under another (random) tracking id.
    await complaints.delete_one({"_id": stored["_id"]})
    stored["_id"] = "0000-0001-Y"
    stored["event"]["tracking_id"] = "0000-0001-Y"
    await complaints.insert_one(stored)

    await intake.handle([record(runtime, data, 0, 1)])  # its derived id is free: the index
    assert await complaints.count_documents({"submission_key": key}) == 1
    bootstrap = runtime.settings.kafka_bootstrap_servers
    async with TopicReader(bootstrap, runtime.topics.received) as reader:
        received = await reader.wait_count(2)
    # (the two events are keyed by different tracking ids: partitions, hence order, differ)
    assert sorted(e["tracking_id"] for e in for_ref(received, data["channel_ref"])) == sorted(
        ["0000-0001-Y", intake.tracking_id_for(key, 0)])


async def test_one_instance_counts_what_another_stored(instances) -> None:
    (first, second), runtime = instances  # rate limit: 2 an hour
    phone = "0813 5000 " + str(uuid.uuid4().int)[:4]
    sent = [submission(reporter={"phone": phone, "email": f"y{n}.{phone[-4:]}@w.example.id"})
            for n in range(3)]
    await first.handle([record(runtime, sent[0], 0, 0), record(runtime, sent[1], 0, 1)])
    await second.handle([record(runtime, sent[2], 1, 0)])  # from the first one's marks

    bootstrap = runtime.settings.kafka_bootstrap_servers
    async with TopicReader(bootstrap, runtime.topics.rejected) as reader:
        rejected = await reader.wait_for(lambda vs: for_ref(vs, sent[2]["channel_ref"]))
    assert for_ref(rejected, sent[2]["channel_ref"])[0]["errors"][0]["code"] == "rate_limited"
    keys = [key_of(s).decode() for s in sent]
    assert await runtime.db["complaints"].count_documents({"submission_key": {"$in": keys}}) == 2


async def test_another_instances_marks_count_from_its_next_refresh(instances) -> None:
    """Each instance counts from its window in memory and reads the other instances' new
    marks every `refresh_seconds`: until then, they are not counted (the flood guard's
    lag); after, they are."""
    (first, second), runtime = instances  # rate limit: 2 an hour
    ticks = [0.0]
    second.marks.monotonic = lambda: ticks[0]
    await second.handle([record(runtime, submission(), 1, 0)])  # its window read
    phone = "0813 5100 " + str(uuid.uuid4().int)[:4]
    sent = [submission(reporter={"phone": phone}) for _ in range(4)]
    await first.handle([record(runtime, sent[0], 0, 0), record(runtime, sent[1], 0, 1)])

    await second.handle([record(runtime, sent[2], 1, 1)])  # within the second: not read yet
    ticks[0] = second.marks.refresh_seconds
    await second.handle([record(runtime, sent[3], 1, 2)])  # read now: over the limit

    bootstrap = runtime.settings.kafka_bootstrap_servers
    async with TopicReader(bootstrap, runtime.topics.rejected) as reader:
        rejected = await reader.wait_for(lambda vs: for_ref(vs, sent[3]["channel_ref"]))
    assert for_ref(rejected, sent[3]["channel_ref"])[0]["errors"][0]["code"] == "rate_limited"
    assert not for_ref(rejected, sent[2]["channel_ref"])
    keys = [key_of(s).decode() for s in sent]
    assert await runtime.db["complaints"].count_documents({"submission_key": {"$in": keys}}) == 3


async def test_marks_stored_without_their_complaint_let_the_redelivery_store_it(
        instances) -> None:
    """A crash between the two writes of a chunk, marks first: the redelivered submission
    finds its own marks (stored before), so it is admitted although its contact is at
    the limit, and stored once."""
    (intake, _), runtime = instances  # rate limit: 2 an hour
    phone = "0813 6000 " + str(uuid.uuid4().int)[:4]
    stored = [submission(reporter={"phone": phone}) for _ in range(2)]
    lost = submission(reporter={"phone": phone})
    await intake.handle([record(runtime, s, 0, n) for n, s in enumerate(stored)])
    first = await runtime.db["complaints"].find_one({"submission_key": key_of(stored[0]).decode()})
    await intake.marks.add([Mark(key_of(lost).decode(), first["contact_keys"],
                                 intake.clock.now())])  # ... and its complaint lost

    await intake.handle([record(runtime, lost, 0, 2)])  # the redelivery
    bootstrap = runtime.settings.kafka_bootstrap_servers
    async with TopicReader(bootstrap, runtime.topics.received) as reader:
        received = await reader.wait_for(lambda vs: for_ref(vs, lost["channel_ref"]))
    assert len(for_ref(received, lost["channel_ref"])) == 1
    assert await runtime.db["complaints"].count_documents(
        {"submission_key": key_of(lost).decode()}) == 1


async def test_an_upgraded_deployment_keeps_the_complaints_contact_index(instances) -> None:
    """Earlier versions counted the complaints by an index on their contact keys: intake
    neither creates nor drops it, and still stores the keys, which earlier instances
    running during the upgrade count."""
    (intake, _), runtime = instances
    complaints = runtime.db["complaints"]
    assert LEGACY_CONTACT_INDEX not in await complaints.index_information()  # a new one
    await complaints.create_index([("contact_keys", 1), ("received_at", -1)],
                                  name=LEGACY_CONTACT_INDEX)
    data = submission()
    await intake.handle([record(runtime, data, 0, 0)])
    stored = await complaints.find_one({"submission_key": key_of(data).decode()})
    assert stored["contact_keys"] == intake.contact_keys(
        Reporter(email=data["reporter"]["email"]))
    await ensure_indexes(runtime.db, runtime.indexes)  # as a restart does
    assert LEGACY_CONTACT_INDEX in await complaints.index_information()


async def test_an_upgraded_deployment_keeps_the_marks_contact_index_and_feeds_it(
        instances) -> None:
    """Versions before the window in memory found a chunk's marks by a multikey index on
    its contact keys (`keys`): intake neither creates nor drops it, and still writes the
    keys, so an earlier instance running during the upgrade finds the new chunks; and
    the chunks such an instance writes (no writer) count here."""
    (intake, _), runtime = instances  # rate limit: 2 an hour
    marks = runtime.db["contact_marks"]
    assert "recent_by_contact" not in await marks.index_information()  # a new deployment
    await marks.create_index([("keys", 1), ("received_at", -1)], name="recent_by_contact")
    phone = "0813 7000 " + str(uuid.uuid4().int)[:4]
    first = submission(reporter={"phone": phone})
    await intake.handle([record(runtime, first, 0, 0)])
    (stored,) = await marks.find({"marks.submission_key": key_of(first).decode()}).to_list()
    contacts = stored["marks"][0]["contact_keys"]
    assert contacts and sorted(stored["keys"]) == sorted(contacts)
    found = await marks.find({"keys": {"$in": contacts}}).hint("recent_by_contact").to_list()
    assert [doc["_id"] for doc in found] == [stored["_id"]]  # as the earlier version asks
    contact = contacts[0]
    await ensure_indexes(runtime.db, runtime.indexes)  # as a restart does
    assert "recent_by_contact" in await marks.index_information()

    earlier = {"_id": "written-by-an-earlier-version", "received_at": intake.clock.now(),
               "keys": [contact], "marks": [{"submission_key": "web:earlier",
                                             "contact_keys": [contact],
                                             "received_at": intake.clock.now()}]}
    await marks.insert_one(earlier)
    intake.marks.monotonic = lambda: float("inf")  # the next chunk refreshes the window
    late = submission(reporter={"phone": phone})
    await intake.handle([record(runtime, late, 0, 1)])
    bootstrap = runtime.settings.kafka_bootstrap_servers
    async with TopicReader(bootstrap, runtime.topics.rejected) as reader:
        rejected = await reader.wait_for(lambda vs: for_ref(vs, late["channel_ref"]))
    assert for_ref(rejected, late["channel_ref"])[0]["errors"][0]["code"] == "rate_limited"
