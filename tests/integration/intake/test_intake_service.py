"""Intake as a real process on the real broker and database: every submission answered,
none lost, none counted twice (issue #3). One intake process serves the whole module."""

from __future__ import annotations

import uuid
from typing import Any

from shared.devinfra.services import ServiceProcess
from shared.topics import Topics
from tests.support.kafka import TopicReader

from .conftest import as_bytes, for_ref, key_of, metric, send, submission


async def received_for(bootstrap: str, topics: Topics, channel_ref: str, count: int = 1,
                       timeout: float = 30) -> list[dict[str, Any]]:
    async with TopicReader(bootstrap, topics.received) as reader:
        values = await reader.wait_for(
            lambda vs: len(for_ref(vs, channel_ref)) >= count, timeout)
    return for_ref(values, channel_ref)


async def test_bad_input_is_answered_and_intake_keeps_serving(
        intake: ServiceProcess, bootstrap: str, topics: Topics) -> None:
    not_objects = [b"\xff\xfe not UTF-8", b"{not json", b'["an", "array"]', b"42", b""]
    invalid = submission(body="short", reporter={"phone": "12345", "language": "jv"})
    valid = submission()
    items: list[tuple[bytes | None, bytes, int | None]] = [
        (b"web:garbage", raw, 0) for raw in not_objects]
    items += [(key_of(invalid), as_bytes(invalid), 0), (key_of(valid), as_bytes(valid), 0)]
    await send(bootstrap, topics.submitted, items)

    # The valid submission after all the bad ones is received: intake kept serving.
    (event,) = await received_for(bootstrap, topics, valid["channel_ref"])
    assert event["event_type"] == "complaint.received"

    async with TopicReader(bootstrap, topics.rejected) as reader:
        rejected = for_ref(await reader.wait_for(
            lambda vs: for_ref(vs, invalid["channel_ref"])), invalid["channel_ref"])
    assert len(rejected) == 1
    assert rejected[0]["channel"] == "web"
    assert {(e["field"], e["code"]) for e in rejected[0]["errors"]} == {
        ("body", "too_short"), ("reporter.phone", "invalid_phone"),
        ("reporter.language", "invalid_choice")}
    assert reader.records[0].key == key_of(invalid)

    async with TopicReader(bootstrap, topics.name("complaints.submitted.dlq")) as dlq:
        letters = await dlq.wait_records(len(not_objects))
    assert [r.value for r in letters] == not_objects
    for letter in letters:
        headers = {k: v.decode() for k, v in letter.headers}
        assert letter.key == b"web:garbage"
        assert headers["lapor-error-type"] == "not_json_object"
        assert headers["lapor-error"]
        assert headers["lapor-source-topic"] == topics.submitted
        assert headers["lapor-source-partition"] == "0"
        assert int(headers["lapor-source-offset"]) >= 0
        assert headers["lapor-attempts"] == "1"
        assert headers["lapor-service"] == "intake"
    assert len({dict(r.headers)["lapor-source-offset"] for r in letters}) == len(not_objects)

    metrics = intake.metrics()
    assert metric(metrics, "lapor_intake_dead_lettered_total") == len(not_objects)
    assert metric(metrics, "lapor_intake_rejections_total", code="too_short") >= 1
    assert metric(metrics, "lapor_intake_rejections_total", code="invalid_phone") >= 1
    assert metric(metrics, "lapor_intake_submissions_total", channel="web") >= 2
    assert metric(metrics, "lapor_intake_processing_seconds_count") >= 2


async def test_the_same_submission_twice_is_one_complaint(
        intake: ServiceProcess, bootstrap: str, topics: Topics, complaints: Any) -> None:
    data = submission()
    await send(bootstrap, topics.submitted, [(key_of(data), as_bytes(data), None)])
    (first,) = await received_for(bootstrap, topics, data["channel_ref"])

    # Sent again later (an adapter retrying): answered with the stored complaint.
    await send(bootstrap, topics.submitted, [(key_of(data), as_bytes(data), None)])
    events = await received_for(bootstrap, topics, data["channel_ref"], count=2)
    assert {e["tracking_id"] for e in events} == {first["tracking_id"]}
    assert {e["event_id"] for e in events} == {first["event_id"]}
    assert {e["citizen_secret"] for e in events} == {first["citizen_secret"]}
    assert await complaints.count_documents({"submission_key": key_of(data).decode()}) == 1
    assert metric(intake.metrics(), "lapor_intake_duplicate_submissions_total") >= 1


async def test_copies_on_every_partition_at_once_are_one_complaint(
        intake: ServiceProcess, bootstrap: str, topics: Topics, complaints: Any) -> None:
    data = submission(channel="whatsapp", reporter={"phone": "0812 5550 7788"})
    copies = [(f"copy-{p}".encode(), as_bytes(data), p) for p in range(3)]
    # A marker behind the copies on each partition: once all are received, every copy
    # has been handled.
    markers = [submission() for _ in range(3)]
    await send(bootstrap, topics.submitted,
               copies + [(key_of(m), as_bytes(m), p) for p, m in enumerate(markers)])
    async with TopicReader(bootstrap, topics.received) as reader:
        values = await reader.wait_for(
            lambda vs: all(for_ref(vs, m["channel_ref"]) for m in markers))
    events = for_ref(values, data["channel_ref"])
    assert events, "the submission was not received"
    assert len({e["tracking_id"] for e in events}) == 1
    assert len({e["event_id"] for e in events}) == 1
    assert events[0]["reporter"]["phone"] == "+6281255507788"  # normalised to E.164
    assert await complaints.count_documents({"submission_key": key_of(data).decode()}) == 1


