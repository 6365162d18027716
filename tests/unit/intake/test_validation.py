"""validate_submission: every rule of CONTRACT.md section 3, all errors at once, never a crash."""

from __future__ import annotations

import copy
import json
import math
import random
import re
from datetime import UTC, datetime
from typing import Any

import pytest

from services.intake.domain.errors import ERROR_CODES, MAX_REPORTED_ERRORS, ErrorCode
from services.intake.domain.validation import (
    MAX_ATTACHMENT_BYTES,
    readable_reference,
    validate_submission,
)
from shared.contract import FieldError, Submission

from .conftest import VALID_SUBMISSION

DELETE = object()
_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def patched(changes: dict[str, Any]) -> dict[str, Any]:
    """VALID_SUBMISSION with `{"reporter.phone": "x", "attachments[0].url": DELETE}` applied."""
    data = copy.deepcopy(VALID_SUBMISSION)
    for path, value in changes.items():
        steps: list[str | int] = [
            key if key else int(index) for key, index in _STEP.findall(path)
        ]
        target: Any = data
        for step in steps[:-1]:
            target = target[step]
        if value is DELETE:
            del target[steps[-1]]
        else:
            target[steps[-1]] = copy.deepcopy(value)
    return data


def nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"a": value}
    return value


def error_pairs(result: object) -> set[tuple[str, str]]:
    assert isinstance(result, list), f"expected errors, got {result!r}"
    assert all(isinstance(e, FieldError) for e in result)
    return {(e.field, e.code) for e in result}


_ATTACHMENT = VALID_SUBMISSION["attachments"][0]

