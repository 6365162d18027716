"""A corpus of hostile inputs for complaints.submitted and complaints.actions."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any


def _valid_submission(ref: str) -> dict[str, Any]:
    return {"channel": "web", "channel_ref": ref, "submitted_at": datetime.now(UTC).isoformat(),
            "body": "Jalan rusak parah di depan pasar, mohon segera diperbaiki.",
            "category": "infrastructure.roads", "region_code": "64.08.04",
            "reporter": {"email": "poison.tester@example.id"}}


def _with(ref: str, **changes: Any) -> bytes:
    data = _valid_submission(ref)
    for key, value in changes.items():
        if value is _DROP:
            data.pop(key, None)
        else:
            data[key] = value
    return json.dumps(data).encode()


_DROP = object()


def _nested(depth: int) -> Any:
    value: Any = "dasar"
    for _ in range(depth):
        value = {"x": value}
    return value


def hostile_submissions() -> list[tuple[str, bytes]]:
    """(name, bytes) pairs; each must be rejected or dead-lettered, never accepted."""
    deep_text = "[" * 100_000 + "]" * 100_000
    cases: list[tuple[str, bytes]] = [
        ("empty bytes", b""),
        ("not json", b"this is not json"),
        ("truncated json", b'{"channel": "web", "body": '),
        ("invalid utf-8", b'{"channel": "web\xff\xfe"}'),
        ("lone surrogate escape", b'{"channel": "\\ud800", "channel_ref": "x"}'),
        ("json array", b"[1, 2, 3]"),
        ("json string", b'"just a string"'),
        ("json number", b"42"),
        ("json null", b"null"),
        ("json true", b"true"),
        ("NaN literal", b'{"channel": NaN}'),
        ("deep nesting beyond the parser", deep_text.encode()),
        ("deep nesting in a field", _with("p-deep", location=_nested(50))),
        ("2 MB body", _with("p-big", body="a" * 2_000_000)),
        ("huge attachments array", _with("p-arr", attachments=[{"url": "https://x.id/a",
                                                               "content_type": "image/png",
                                                               "size_bytes": 1}] * 20_000)),
        ("huge array of nulls", _with("p-nulls", attachments=[None] * 50_000)),
        ("all nulls", json.dumps({"channel": None, "channel_ref": None, "submitted_at": None,
                                  "body": None, "reporter": None}).encode()),
        ("empty object", b"{}"),
        ("wrong types everywhere", json.dumps({"channel": 1, "channel_ref": [],
                                               "submitted_at": {}, "body": 5,
                                               "reporter": "me"}).encode()),
        ("booleans for numbers", _with("p-bool", attachments=[{"url": "https://x.id/a",
                                                               "content_type": "image/png",
                                                               "size_bytes": True}])),
        ("operator in channel_ref", _with("p-op1", channel_ref={"$gt": ""})),
        ("operator in category", _with("p-op2", category={"$ne": None})),
        ("operator in reporter", _with("p-op3", reporter={"email": {"$gt": ""}})),
        ("$where key", _with("p-op4", **{"$where": "sleep(1000)"})),
        ("$where in location", _with("p-op5", location={"$where": "1", "lat": 1, "lon": 2})),
        ("dotted operator key", _with("p-op6", reporter={"$set": {"anonymous": True}})),
        ("control characters only body", _with("p-ctl", body="\x00\x01\x02\x03\x1b" * 5)),
        ("NUL in channel_ref", _with("p-nul\x00ref")),
        ("unknown channel", _with("p-ch", channel="carrier_pigeon")),
        ("unknown category", _with("p-cat", category="space.aliens")),
        ("unknown region", _with("p-reg", region_code="99.99.99")),
        ("malformed region", _with("p-reg2", region_code="64-08")),
        ("region as number", _with("p-reg3", region_code=64.08)),
        ("bad phone", _with("p-ph", reporter={"phone": "call me maybe"})),
        ("bad email", _with("p-em", reporter={"email": "not-an-email"})),
        ("http attachment", _with("p-url", attachments=[{"url": "http://x.id/a",
                                                          "content_type": "image/png",
                                                          "size_bytes": 1}])),
        ("javascript attachment", _with("p-js", attachments=[{"url": "javascript:alert(1)",
                                                               "content_type": "text/html",
                                                               "size_bytes": 1}])),
        ("attachment too large", _with("p-att", attachments=[{"url": "https://x.id/a",
                                                              "content_type": "video/mp4",
                                                              "size_bytes": 10**12}])),
        ("naive timestamp", _with("p-ts", submitted_at="2026-11-30T10:00:00")),
        ("nonsense timestamp", _with("p-ts2", submitted_at="yesterday")),
        ("body too short", _with("p-short", body="tolong")),
        ("missing body", _with("p-nobody", body=_DROP)),
        ("missing channel", _with("p-noch", channel=_DROP)),
        ("channel_ref too long", _with("r" * 500)),
        ("title too long", _with("p-title", title="judul " * 100)),
        ("latitude out of range", _with("p-lat", location={"lat": 123.0, "lon": 117.0})),
        ("invalid NIK", _with("p-nik", reporter={"nik": "1234"})),
        ("unknown language", _with("p-lang", reporter={"email": "a@b.id", "language": "fr"})),
        ("kind not allowed", _with("p-kind", kind="rant")),
        ("BOM prefix", b"\xef\xbb\xbf" + _with("p-bom")),
        ("script in body only", _with("p-xss", body="<script>alert(1)</script>", title=5)),
    ]
    return cases


def hostile_actions(tracking_id: str) -> list[tuple[str, bytes]]:
    """Each must come back on complaints.actions.rejected or go to the DLQ."""
    now = datetime.now(UTC).isoformat()

    def action(**fields: Any) -> bytes:
        base = {"action_id": f"poison-{len(fields)}-{hash(json.dumps(fields, default=str))}",
                "tracking_id": tracking_id, "occurred_at": now,
                "actor": {"type": "agency", "id": "kutim-pupr"}, "action": "acknowledge"}
        base.update(fields)
        return json.dumps(base).encode()

    return [
        ("not json", b"{{{{"),
        ("invalid utf-8", b'{"action": "\xc3\x28"}'),
        ("json array", b"[]"),
        ("empty object", b"{}"),
        ("unknown action", action(action="delete_everything")),
        ("unknown actor type", action(actor={"type": "hacker", "id": "x"})),
        ("operator as tracking id", action(tracking_id={"$ne": None})),
        ("operator as actor id", action(actor={"type": "agency", "id": {"$gt": ""}})),
        ("$where as tracking id", action(tracking_id="'; return true; //")),
        ("unknown complaint", action(tracking_id="ZZZZ-ZZZZ-Z")),
        ("not the assignee", action(actor={"type": "agency", "id": "kutim-dinkes"})),
        ("citizen without secret", action(actor={"type": "citizen", "id": "c"},
                                          action="reply")),
        ("rating out of range", action(action="rate", rating=99,
                                       actor={"type": "citizen", "id": "c"})),
        ("huge message", action(message="x" * 200_000)),
        ("nulls", action(action=None, actor=None)),
        ("bad timestamp", action(occurred_at="soon")),
    ]
