"""Error codes of `submission.rejected` and the collector that gathers them.

A channel adapter maps each code to a reply in the citizen's language, so codes
are stable API: add new ones, never rename. Messages are for people reading the
topic; they never repeat the submitted value (it may be a phone number or NIK).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from shared.contract import FieldError


class ErrorCode(StrEnum):
    REQUIRED = "required"
    INVALID_TYPE = "invalid_type"
    TOO_SHORT = "too_short"
    TOO_LONG = "too_long"
    INVALID_CHOICE = "invalid_choice"
    INVALID_CHARACTERS = "invalid_characters"
    INVALID_DATETIME = "invalid_datetime"
    INVALID_PHONE = "invalid_phone"
    INVALID_EMAIL = "invalid_email"
    INVALID_NIK = "invalid_nik"
    INVALID_REGION_FORMAT = "invalid_region_format"
    UNKNOWN_REGION = "unknown_region"
    UNKNOWN_CATEGORY = "unknown_category"
    INVALID_COORDINATES = "invalid_coordinates"
    INVALID_URL = "invalid_url"
    INVALID_CONTENT_TYPE = "invalid_content_type"
    INVALID_SIZE = "invalid_size"
    ATTACHMENT_TOO_LARGE = "attachment_too_large"
    TOO_MANY_ATTACHMENTS = "too_many_attachments"
    FORBIDDEN_KEY = "forbidden_key"
    TOO_DEEP = "too_deep"
    TOO_MANY_ERRORS = "too_many_errors"
    RATE_LIMITED = "rate_limited"


ERROR_CODES: Final[dict[ErrorCode, str]] = {
    ErrorCode.REQUIRED: "a required field is missing or null",
    ErrorCode.INVALID_TYPE: "wrong JSON type (e.g. a number where text is expected; "
    "true/false is never accepted as a number)",
    ErrorCode.TOO_SHORT: "text shorter than allowed (body: at least 10 characters after cleaning)",
    ErrorCode.TOO_LONG: "text longer than allowed (counted after cleaning)",
    ErrorCode.INVALID_CHOICE: "not one of the allowed values (channel, kind, reporter.language)",
    ErrorCode.INVALID_CHARACTERS: "an identifier holds control characters or invalid Unicode",
    ErrorCode.INVALID_DATETIME: "not an RFC 3339 date-time with a UTC offset",
    ErrorCode.INVALID_PHONE: "not a recognisable Indonesian or E.164 phone number",
    ErrorCode.INVALID_EMAIL: "not a usable e-mail address",
    ErrorCode.INVALID_NIK: "not a 16-digit NIK with a known district prefix and birth date",
    ErrorCode.INVALID_REGION_FORMAT: 'region code not written "PP", "PP.KK" or "PP.KK.CC"',
    ErrorCode.UNKNOWN_REGION: "well-formed region code that is not an official Kemendagri code",
    ErrorCode.UNKNOWN_CATEGORY: "category code not in the taxonomy",
    ErrorCode.INVALID_COORDINATES: "lat/lon not finite numbers within range, or not given together",
    ErrorCode.INVALID_URL: "attachment url is not an absolute https URL with a host",
    ErrorCode.INVALID_CONTENT_TYPE: 'attachment content_type is not a MIME type "type/subtype"',
    ErrorCode.INVALID_SIZE: "attachment size_bytes is negative",
    ErrorCode.ATTACHMENT_TOO_LARGE: "attachment larger than 25 MiB (26,214,400 bytes)",
    ErrorCode.TOO_MANY_ATTACHMENTS: "more than 10 attachments",
    ErrorCode.FORBIDDEN_KEY: "an object key anywhere starts with '$' or contains NUL "
    "(MongoDB operator injection)",
    ErrorCode.TOO_DEEP: "objects/arrays nested deeper than allowed",
    ErrorCode.TOO_MANY_ERRORS: "more errors were found than are reported; the list is cut short",
    ErrorCode.RATE_LIMITED: "the reporter's e-mail address or phone number already sent the "
    "allowed number of complaints in the last hour (field `reporter`); a valid submission, "
    "refused for now",
}
"""Every code a `submission.rejected` error can carry, with what it means.

Field paths name the offending value: `channel`, `reporter.phone`,
`attachments[2].size_bytes`; the empty path `""` is the submission itself.
"""

MAX_REPORTED_ERRORS = 50
"""A hostile payload (say 100,000 bad attachments) must not produce a rejection
event bigger than itself: beyond this many, one `too_many_errors` closes the list."""


def field_path(parent: str, step: str | int) -> str:
    """`reporter` + `phone` -> `reporter.phone`; `attachments` + 2 -> `attachments[2]`."""
    if isinstance(step, int):
        return f"{parent}[{step}]"
    return f"{parent}.{step}" if parent else step


class FieldErrors:
    """Collects every broken rule, once per (field, code), up to MAX_REPORTED_ERRORS."""

    def __init__(self, limit: int = MAX_REPORTED_ERRORS) -> None:
        self._limit = limit
        self._errors: list[FieldError] = []
        self._seen: set[tuple[str, str]] = set()
        self._truncated = False

    def add(self, field: str, code: ErrorCode, message: str) -> None:
        if (field, code.value) in self._seen:
            return
        if len(self._errors) >= self._limit:
            self._truncated = True
            return
        self._seen.add((field, code.value))
        self._errors.append(FieldError(field=field, code=code.value, message=message))

    def __bool__(self) -> bool:
        return bool(self._errors)

    def as_list(self) -> list[FieldError]:
        errors = list(self._errors)
        if self._truncated:
            errors.append(
                FieldError(
                    field="",
                    code=ErrorCode.TOO_MANY_ERRORS.value,
                    message=f"only the first {self._limit} errors are listed",
                )
            )
        return errors