async def test_the_eleventh_from_one_contact_in_an_hour_is_rate_limited(
        intake: ServiceProcess, bootstrap: str, topics: Topics, complaints: Any) -> None:
    email = f"banjir.{submission()['channel_ref']}@warga.example.id"
    sent = [submission(reporter={"email": email.upper() if n % 2 else email})
            for n in range(11)]
    # One partition, so the order is defined; spellings of the address alternate.
    await send(bootstrap, topics.submitted, [(key_of(s), as_bytes(s), 1) for s in sent])

    async with TopicReader(bootstrap, topics.rejected) as reader:
        values = await reader.wait_for(lambda vs: for_ref(vs, sent[-1]["channel_ref"]))
    (rejection,) = for_ref(values, sent[-1]["channel_ref"])
    assert rejection["errors"] == [{"field": "reporter", "code": "rate_limited",
                                    "message": rejection["errors"][0]["message"]}]
    assert not any(for_ref(values, s["channel_ref"]) for s in sent[:10])
    async with TopicReader(bootstrap, topics.received) as received:
        values = await received.wait_for(
            lambda vs: all(for_ref(vs, s["channel_ref"]) for s in sent[:10]))
    assert not for_ref(values, sent[-1]["channel_ref"])
    keys = [key_of(s).decode() for s in sent]
    assert await complaints.count_documents({"submission_key": {"$in": keys}}) == 10
    assert metric(intake.metrics(), "lapor_intake_rejections_total", code="rate_limited") >= 1


async def test_the_limit_counts_complaints_of_earlier_batches_from_their_marks(
        intake: ServiceProcess, bootstrap: str, topics: Topics, complaints: Any) -> None:
    phone = "+62812" + str(uuid.uuid4().int)[:7]
    first = [submission(reporter={"name": "Budi", "phone": phone,
                                  "email": f"budi.{n}.{phone[1:]}@warga.example.id"})
             for n in range(10)]
    await send(bootstrap, topics.submitted, [(key_of(s), as_bytes(s), 1) for s in first])
    async with TopicReader(bootstrap, topics.received) as received:
        await received.wait_for(lambda vs: all(for_ref(vs, s["channel_ref"]) for s in first))
    # Counted from the marks of earlier batches (kept in memory as they are stored, and
    # stored for other instances); the complaints have no index to count with.
    assert list(await complaints.index_information()) == ["_id_"]
    marks = complaints.database["contact_marks"]
    assert await marks.count_documents({"marks.submission_key": key_of(first[0]).decode()}) == 1
    assert metric(intake.metrics(), "lapor_intake_flood_guard_marks") >= len(first)
    late = submission(reporter={"name": "Budi", "phone": phone})
    await send(bootstrap, topics.submitted, [(key_of(late), as_bytes(late), 1)])
    async with TopicReader(bootstrap, topics.rejected) as reader:
        values = await reader.wait_for(lambda vs: for_ref(vs, late["channel_ref"]))
    (rejection,) = for_ref(values, late["channel_ref"])
    assert rejection["errors"][0]["code"] == "rate_limited"
    again = first[3]  # a re-send of a stored one is answered with it, never refused
    await send(bootstrap, topics.submitted, [(key_of(again), as_bytes(again), 1)])
    async with TopicReader(bootstrap, topics.received) as received:
        values = await received.wait_for(lambda vs: for_ref(vs, again["channel_ref"]))
    assert await complaints.count_documents({"submission_key": key_of(again).decode()}) == 1


async def test_a_near_identical_complaint_points_to_the_first(
        intake: ServiceProcess, bootstrap: str, topics: Topics) -> None:
    first = submission(title="Lampu jalan padam",
                       body=f"Lampu penerangan jalan di gang {submission()['channel_ref']} "
                            "padam sejak dua minggu, sangat gelap dan rawan kejahatan.")
    await send(bootstrap, topics.submitted, [(key_of(first), as_bytes(first), None)])
    (original,) = await received_for(bootstrap, topics, first["channel_ref"])
    assert original["possible_duplicate_of"] is None

    retyped = submission(title="lampu jalan padam!!", body=first["body"].upper()
                         .replace("SANGAT", "SANGT").replace(",", ""))
    elsewhere = submission(title=first["title"], body=first["body"], region_code="64.08.01")
    different = submission(title=first["title"], body="Lampu jalan di depan masjid raya mati "
                           "total, warga meminta dinas segera mengganti lampunya.")
    # Within one batch: a brand-new text and its near-copy right behind it.
    fresh = submission(body=f"Sampah menumpuk di pasar {submission()['channel_ref']} "
                            "selama seminggu dan menimbulkan bau busuk.",
                       category="environment.waste")
    fresh_copy = submission(body=fresh["body"] + " Mohon diangkut.",
                            category="environment.waste")
    later = [retyped, elsewhere, different, fresh, fresh_copy]
    await send(bootstrap, topics.submitted, [(key_of(s), as_bytes(s), 2) for s in later])
    async with TopicReader(bootstrap, topics.received) as reader:
        values = await reader.wait_for(
            lambda vs: all(for_ref(vs, s["channel_ref"]) for s in later))
    flag = {s["channel_ref"]: for_ref(values, s["channel_ref"])[0]["possible_duplicate_of"]
            for s in later}
    assert flag[retyped["channel_ref"]] == original["tracking_id"]
    assert flag[elsewhere["channel_ref"]] is None  # another region
    assert flag[different["channel_ref"]] is None  # another text
    fresh_event = for_ref(values, fresh["channel_ref"])[0]
    assert flag[fresh["channel_ref"]] is None
    assert flag[fresh_copy["channel_ref"]] == fresh_event["tracking_id"]
    assert metric(intake.metrics(), "lapor_intake_possible_duplicates_total") >= 2
