"""Value types shared by every event and command of the contract (CONTRACT.md sections 3-5)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, PlainSerializer

SCHEMA_VERSION = 1


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_event_id() -> str:
    """A random (version 4) UUID in its canonical text form, written from 16 random bytes
    directly: `str(uuid.uuid4())` spent more than half its time building the `UUID`
    object, once an event."""
    raw = bytearray(os.urandom(16))
    raw[6] = raw[6] & 0x0F | 0x40  # version 4
    raw[8] = raw[8] & 0x3F | 0x80  # the RFC 4122 variant
    text = raw.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


_ZERO = timedelta(0)


def _rfc3339_utc(value: datetime) -> str:
    # Most values are already in UTC (the services' clocks): no conversion for those.
    if value.tzinfo is not UTC and value.utcoffset() != _ZERO:
        value = value.astimezone(UTC)
    return value.isoformat().replace("+00:00", "Z")


# Every timestamp the system produces is RFC 3339 in UTC ("...Z").
UtcDatetime = Annotated[AwareDatetime, PlainSerializer(_rfc3339_utc, return_type=str)]


class ContractModel(BaseModel):
    """Base of every contract model: unknown fields are kept so newer producers stay readable."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


class Channel(StrEnum):
    WEB = "web"
    SMS = "sms"
    WHATSAPP = "whatsapp"
    EMAIL = "email"
    MOBILE_APP = "mobile_app"
    SOCIAL = "social"
    CALL_CENTER = "call_center"


class Kind(StrEnum):
    COMPLAINT = "complaint"
    ASPIRATION = "aspiration"
    INFORMATION_REQUEST = "information_request"


class Language(StrEnum):
    ID = "id"
    EN = "en"


class Status(StrEnum):
    RECEIVED = "received"
    TRIAGE = "triage"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    WAITING_CITIZEN = "waiting_citizen"
    RESOLVED = "resolved"
    CLOSED = "closed"
    REJECTED = "rejected"


OPEN_STATUSES = frozenset(
    {
        Status.RECEIVED,
        Status.TRIAGE,
        Status.ASSIGNED,
        Status.IN_PROGRESS,
        Status.WAITING_CITIZEN,
        Status.RESOLVED,
    }
)


class ActorType(StrEnum):
    AGENCY = "agency"
    CITIZEN = "citizen"
    ADMIN = "admin"
    SYSTEM = "system"


class Location(ContractModel):
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    address: str | None = Field(default=None, max_length=500)


class Reporter(ContractModel):
    """The citizen behind a complaint. Contact data and NIK must never reach a log."""

    name: str | None = None
    email: str | None = None
    phone: str | None = None  # E.164 after intake's normalisation
    nik: str | None = None  # Nomor Induk Kependudukan, optional
    language: Language = Language.ID
    anonymous: bool = False
    confidential: bool = False


class Attachment(ContractModel):
    url: str
    content_type: str
    size_bytes: int


class Actor(ContractModel):
    type: ActorType
    id: str


class ComplaintSummary(ContractModel):
    """What agencies and triage see of a complaint (never the reporter)."""

    kind: Kind = Kind.COMPLAINT
    category: str | None = None
    region_code: str | None = None
    title: str = ""
    body: str
    location: Location | None = None
    attachments: list[Attachment] = Field(default_factory=list)
    confidential: bool = False


class FieldError(ContractModel):
    field: str
    code: str
    message: str


NotificationChannel = Literal["email", "sms"]
