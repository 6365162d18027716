"""JSON (de)serialisation of contract models and their Kafka keys (CONTRACT.md section 2)."""

from __future__ import annotations

import json
import re
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from shared.contract import EVENT_TYPES, Envelope, Submission, SubmissionRejected, submission_key

CONTENT_TYPE = "application/json"
HEADERS = {"content-type": CONTENT_TYPE}

M = TypeVar("M", bound=BaseModel)


class NotAJsonObject(ValueError):
    """The bytes are not UTF-8 JSON with an object at the top: a case for the DLQ."""


def encode(model: BaseModel) -> bytes:
    return model.model_dump_json(exclude_none=False).encode("utf-8")


def to_dict(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json")


def parse_object(raw: bytes | str) -> dict[str, Any]:
    """Bytes -> JSON object, or NotAJsonObject naming what is wrong."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes | bytearray) else raw
    except UnicodeDecodeError as exc:
        raise NotAJsonObject(f"not UTF-8: {exc.reason} at byte {exc.start}") from None
    try:
        value = json.loads(text)
    except RecursionError:
        raise NotAJsonObject("JSON nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise NotAJsonObject(
            f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    if not isinstance(value, dict):
        raise NotAJsonObject(f"JSON {type(value).__name__} where an object was expected")
    return value


def _in_one_pass(raw: bytes | str, model: type[M]) -> M | None:
    """Bytes -> `model` through pydantic's JSON parser (about half the CPU of `json.loads`
    and validation of the result), or None: the caller then takes the separate path,
    which gives the specific error."""
    if not isinstance(raw, bytes):
        return None
    try:
        return model.model_validate_json(raw)
    except ValidationError:
        return None


def decode(raw: bytes | str, model: type[M]) -> M:
    """Bytes -> `model`, in one pass where it can; otherwise NotAJsonObject or
    ValidationError naming what is wrong."""
    decoded = _in_one_pass(raw, model)
    return decoded if decoded is not None else model.model_validate(parse_object(raw))


_EVENT_TYPE = re.compile(rb'"event_type"\s*:\s*"([a-z_.]+)"')
"""Where a producer's serialisation puts the event type (found without parsing)."""


def decode_event(raw: bytes | str) -> Envelope:
    """Decode any produced event by its `event_type`.

    The common case is decoded in one pass: the type is looked up in the raw bytes, and
    the event kept only if it is of that type. Anything else (no such key, a nested one
    found first, invalid JSON or fields) takes the path below, which gives the specific
    error."""
    if isinstance(raw, bytes) and (found := _EVENT_TYPE.search(raw)):
        cls = EVENT_TYPES.get(found.group(1).decode("ascii"))
        event = _in_one_pass(raw, cls) if cls is not None else None
        if event is not None and cls is not None and event.event_type == cls.EVENT_TYPE:
            return event
    return _decode_event_slowly(raw)


def _decode_event_slowly(raw: bytes | str) -> Envelope:
    data = parse_object(raw)
    cls = EVENT_TYPES.get(str(data.get("event_type")))
    if cls is None:
        raise ValueError(f"unknown event_type {data.get('event_type')!r}")
    return cls.model_validate(data)


def key_for(model: BaseModel) -> bytes | None:
    """The Kafka key: the tracking id for complaint events, `channel:channel_ref` for
    submissions and their rejections."""
    if isinstance(model, Submission | SubmissionRejected):
        if model.channel is None or model.channel_ref is None:
            return None
        return submission_key(model.channel, model.channel_ref).encode()
    tracking_id = getattr(model, "tracking_id", None)
    return tracking_id.encode() if tracking_id else None