BAD_SUBMISSIONS: list[tuple[str, dict[str, Any], set[tuple[str, str]]]] = [
    # channel
    ("channel missing", {"channel": DELETE}, {("channel", "required")}),
    ("channel null", {"channel": None}, {("channel", "required")}),
    ("channel unknown", {"channel": "fax"}, {("channel", "invalid_choice")}),
    ("channel upper case", {"channel": "WEB"}, {("channel", "invalid_choice")}),
    ("channel number", {"channel": 5}, {("channel", "invalid_type")}),
    # channel_ref
    ("channel_ref missing", {"channel_ref": DELETE}, {("channel_ref", "required")}),
    ("channel_ref empty", {"channel_ref": ""}, {("channel_ref", "too_short")}),
    ("channel_ref too long", {"channel_ref": "r" * 201}, {("channel_ref", "too_long")}),
    ("channel_ref number", {"channel_ref": 12345}, {("channel_ref", "invalid_type")}),
    ("channel_ref NUL", {"channel_ref": "abc\x00def"}, {("channel_ref", "invalid_characters")}),
    ("channel_ref surrogate", {"channel_ref": "abc\ud800"},
     {("channel_ref", "invalid_characters")}),
    # submitted_at
    ("submitted_at missing", {"submitted_at": DELETE}, {("submitted_at", "required")}),
    ("submitted_at naive", {"submitted_at": "2026-01-05T09:30:00"},
     {("submitted_at", "invalid_datetime")}),
    ("submitted_at date only", {"submitted_at": "2026-01-05"},
     {("submitted_at", "invalid_datetime")}),
    ("submitted_at 30 Feb", {"submitted_at": "2026-02-30T10:00:00Z"},
     {("submitted_at", "invalid_datetime")}),
    ("submitted_at local format", {"submitted_at": "05/01/2026 09:30"},
     {("submitted_at", "invalid_datetime")}),
    ("submitted_at offset 24h", {"submitted_at": "2026-01-05T09:30:00+24:00"},
     {("submitted_at", "invalid_datetime")}),
    ("submitted_at epoch number", {"submitted_at": 1767580200}, {("submitted_at", "invalid_type")}),
    ("submitted_at overflows UTC", {"submitted_at": "0001-01-01T00:00:00+07:00"},
     {("submitted_at", "invalid_datetime")}),
    # kind, title, body
    ("kind unknown", {"kind": "complain"}, {("kind", "invalid_choice")}),
    ("kind boolean", {"kind": True}, {("kind", "invalid_type")}),
    ("title too long", {"title": "t" * 201}, {("title", "too_long")}),
    ("title list", {"title": ["Jalan rusak"]}, {("title", "invalid_type")}),
    ("body missing", {"body": DELETE}, {("body", "required")}),
    ("body short", {"body": "Rusak berat"[:7]}, {("body", "too_short")}),
    ("body short after cleaning", {"body": "  \x00\x01 pendek \x7f \r\n"}, {("body", "too_short")}),
    ("body too long", {"body": "b" * 10_001}, {("body", "too_long")}),
    ("body number", {"body": 42}, {("body", "invalid_type")}),
    # category, region_code
    ("category unknown", {"category": "infrastructure.bridges"},
     {("category", "unknown_category")}),
    ("category number", {"category": 7}, {("category", "invalid_type")}),
    ("region_code single digits", {"region_code": "64.8.4"},
     {("region_code", "invalid_region_format")}),
    ("region_code without dots", {"region_code": "6408"},
     {("region_code", "invalid_region_format")}),
    ("region_code trailing newline", {"region_code": "64.08\n"},
     {("region_code", "invalid_region_format")}),
    ("region_code Arabic-Indic digits", {"region_code": "\u0666\u0664"},
     {("region_code", "invalid_region_format")}),
    ("region_code unknown province", {"region_code": "99.01"}, {("region_code", "unknown_region")}),
    ("region_code unknown district", {"region_code": "64.08.99"},
     {("region_code", "unknown_region")}),
    ("region_code number", {"region_code": 64}, {("region_code", "invalid_type")}),
    # location
    ("location text", {"location": "Sangatta"}, {("location", "invalid_type")}),
    ("lat out of range", {"location.lat": 91}, {("location.lat", "invalid_coordinates")}),
    ("lon out of range", {"location.lon": -180.5}, {("location.lon", "invalid_coordinates")}),
    ("lat NaN", {"location.lat": math.nan}, {("location.lat", "invalid_coordinates")}),
    ("lon infinite", {"location.lon": math.inf}, {("location.lon", "invalid_coordinates")}),
    ("lat huge integer", {"location.lat": 10**400}, {("location.lat", "invalid_coordinates")}),
    ("lat text", {"location.lat": "0.51"}, {("location.lat", "invalid_type")}),
    ("lat boolean", {"location.lat": True}, {("location.lat", "invalid_type")}),
    ("lat without lon", {"location.lon": DELETE}, {("location", "invalid_coordinates")}),
    ("address too long", {"location.address": "a" * 501}, {("location.address", "too_long")}),
    # reporter
    ("reporter text", {"reporter": "Siti"}, {("reporter", "invalid_type")}),
    ("phone garbage", {"reporter.phone": "12345"}, {("reporter.phone", "invalid_phone")}),
    ("phone letters", {"reporter.phone": "0812-ABCD-7890"}, {("reporter.phone", "invalid_phone")}),
    ("phone number type", {"reporter.phone": 81234567890}, {("reporter.phone", "invalid_type")}),
    ("email without domain", {"reporter.email": "siti@"}, {("reporter.email", "invalid_email")}),
    ("email with space", {"reporter.email": "siti aminah@example.id"},
     {("reporter.email", "invalid_email")}),
    ("email two @", {"reporter.email": "siti@aminah@example.id"},
     {("reporter.email", "invalid_email")}),
    ("language unknown", {"reporter.language": "jv"}, {("reporter.language", "invalid_choice")}),
    ("anonymous text", {"reporter.anonymous": "true"}, {("reporter.anonymous", "invalid_type")}),
    ("confidential integer", {"reporter.confidential": 1},
     {("reporter.confidential", "invalid_type")}),
    ("nik short", {"reporter.nik": "1234"}, {("reporter.nik", "invalid_nik")}),
    ("nik unknown district", {"reporter.nik": "9999995505900001"},
     {("reporter.nik", "invalid_nik")}),
    ("nik impossible birth day", {"reporter.nik": "6408049905900001"},
     {("reporter.nik", "invalid_nik")}),
    ("nik number type", {"reporter.nik": 6408045505900001}, {("reporter.nik", "invalid_type")}),
    ("name too long", {"reporter.name": "n" * 201}, {("reporter.name", "too_long")}),
    # attachments
    ("attachments object", {"attachments": {"url": "https://x.id/a"}},
     {("attachments", "invalid_type")}),
    ("eleven attachments", {"attachments": [_ATTACHMENT] * 11},
     {("attachments", "too_many_attachments")}),
    ("attachment http", {"attachments[0].url": "http://files.example.id/1.jpg"},
     {("attachments[0].url", "invalid_url")}),
    ("attachment ftp", {"attachments[0].url": "ftp://files.example.id/1.jpg"},
     {("attachments[0].url", "invalid_url")}),
    ("attachment no host", {"attachments[0].url": "https:///1.jpg"},
     {("attachments[0].url", "invalid_url")}),
    ("attachment credentials", {"attachments[0].url": "https://user:pw@files.example.id/1.jpg"},
     {("attachments[0].url", "invalid_url")}),
    ("attachment url too long", {"attachments[0].url": "https://x.id/" + "p" * 2100},
     {("attachments[0].url", "too_long")}),
    ("attachment too large", {"attachments[0].size_bytes": MAX_ATTACHMENT_BYTES + 1},
     {("attachments[0].size_bytes", "attachment_too_large")}),
    ("attachment size boolean", {"attachments[0].size_bytes": True},
     {("attachments[0].size_bytes", "invalid_type")}),
    ("attachment size float", {"attachments[0].size_bytes": 1.5},
     {("attachments[0].size_bytes", "invalid_type")}),
    ("attachment size text", {"attachments[0].size_bytes": "1000"},
     {("attachments[0].size_bytes", "invalid_type")}),
    ("attachment size negative", {"attachments[0].size_bytes": -1},
     {("attachments[0].size_bytes", "invalid_size")}),
    ("attachment content type", {"attachments[0].content_type": "jpeg"},
     {("attachments[0].content_type", "invalid_content_type")}),
    ("attachment url missing", {"attachments[0].url": DELETE},
     {("attachments[0].url", "required")}),
    ("attachment is a string", {"attachments[0]": "https://files.example.id/1.jpg"},
     {("attachments[0]", "invalid_type")}),
    # structure: operator injection and nesting, also in fields intake would drop
    ("top-level $where", {"$where": "sleep(1000)"}, {("$where", "forbidden_key")}),
    ("operator in reporter", {"reporter.$gt": ""}, {("reporter.$gt", "forbidden_key")}),
    ("operator as email", {"reporter.email": {"$ne": None}},
     {("reporter.email", "invalid_type"), ("reporter.email.$ne", "forbidden_key")}),
    ("NUL in key", {"reporter.na\x00me": "x"}, {("reporter.na\\u0000me", "forbidden_key")}),
    ("operator in attachment list", {"extra": [{"ok": [{"$set": 1}]}]},
     {("extra[0].ok[0].$set", "forbidden_key")}),
    ("deep unknown field", {"extra": nested(10)}, {("extra.a.a.a.a.a.a.a", "too_deep")}),
    ("deep list", {"attachments": [[[[[[[[["x"]]]]]]]]]},
     {("attachments[0]", "invalid_type"), ("attachments[0][0][0][0][0][0][0]", "too_deep")}),
]


