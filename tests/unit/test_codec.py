"""Decoding events: the one-pass path (type found in the raw bytes, pydantic's JSON parser)
gives exactly what parsing and validating separately gives, and everything it cannot
decode takes the separate path, with its specific error."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import AwareDatetime, BaseModel, TypeAdapter, ValidationError

from shared.codec import NotAJsonObject, _decode_event_slowly, decode, decode_event, encode
from shared.contract import (
    Actor,
    ActorType,
    ComplaintReceived,
    ComplaintStatusChanged,
    NotificationSent,
    Reporter,
    SlaBreached,
    SlaWarning,
    Status,
)

NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
TID = "ABCD-EFGH-J"


def samples() -> list[BaseModel]:
    return [
        ComplaintReceived(occurred_at=NOW, tracking_id=TID, channel="sms", channel_ref="r-1",
                          title="Jalan rusak", body='Lubang "besar" di Jl. Yos Sudarso\n\u00e9',
                          category="infrastruktur", region_code="64.08",
                          reporter=Reporter(name="Siti", phone="+6281234567890"),
                          submitted_at=NOW, citizen_secret="S3CR-ET"),
        ComplaintStatusChanged(occurred_at=NOW, tracking_id=TID, status=Status.ASSIGNED,
                               agency_id="kutim-pupr",
                               actor=Actor(type=ActorType.SYSTEM, id="router")),
        SlaWarning(occurred_at=NOW, tracking_id=TID, stage="response", threshold=0.5,
                   due_at=NOW),
        SlaBreached(occurred_at=NOW, tracking_id=TID, stage="response", level=2, due_at=NOW,
                    overdue_seconds=3600.0),
        NotificationSent(occurred_at=NOW, tracking_id=TID, notification_id="n-1",
                         source_event_id="e-1", channel="email", recipient="s***@x.id",
                         template="acknowledgement"),
    ]


@pytest.mark.parametrize("event", samples(), ids=lambda e: type(e).__name__)
def test_one_pass_gives_what_parsing_and_validating_apart_gives(event: BaseModel) -> None:
    raw = encode(event)
    decoded = decode_event(raw)
    assert type(decoded) is type(event)
    assert decoded == _decode_event_slowly(raw) == event
    assert decoded.model_dump() == event.model_dump()


def test_unknown_fields_are_kept_either_way() -> None:
    data = json.loads(encode(samples()[1]))
    data["from_a_newer_producer"] = {"nested": [1, 2]}
    raw = json.dumps(data).encode()
    assert decode_event(raw) == _decode_event_slowly(raw)
    assert decode_event(raw).model_extra == {"from_a_newer_producer": {"nested": [1, 2]}}


def test_a_nested_event_type_found_first_is_not_taken_for_the_events() -> None:
    status = json.loads(encode(samples()[1]))
    raw = json.dumps({"note": {"event_type": "sla.warning"}, **status}).encode()
    assert raw.find(b'"sla.warning"') < raw.find(b'"complaint.status_changed"')
    decoded = decode_event(raw)
    assert type(decoded) is ComplaintStatusChanged
    assert decoded.status is Status.ASSIGNED


def test_a_text_or_a_spaced_out_document_decodes_as_well() -> None:
    event = samples()[2]
    pretty = json.dumps(json.loads(encode(event)), indent=2)
    assert decode_event(pretty) == event
    assert decode_event(pretty.encode()) == event


@pytest.mark.parametrize(("raw", "error", "says"), [
    (b"not json", NotAJsonObject, "not JSON"),
    (b'{"event_type": "complaint.unknown"}', ValueError, "complaint.unknown"),
    (b"[1, 2]", NotAJsonObject, "JSON list"),
    (b'{"event_type": "sla.warning", "tracking_id": "X"}', ValidationError, "stage"),
    (b'{"event_type": "sla.warning", \xff}', NotAJsonObject, "not UTF-8"),
])
def test_what_cannot_be_decoded_gets_the_specific_error(raw: bytes, error: type[Exception],
                                                         says: str) -> None:
    with pytest.raises(error, match=says):
        decode_event(raw)


def test_a_key_given_twice_counts_its_last_value_either_way() -> None:
    head = b'{"event_type":"sla.warning","tracking_id":"X","stage":"a","threshold":0.5,' \
           b'"due_at":"2026-01-01T00:00:00Z"'
    twice = head + b',"stage":"b"}'
    assert decode_event(twice).stage == _decode_event_slowly(twice).stage == "b"
    retyped = head + b',"event_type":"sla.breached"}'  # the last type wins, and fails
    with pytest.raises(ValidationError, match="SlaBreached"):
        decode_event(retyped)
    with pytest.raises(ValidationError, match="SlaBreached"):
        _decode_event_slowly(retyped)


def test_decoding_into_a_given_model_gives_what_the_separate_path_gives() -> None:
    event = samples()[0]
    raw = encode(event)
    assert decode(raw, ComplaintReceived) == ComplaintReceived.model_validate(json.loads(raw))
    assert decode(raw.decode(), ComplaintReceived) == event
    with pytest.raises(NotAJsonObject, match="not JSON"):
        decode(b"{oops", ComplaintReceived)
    with pytest.raises(NotAJsonObject, match="JSON list"):
        decode(b"[]", ComplaintReceived)
    with pytest.raises(ValidationError, match="citizen_secret"):
        decode(raw.replace(b'"citizen_secret"', b'"other"'), ComplaintReceived)


@pytest.mark.parametrize("value", [
    datetime(2026, 3, 2, 1, 0, 5, 120_000, tzinfo=UTC),
    datetime(2026, 3, 2, 9, 0, 5, tzinfo=timezone(timedelta(hours=8))),  # WITA
    datetime(2026, 3, 2, 1, 0, tzinfo=timezone(timedelta(0), "GMT")),  # zero, not UTC
    TypeAdapter(AwareDatetime).validate_json('"2026-03-02T01:00:00.5Z"'),  # pydantic's tz
])
def test_timestamps_are_written_in_utc_with_a_z(value: datetime) -> None:
    from shared.contract.common import _rfc3339_utc

    written = _rfc3339_utc(value)
    assert written == value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    assert written.endswith("Z") and datetime.fromisoformat(written) == value


def test_event_ids_are_distinct_version_4_uuids_in_canonical_form() -> None:
    import uuid

    from shared.contract import new_event_id

    ids = [new_event_id() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    for text in ids:
        value = uuid.UUID(text)
        assert (value.version, value.variant, str(value)) == (4, uuid.RFC_4122, text)
    set_bits = [sum(uuid.UUID(t).int >> bit & 1 for t in ids) for bit in range(128)]
    fixed = {bit for bit in range(128) if set_bits[bit] in (0, len(ids))}
    assert fixed == {76, 77, 78, 79, 62, 63}  # the version and variant bits, no others
