"""The router's pure domain: routing rules, routing decisions and the case lifecycle."""

from .case import ROUTER_ACTOR, AuditEntry, Case, StatusChange
from .lifecycle import (
    DEFAULT_MAX_REASSIGNMENTS,
    TRANSITIONS,
    Accepted,
    Duplicate,
    Rejected,
    apply_action,
    route_new_case,
)
from .reasons import REJECTION_REASONS, TRIAGE_REASONS, RejectionReason, TriageReason
from .routing import RoutingDecision, RoutingFields, TriageDecision, candidates, route
from .rules import RoutingRule, load_rules

__all__ = [
    "DEFAULT_MAX_REASSIGNMENTS",
    "REJECTION_REASONS",
    "ROUTER_ACTOR",
    "TRANSITIONS",
    "TRIAGE_REASONS",
    "Accepted",
    "AuditEntry",
    "Case",
    "Duplicate",
    "Rejected",
    "RejectionReason",
    "RoutingDecision",
    "RoutingFields",
    "RoutingRule",
    "StatusChange",
    "TriageDecision",
    "TriageReason",
    "apply_action",
    "candidates",
    "load_rules",
    "route",
    "route_new_case",
]