def test_there_are_at_least_45_distinct_bad_submissions() -> None:
    assert len(BAD_SUBMISSIONS) >= 45
    assert len({name for name, _, _ in BAD_SUBMISSIONS}) == len(BAD_SUBMISSIONS)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [pytest.param(changes, expected, id=name) for name, changes, expected in BAD_SUBMISSIONS],
)
def test_bad_submission_gets_exactly_its_errors(
    taxonomy: Any, changes: dict[str, Any], expected: set[tuple[str, str]]
) -> None:
    assert error_pairs(validate_submission(patched(changes), taxonomy)) == expected


def test_valid_submission_passes(taxonomy: Any) -> None:
    assert isinstance(validate_submission(patched({}), taxonomy), Submission)


@pytest.mark.parametrize("data", [None, [], [VALID_SUBMISSION], 1, 1.5, "x", True, ""])
def test_not_an_object(taxonomy: Any, data: object) -> None:
    assert error_pairs(validate_submission(data, taxonomy)) == {("", "invalid_type")}


def test_every_error_is_reported_at_once(taxonomy: Any) -> None:
    data = {
        "channel": "pigeon",
        "submitted_at": "yesterday",
        "kind": 1,
        "title": None,
        "body": "short",
        "category": "roads",
        "region_code": "64.8",
        "location": {"lat": 100, "lon": "east"},
        "reporter": {"email": "x@y", "phone": "555", "nik": "123", "anonymous": 0,
                     "language": "fr", "$where": "1"},
        "attachments": [
            {"url": "http://a.id/x", "content_type": "image", "size_bytes": 30_000_000},
            {"size_bytes": False},
            7,
        ],
    }
    assert error_pairs(validate_submission(data, taxonomy)) == {
        ("channel", "invalid_choice"),
        ("channel_ref", "required"),
        ("submitted_at", "invalid_datetime"),
        ("kind", "invalid_type"),
        ("body", "too_short"),
        ("category", "unknown_category"),
        ("region_code", "invalid_region_format"),
        ("location.lat", "invalid_coordinates"),
        ("location.lon", "invalid_type"),
        ("reporter.email", "invalid_email"),
        ("reporter.phone", "invalid_phone"),
        ("reporter.nik", "invalid_nik"),
        ("reporter.anonymous", "invalid_type"),
        ("reporter.language", "invalid_choice"),
        ("reporter.$where", "forbidden_key"),
        ("attachments[0].url", "invalid_url"),
        ("attachments[0].content_type", "invalid_content_type"),
        ("attachments[0].size_bytes", "attachment_too_large"),
        ("attachments[1].url", "required"),
        ("attachments[1].content_type", "required"),
        ("attachments[1].size_bytes", "invalid_type"),
        ("attachments[2]", "invalid_type"),
    }


