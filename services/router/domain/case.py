"""The router's case: who holds a complaint, in which status, and how it got there.

Immutable values: the lifecycle returns a new Case; the adapter stores it (pydantic, so
`model_dump(mode="json")` / `model_validate` round-trip through MongoDB).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from shared.contract import Actor, ActorType, ComplaintStatusChanged, Status
from shared.contract.common import UtcDatetime

# The actor of changes the router makes by itself (routing, re-routing after a decline).
ROUTER_ACTOR = Actor(type=ActorType.SYSTEM, id="router")

# `AuditEntry.action` for entries that do not come from an action on complaints.actions.
RECEIVED_ENTRY = "receive"
ROUTED_ENTRY = "route"


class AuditEntry(BaseModel):
    """One line of a case's history. `public` entries feed the public tracking endpoint
    (status, at, message); `note` is internal (routing explanation) and never public."""

    model_config = ConfigDict(frozen=True)

    status: Status
    previous_status: Status | None
    at: UtcDatetime
    actor: Actor
    action: str  # an ActionName value, or RECEIVED_ENTRY / ROUTED_ENTRY
    action_id: str | None = None
    agency_id: str | None = None  # the assignee after this entry
    message: str | None = None  # public text
    note: str | None = None  # internal: the routing explanation (which rule and why)
    # The routing decision behind this entry, if any: the rule that chose the agency (None
    # for transfer/manual/triage) and the reason ("rule" | "transfer" | "manual", or the
    # triage reason: "no_region", "no_matching_rule", "declined_by_all", ...).
    rule_id: str | None = None
    reason: str | None = None
    rating: int | None = None
    public: bool = True


class Case(BaseModel):
    model_config = ConfigDict(frozen=True)

    tracking_id: str
    status: Status
    assignee: str | None = None  # agency id; kept after closing so the tracker can name it
    declined_by: tuple[str, ...] = ()  # agencies that said "bukan wewenang": never again by rule
    reassignments: int = 0  # decline/transfer hops since routing or the last admin assign
    citizen_secret_hash: str | None = None
    rating: int | None = None
    # Accepted action ids, stored with the case so "apply" and "remember" are one write.
    applied_action_ids: tuple[str, ...] = ()
    history: tuple[AuditEntry, ...] = ()

    def public_history(self) -> list[AuditEntry]:
        return [entry for entry in self.history if entry.public]


@dataclass(frozen=True)
class StatusChange:
    """One `complaint.status_changed` to publish (also for assigned -> assigned elsewhere)."""

    status: Status
    previous_status: Status | None
    agency_id: str | None
    action_id: str | None  # None for routing
    actor: Actor
    message: str | None
    at: datetime

    def to_event(self, tracking_id: str) -> ComplaintStatusChanged:
        return ComplaintStatusChanged(
            tracking_id=tracking_id, occurred_at=self.at, status=self.status,
            previous_status=self.previous_status, agency_id=self.agency_id,
            action_id=self.action_id, actor=self.actor, message=self.message)
