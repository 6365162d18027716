"""Who gets which notification for an incoming event: a pure decision, no I/O.

The plan is recomputed identically on redelivery (same event, same contacts, same
settings), and every notification id is a uuid5 of its identity, so the ledger's unique
key on `notification_id` turns a redelivered event into a no-op instead of a second email.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from shared.agencies import Agency
from shared.contract import (
    ComplaintReceived,
    ComplaintStatusChanged,
    Language,
    Reporter,
    SlaBreached,
    SlaWarning,
    Status,
)
from shared.name_ids import name_based_id

from .masking import mask_recipient
from .templates import Audience, TemplateId

DeliveryChannel = Literal["email", "sms"]
PlannableEvent = ComplaintReceived | ComplaintStatusChanged | SlaWarning | SlaBreached
SkipReason = Literal["no_contact", "sms_disabled", "no_agency_contact", "no_escalation_target"]

# Fixed forever: changing it would change every id and defeat the ledger's deduplication.
NOTIFICATION_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:lapor:notifier:notification")

STATUS_TEMPLATES: dict[Status, TemplateId] = {
    Status.ASSIGNED: TemplateId.ASSIGNED,
    Status.IN_PROGRESS: TemplateId.IN_PROGRESS,
    Status.WAITING_CITIZEN: TemplateId.WAITING_CITIZEN,
    Status.RESOLVED: TemplateId.RESOLVED,
    Status.CLOSED: TemplateId.CLOSED,
    Status.REJECTED: TemplateId.REJECTED,
}
# The citizen hears about escalation once it leaves the assignee (level 2: parent agency).
CITIZEN_ESCALATION_LEVEL = 2


@dataclass(frozen=True)
class ReporterContact:
    """What the notifier stores about a reporter: contact data only, never shown to agencies."""

    email: str | None = None
    phone: str | None = None
    language: Language = Language.ID
    anonymous: bool = False  # anonymous to agencies and the public, not to the notifier

    @classmethod
    def from_reporter(cls, reporter: Reporter) -> ReporterContact:
        return cls(reporter.email, reporter.phone, reporter.language, reporter.anonymous)


@dataclass(frozen=True)
class AgencyContact:
    id: str
    name: str
    timezone: str = "Asia/Jakarta"
    email: str | None = None
    phone: str | None = None

    @classmethod
    def from_agency(cls, agency: Agency) -> AgencyContact:
        return cls(agency.id, agency.name, agency.timezone, agency.contacts.email,
                   agency.contacts.phone)


def agency_contacts(agencies: Iterable[Agency]) -> dict[str, AgencyContact]:
    """The notifier's view of the registry (`shared.agencies.load_agencies()`)."""
    return {a.id: AgencyContact.from_agency(a) for a in agencies}


@dataclass(frozen=True)
class PlannedNotification:
    notification_id: str
    source_event_id: str
    tracking_id: str
    channel: DeliveryChannel
    recipient: str  # the real address/number: never log it, use masked_recipient
    template: TemplateId
    language: Language
    audience: Audience

    @property
    def masked_recipient(self) -> str:
        return mask_recipient(self.channel, self.recipient)


@dataclass(frozen=True)
class SkippedNotification:
    """Reported as `notification.skipped` (channel null) so nothing is dropped silently."""

    notification_id: str
    source_event_id: str
    tracking_id: str
    template: TemplateId
    audience: Audience
    reason: SkipReason


@dataclass(frozen=True)
class NotificationPlan:
    planned: tuple[PlannedNotification, ...] = ()
    skipped: tuple[SkippedNotification, ...] = ()


def _clean(value: str | None) -> str | None:
    value = value.strip() if value else None
    return value or None


def notification_id(source_event_id: str, channel: str | None, recipient: str,
                    template: str) -> str:
    """Deterministic id of one delivery. The template is part of the identity so that one
    event sending two different notices to the same address (a drill where the citizen's
    and the agency's mailbox coincide) does not collapse them into one ledger entry."""
    normalised = recipient.strip().lower()
    key = "\x1f".join((source_event_id, channel or "-", normalised, template))
    return name_based_id(NOTIFICATION_NAMESPACE, key)


def message_id(notification_id: str, domain: str) -> str:
    """RFC 5322 Message-ID derived from the notification id (CONTRACT section 7)."""
    if not domain or any(ch in domain for ch in "<>@ \t\r\n"):
        raise ValueError(f"invalid Message-ID domain {domain!r}")
    return f"<{notification_id}@{domain}>"


