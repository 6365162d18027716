"""Every event the system produces, with the common envelope (CONTRACT.md sections 2 and 4)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from .common import (
    SCHEMA_VERSION,
    Actor,
    Attachment,
    Channel,
    ComplaintSummary,
    ContractModel,
    FieldError,
    Kind,
    Location,
    NotificationChannel,
    Reporter,
    Status,
    UtcDatetime,
    new_event_id,
    utc_now,
)


class Envelope(ContractModel):
    """Fields every produced event carries. `event_type` is fixed per subclass."""

    EVENT_TYPE: ClassVar[str] = ""

    event_id: str = Field(default_factory=new_event_id)
    event_type: str = ""
    schema_version: int = SCHEMA_VERSION
    occurred_at: UtcDatetime = Field(default_factory=utc_now)

    def model_post_init(self, __context: object) -> None:
        if not self.event_type:
            self.event_type = self.EVENT_TYPE


class ComplaintEvent(Envelope):
    tracking_id: str


class ComplaintReceived(ComplaintEvent):
    EVENT_TYPE: ClassVar[str] = "complaint.received"

    channel: Channel
    channel_ref: str
    kind: Kind = Kind.COMPLAINT
    title: str = ""
    body: str
    category: str | None = None
    region_code: str | None = None
    location: Location | None = None
    reporter: Reporter = Field(default_factory=Reporter)
    attachments: list[Attachment] = Field(default_factory=list)
    submitted_at: UtcDatetime
    possible_duplicate_of: str | None = None
    citizen_secret: str

    def summary(self) -> ComplaintSummary:
        return ComplaintSummary(
            kind=self.kind,
            category=self.category,
            region_code=self.region_code,
            title=self.title,
            body=self.body,
            location=self.location,
            attachments=self.attachments,
            confidential=self.reporter.confidential,
        )


class SubmissionRejected(Envelope):
    EVENT_TYPE: ClassVar[str] = "submission.rejected"

    channel: str | None = None
    channel_ref: str | None = None
    errors: list[FieldError]


class ComplaintRouted(ComplaintEvent):
    EVENT_TYPE: ClassVar[str] = "complaint.routed"

    agency_id: str
    agency_name: str
    rule_id: str | None = None
    reason: Literal["rule", "transfer", "manual"] = "rule"
    complaint: ComplaintSummary
    reporter: Reporter | None = None  # None when the reporter is anonymous


class ComplaintNeedsTriage(ComplaintEvent):
    EVENT_TYPE: ClassVar[str] = "complaint.needs_triage"

    reason: str
    complaint: ComplaintSummary


class ComplaintStatusChanged(ComplaintEvent):
    EVENT_TYPE: ClassVar[str] = "complaint.status_changed"

    status: Status
    previous_status: Status | None = None
    agency_id: str | None = None
    action_id: str | None = None
    actor: Actor
    message: str | None = None


class ActionRejected(Envelope):
    EVENT_TYPE: ClassVar[str] = "action.rejected"

    action_id: str | None = None
    tracking_id: str | None = None
    reason: str
    detail: str | None = None  # human-readable explanation of the reason


class SlaWarning(ComplaintEvent):
    EVENT_TYPE: ClassVar[str] = "sla.warning"

    stage: str
    threshold: float
    due_at: UtcDatetime
    agency_id: str | None = None


class SlaBreached(ComplaintEvent):
    EVENT_TYPE: ClassVar[str] = "sla.breached"

    stage: str
    level: int = Field(ge=1, le=3)
    due_at: UtcDatetime
    overdue_seconds: float
    agency_id: str | None = None
    escalated_to_agency_id: str | None = None


class NotificationEvent(ComplaintEvent):
    notification_id: str
    source_event_id: str
    channel: NotificationChannel | None = None  # None when the reporter has no contact
    recipient: str = ""  # masked, never the full address or number
    template: str
    attempts: int = 1
    error: str | None = None


class NotificationSent(NotificationEvent):
    EVENT_TYPE: ClassVar[str] = "notification.sent"


class NotificationFailed(NotificationEvent):
    EVENT_TYPE: ClassVar[str] = "notification.failed"


class NotificationSkipped(NotificationEvent):
    EVENT_TYPE: ClassVar[str] = "notification.skipped"


EVENT_TYPES: dict[str, type[Envelope]] = {
    cls.EVENT_TYPE: cls
    for cls in (
        ComplaintReceived,
        SubmissionRejected,
        ComplaintRouted,
        ComplaintNeedsTriage,
        ComplaintStatusChanged,
        ActionRejected,
        SlaWarning,
        SlaBreached,
        NotificationSent,
        NotificationFailed,
        NotificationSkipped,
    )
}
