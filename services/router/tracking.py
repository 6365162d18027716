"""The public tracking endpoint: `GET /v1/complaints/{tracking_id}`.

Answers status, assignee agency name and the public history, never reporter data or
internal notes. Tracking ids are read forgivingly (case, hyphens, look-alikes)."""

from __future__ import annotations

from typing import Any

from services.router.adapters.cases import CaseStore
from services.router.domain.case import AuditEntry, Case
from shared.agencies import AgencyRegistry
from shared.contract import ActorType
from shared.http import Receive, Scope, Send, send_json
from shared.tracking_id import parse_tracking_id

PREFIX = "/v1/complaints/"


def public_message(entry: AuditEntry) -> str | None:
    """Agencies', admins' and the system's messages are public text; a citizen's own words
    (a reply may carry an address, a phone number, a name) are not shown to whoever holds
    the tracking id. The audit trail and complaints.status keep them for the agency."""
    return None if entry.actor.type == ActorType.CITIZEN else entry.message


def public_view(case: Case, agencies: AgencyRegistry) -> dict[str, Any]:
    agency = agencies.get(case.assignee)
    return {
        "tracking_id": case.tracking_id,
        "status": case.status.value,
        "agency_name": agency.name if agency else None,
        "history": [
            {"status": entry.status.value,
             "at": entry.at.isoformat().replace("+00:00", "Z"),
             "message": public_message(entry)}
            for entry in case.public_history()
        ],
    }


class TrackingEndpoint:
    def __init__(self, store: CaseStore, agencies: AgencyRegistry) -> None:
        self.store = store
        self.agencies = agencies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] not in ("GET", "HEAD"):
            await send_json(send, 405, {"error": "method_not_allowed"})
            return
        raw = scope["path"][len(PREFIX):].strip("/")
        tracking_id = parse_tracking_id(raw)
        document = await self.store.get(tracking_id) if tracking_id else None
        if document is None:
            await send_json(send, 404, {"error": "unknown_tracking_id"})
            return
        await send_json(send, 200, public_view(Case.model_validate(document["case"]),
                                               self.agencies))
