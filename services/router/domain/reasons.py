"""Every reason code the router puts on the wire, in one place.

`RejectionReason` values go into `action.rejected.reason`; `TriageReason` values into
`complaint.needs_triage.reason` (CONTRACT.md sections 4 and 5).
"""

from __future__ import annotations

from enum import StrEnum


class RejectionReason(StrEnum):
    INVALID_ACTION = "invalid_action"  # decided by the caller: the action does not parse
    UNKNOWN_COMPLAINT = "unknown_complaint"  # decided by the caller: no case for tracking_id
    ACTOR_NOT_ALLOWED = "actor_not_allowed"  # this actor type may not take this action
    NOT_ASSIGNEE = "not_assignee"  # an agency acting on a case assigned to someone else
    BAD_CITIZEN_SECRET = "bad_citizen_secret"  # noqa: S105 - a reason code, not a secret
    INVALID_TRANSITION = "invalid_transition"  # action not allowed from the current status
    MESSAGE_REQUIRED = "message_required"  # resolve without a message
    TARGET_REQUIRED = "target_required"  # transfer/assign without target_agency_id
    UNKNOWN_AGENCY = "unknown_agency"  # transfer/assign to an agency not in the registry
    INVALID_TARGET = "invalid_target"  # transfer to the current assignee itself
    INVALID_RATING = "invalid_rating"  # rate without a rating in 1..5


class TriageReason(StrEnum):
    NO_REGION = "no_region"
    NO_MATCHING_RULE = "no_matching_rule"
    DECLINED_BY_ALL = "declined_by_all"
    TOO_MANY_TRANSFERS = "too_many_transfers"


REJECTION_REASONS: frozenset[str] = frozenset(RejectionReason)
TRIAGE_REASONS: frozenset[str] = frozenset(TriageReason)