def test_empty_object_names_every_required_field(taxonomy: Any) -> None:
    assert error_pairs(validate_submission({}, taxonomy)) == {
        ("channel", "required"),
        ("channel_ref", "required"),
        ("submitted_at", "required"),
        ("body", "required"),
    }


def test_messages_never_repeat_contact_data(taxonomy: Any) -> None:
    data = patched({"reporter.phone": "0812-BAD-NUMBER", "reporter.email": "rahasia@@x.id",
                    "reporter.nik": "6408040000000000"})
    for error in error_pairs_list(validate_submission(data, taxonomy)):
        assert "BAD" not in error.message and "rahasia" not in error.message
        assert "6408040000000000" not in error.message


def error_pairs_list(result: object) -> list[FieldError]:
    assert isinstance(result, list)
    return result


def test_huge_array_is_answered_with_a_capped_list(taxonomy: Any) -> None:
    data = patched({"attachments": [{"size_bytes": True}] * 100_000})
    errors = error_pairs_list(validate_submission(data, taxonomy))
    assert len(errors) == MAX_REPORTED_ERRORS + 1
    assert errors[-1].code == "too_many_errors"
    assert ("attachments", "too_many_attachments") in error_pairs(errors)


def test_nesting_far_beyond_the_recursion_limit(taxonomy: Any) -> None:
    data = dict(VALID_SUBMISSION, extra=nested(50_000), location=nested(50_000))
    pairs = error_pairs(validate_submission(data, taxonomy))
    assert ("location", "invalid_coordinates") not in pairs
    assert {code for _, code in pairs} == {"too_deep"}


# --- normalisation on success ------------------------------------------------------------


def accepted(data: dict[str, Any], taxonomy: Any) -> Submission:
    result = validate_submission(data, taxonomy)
    assert isinstance(result, Submission), result
    return result


