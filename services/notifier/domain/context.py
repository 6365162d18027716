"""The render context of a planned notification, built from its source event.

Kept apart from planning on purpose: a plan can be stored in the ledger, a context cannot
(the acknowledgement's context holds the citizen secret, which no store may keep in clear).
Agency contexts are built from SLA fields and agency data only; the reporter is never read.
"""

from __future__ import annotations

from collections.abc import Mapping

from shared.contract import (
    ActorType,
    ComplaintReceived,
    ComplaintStatusChanged,
    Language,
    SlaBreached,
    SlaWarning,
)

from .planning import AgencyContact, PlannableEvent, PlannedNotification, alert_agency_id

_UNKNOWN_AGENCY = {Language.ID: "Instansi berwenang", Language.EN: "The responsible agency"}


def agency_name(agency_id: str | None, agencies: Mapping[str, AgencyContact],
                language: Language) -> str:
    if agency_id and agency_id in agencies:
        return agencies[agency_id].name
    return agency_id or _UNKNOWN_AGENCY[language]


def build_context(
    event: PlannableEvent,
    notification: PlannedNotification,
    *,
    agencies: Mapping[str, AgencyContact],
    public_base_url: str,
    category_label: str | None = None,
    title: str | None = None,
) -> dict[str, object]:
    """Context for `templates.render`. `category_label` (Taxonomy.get(code).label(lang)) and
    `title` (if the notifier stored it) are optional extras for citizen templates."""
    lang = notification.language
    context: dict[str, object] = {
        "tracking_id": event.tracking_id,
        "public_base_url": public_base_url,
    }
    if notification.audience == "agency":
        return context | _agency_context(event, agencies, lang)
    if title:
        context["title"] = title
    if isinstance(event, ComplaintReceived):
        context |= {
            "citizen_secret": event.citizen_secret,
            "title": event.title,
            "body": event.body,
            "category_label": category_label,
            "possible_duplicate_of": event.possible_duplicate_of,
        }
    elif isinstance(event, ComplaintStatusChanged):
        context["agency_name"] = agency_name(event.agency_id, agencies, lang)
        # A citizen's own reply/reopen text is not the agency's plan: do not echo it back.
        if event.actor.type != ActorType.CITIZEN:
            context["message"] = event.message
    elif isinstance(event, SlaBreached):
        context |= {
            "agency_name": agency_name(event.agency_id, agencies, lang) if event.agency_id
            else None,
            "escalated_to_agency_name": agency_name(event.escalated_to_agency_id, agencies,
                                                    lang),
            "level": event.level,
        }
    return context


def _agency_context(event: PlannableEvent, agencies: Mapping[str, AgencyContact],
                    lang: Language) -> dict[str, object]:
    target_id = alert_agency_id(event)
    target = agencies.get(target_id) if target_id else None
    timezone = target.timezone if target else "Asia/Jakarta"  # the recipient's local time
    if isinstance(event, SlaWarning):
        return {
            "stage": event.stage,
            "threshold": event.threshold,
            "due_at": event.due_at,
            "timezone": timezone,
            "agency_name": agency_name(event.agency_id, agencies, lang),
        }
    if isinstance(event, SlaBreached):
        return {
            "stage": event.stage,
            "level": event.level,
            "due_at": event.due_at,
            "overdue_seconds": event.overdue_seconds,
            "timezone": timezone,
            "agency_name": agency_name(event.agency_id, agencies, lang) if event.agency_id
            else None,
            "escalated_to_agency_name": agency_name(target_id, agencies, lang),
        }
    raise TypeError(f"no agency notification for {type(event).__name__}")