def citizen_template(event: PlannableEvent, *, notify_triage: bool = False) -> TemplateId | None:
    """The citizen-facing template an event calls for, if any."""
    if isinstance(event, ComplaintReceived):
        return TemplateId.ACKNOWLEDGEMENT
    if isinstance(event, ComplaintStatusChanged):
        # Same status means no lifecycle change (a citizen's `rate`), except assigned ->
        # assigned, which is a transfer/decline to another agency the citizen must learn of.
        if event.status == event.previous_status and event.status != Status.ASSIGNED:
            return None
        if event.status == Status.TRIAGE:
            return TemplateId.TRIAGE if notify_triage else None
        return STATUS_TEMPLATES.get(event.status)
    if isinstance(event, SlaBreached) and event.level >= CITIZEN_ESCALATION_LEVEL:
        return TemplateId.ESCALATED
    return None


def alert_agency_id(event: PlannableEvent) -> str | None:
    """The agency an SLA alert goes to: the assignee for a warning, the escalation target
    for a breach (level 1 targets the assignee itself, so fall back to it)."""
    if isinstance(event, SlaBreached):
        return event.escalated_to_agency_id or event.agency_id
    if isinstance(event, SlaWarning):
        return event.agency_id
    return None


def _citizen_plan(event: PlannableEvent, template: TemplateId, reporter: ReporterContact | None,
                  sms_enabled: bool) -> NotificationPlan:
    def skip(reason: SkipReason) -> NotificationPlan:
        nid = notification_id(event.event_id, None, "citizen", template)
        return NotificationPlan(skipped=(SkippedNotification(
            nid, event.event_id, event.tracking_id, template, "citizen", reason),))

    if isinstance(event, SlaBreached) and not event.escalated_to_agency_id:
        return skip("no_escalation_target")
    email = _clean(reporter.email) if reporter else None
    phone = _clean(reporter.phone) if reporter else None
    if reporter is None or (email is None and phone is None):
        return skip("no_contact")
    targets: list[tuple[DeliveryChannel, str]] = []
    if email:
        targets.append(("email", email))
    if phone and sms_enabled:
        targets.append(("sms", phone))
    if not targets:
        return skip("sms_disabled")  # a phone is known but there is no gateway configured
    return NotificationPlan(planned=tuple(
        PlannedNotification(
            notification_id(event.event_id, channel, recipient, template), event.event_id,
            event.tracking_id, channel, recipient, template, reporter.language, "citizen",
        )
        for channel, recipient in targets
    ))


def _agency_plan(event: SlaWarning | SlaBreached, agencies: Mapping[str, AgencyContact]
                 ) -> NotificationPlan:
    template = (TemplateId.AGENCY_SLA_WARNING if isinstance(event, SlaWarning)
                else TemplateId.AGENCY_SLA_BREACHED)
    agency_id = alert_agency_id(event)
    agency = agencies.get(agency_id) if agency_id else None
    email = _clean(agency.email) if agency else None
    if email is None:
        nid = notification_id(event.event_id, None, "agency", template)
        return NotificationPlan(skipped=(SkippedNotification(
            nid, event.event_id, event.tracking_id, template, "agency", "no_agency_contact"),))
    # Agency alerts are email only and in Indonesian, the working language of agencies.
    return NotificationPlan(planned=(PlannedNotification(
        notification_id(event.event_id, "email", email, template), event.event_id,
        event.tracking_id, "email", email, template, Language.ID, "agency",
    ),))


def plan_notifications(
    event: PlannableEvent,
    *,
    reporter: ReporterContact | None,
    agencies: Mapping[str, AgencyContact],
    sms_enabled: bool,
    notify_triage: bool = False,
) -> NotificationPlan:
    """Decide every notification for `event`.

    `reporter` is the stored contact; for `complaint.received` it may be None and is then
    taken from the event itself (which carries the full reporter).
    """
    if reporter is None and isinstance(event, ComplaintReceived):
        reporter = ReporterContact.from_reporter(event.reporter)
    planned: list[PlannedNotification] = []
    skipped: list[SkippedNotification] = []
    parts: list[NotificationPlan] = []
    if isinstance(event, SlaWarning | SlaBreached):
        parts.append(_agency_plan(event, agencies))
    template = citizen_template(event, notify_triage=notify_triage)
    if template is not None:
        parts.append(_citizen_plan(event, template, reporter, sms_enabled))
    for part in parts:
        planned.extend(part.planned)
        skipped.extend(part.skipped)
    return NotificationPlan(tuple(planned), tuple(skipped))