def test_success_is_normalised(taxonomy: Any) -> None:
    data = patched({
        "title": "  Jalan\r\nrusak \u202e parah ",
        "body": "  Cafe\u0301 di depan\r\nSDN 012 tutup\x00 jalan.\t ",
        "reporter.phone": "+62 (0)812-3456-7890",
        "reporter.email": "  Siti.Aminah@Example.CO.ID ",
        "reporter.name": "  Siti \n Aminah ",
        "location.address": " Jl. Yos Sudarso\r\nRT 03 ",
        "unknown_top_level": {"anything": 1},
        "reporter.favourite_colour": "blue",
        "attachments[0].thumbnail": "x",
    })
    submission = accepted(data, taxonomy)
    assert submission.title == "Jalan rusak parah"
    assert submission.body == "Caf\u00e9 di depan\nSDN 012 tutup jalan."
    assert submission.reporter.phone == "+6281234567890"
    assert submission.reporter.email == "Siti.Aminah@example.co.id"
    assert submission.reporter.name == "Siti Aminah"
    assert submission.location is not None
    assert submission.location.address == "Jl. Yos Sudarso\nRT 03"
    dumped = submission.model_dump(mode="json")
    assert "unknown_top_level" not in dumped
    assert "favourite_colour" not in dumped["reporter"]
    assert "thumbnail" not in dumped["attachments"][0]
    assert submission.region_code == "64.08.04"


def test_submitted_at_keeps_the_instant(taxonomy: Any) -> None:
    submission = accepted(patched({"submitted_at": "2026-01-05T09:30:00.123456789+07:00"}),
                          taxonomy)
    assert submission.submitted_at == datetime(2026, 1, 5, 2, 30, 0, 123456, tzinfo=UTC)
    for text in ("2026-01-05T02:30:00Z", "2026-01-05t02:30:00z", "2026-01-04T21:30:00-05:00"):
        assert accepted(patched({"submitted_at": text}), taxonomy).submitted_at == datetime(
            2026, 1, 5, 2, 30, tzinfo=UTC)


def test_optional_fields_may_be_absent_or_null(taxonomy: Any) -> None:
    minimal = {key: VALID_SUBMISSION[key] for key in ("channel", "channel_ref", "submitted_at",
                                                      "body")}
    submission = accepted(minimal, taxonomy)
    assert submission.kind == "complaint" and submission.title == ""
    assert submission.reporter.language == "id" and not submission.reporter.anonymous
    assert submission.attachments == [] and submission.location is None
    nulls = dict(minimal, kind=None, title=None, category=None, region_code=None,
                 location=None, reporter=None, attachments=None)
    assert accepted(nulls, taxonomy).model_dump() == submission.model_dump()


def test_category_is_read_case_insensitively(taxonomy: Any) -> None:
    assert accepted(patched({"category": " Health.BPJS "}), taxonomy).category == "health.bpjs"


def test_blank_contact_fields_mean_not_given(taxonomy: Any) -> None:
    data = patched({"reporter": {"name": " ", "email": "", "phone": "  ", "nik": ""},
                    "category": "", "region_code": " "})
    submission = accepted(data, taxonomy)
    assert submission.reporter.email is None and submission.reporter.phone is None
    assert submission.reporter.name is None and submission.category is None


def test_anonymous_reporter_may_leave_contact_data(taxonomy: Any) -> None:
    submission = accepted(patched({"reporter.anonymous": True, "reporter.confidential": True}),
                          taxonomy)
    assert submission.reporter.anonymous and submission.reporter.phone == "+6281234567890"


def test_limits_are_inclusive(taxonomy: Any) -> None:
    data = patched({
        "body": " " + "b" * 10 + " ",
        "title": "t" * 200,
        "channel_ref": "r" * 200,
        "attachments": [dict(_ATTACHMENT, size_bytes=MAX_ATTACHMENT_BYTES)] * 10,
        "region_code": "64",
        "location": {"lat": -90, "lon": 180},
        "reporter.nik": "6408045505900001",
    })
    submission = accepted(data, taxonomy)
    assert len(submission.attachments) == 10 and submission.body == "b" * 10
    assert submission.reporter.nik == "6408045505900001"


def test_body_length_counts_characters_after_nfc(taxonomy: Any) -> None:
    # 10,000 "é" typed as e + combining accent are 20,000 code points before NFC.
    submission = accepted(patched({"body": "e\u0301" * 10_000}), taxonomy)
    assert len(submission.body) == 10_000


def test_lone_surrogates_never_reach_the_event(taxonomy: Any) -> None:
    submission = accepted(patched({"body": "Jalan rusak \ud800 parah sekali", "title": "\udfff"}),
                          taxonomy)
    submission.model_dump_json().encode("utf-8")


# --- never raises -------------------------------------------------------------------------


def random_json(rng: random.Random, depth: int = 0) -> Any:
    choices = ["null", "bool", "int", "float", "str", "list", "dict"] if depth < 4 else [
        "null", "bool", "int", "str"]
    kind = rng.choice(choices)
    if kind == "null":
        return None
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "int":
        return rng.choice([0, -1, 1, 10**30, -(10**30), rng.randint(-10**6, 10**6)])
    if kind == "float":
        return rng.choice([0.0, -0.0, 1e308, -1e308, math.nan, math.inf, rng.uniform(-500, 500)])
    if kind == "str":
        return rng.choice(["", " ", "$gt", "\x00", "\ud800", "https://", "web", "64.08.04",
                           "2026-01-05T09:30:00Z", "0812", "a@b.id", "x" * rng.randint(0, 300)])
    if kind == "list":
        return [random_json(rng, depth + 1) for _ in range(rng.randint(0, 12))]
    keys = list(VALID_SUBMISSION) + ["$where", "a\x00", "lat", "lon", "url", "size_bytes",
                                     "email", "phone", "nik"]
    return {rng.choice(keys): random_json(rng, depth + 1) for _ in range(rng.randint(0, 8))}


def mutate(rng: random.Random, value: Any) -> Any:
    if isinstance(value, dict) and value and rng.random() < 0.7:
        key = rng.choice(list(value))
        return {**value, key: mutate(rng, value[key])}
    if isinstance(value, list) and value and rng.random() < 0.7:
        index = rng.randrange(len(value))
        return value[:index] + [mutate(rng, value[index])] + value[index + 1:]
    return random_json(rng)


def test_never_raises_on_random_json(taxonomy: Any) -> None:
    rng = random.Random(20260105)
    for _ in range(3000):
        data = mutate(rng, VALID_SUBMISSION) if rng.random() < 0.7 else random_json(rng)
        result = validate_submission(data, taxonomy)
        if isinstance(result, Submission):
            result.model_dump_json().encode("utf-8")
        else:
            assert result and all(isinstance(e, FieldError) for e in result)
            json.dumps([e.model_dump() for e in result]).encode("utf-8")


# --- the rejection's key and the code list --------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"channel": "sms", "channel_ref": "SM123"}, ("sms", "SM123")),
        ({"channel": "fax", "channel_ref": "F1", "body": 3}, ("fax", "F1")),
        ({"channel": 7, "channel_ref": ["x"]}, (None, None)),
        ({"channel": "sms", "channel_ref": "a\x00b"}, ("sms", None)),
        ({"channel": "sms", "channel_ref": "r" * 201}, ("sms", None)),
        ({"channel": "", "channel_ref": "\ud800"}, (None, None)),
        ({}, (None, None)),
        (None, (None, None)),
        (["sms", "SM123"], (None, None)),
    ],
)
def test_readable_reference(data: object, expected: tuple[str | None, str | None]) -> None:
    assert readable_reference(data) == expected


def test_every_error_code_is_documented() -> None:
    assert set(ERROR_CODES) == set(ErrorCode)
    assert all(description for description in ERROR_CODES.values())
    used = {code for _, _, expected in BAD_SUBMISSIONS for _, code in expected}
    assert used <= {code.value for code in ErrorCode}
    # too_many_errors has its own test; rate_limited is decided by the handler, not here.
    assert used >= {code.value for code in ErrorCode} - {"too_many_errors", "rate_limited"}
