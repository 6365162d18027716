"""The case lifecycle of CONTRACT.md section 5 as pure functions.

`apply_action` decides one action against one case. It never does I/O: routing, the agency
registry, the citizen-secret check and the time come in as arguments. Checks run in this
order, so every rejection has one well-defined reason:

1. actor type allowed for the action          -> actor_not_allowed
2. agency is the current assignee              -> not_assignee
   citizen carries the right secret            -> bad_citizen_secret
3. action allowed from the current status      -> invalid_transition
4. payload (message, target, rating)           -> message_required, target_required,
                                                  invalid_target, unknown_agency, invalid_rating

An unknown tracking id is the caller's business (`unknown_complaint`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from shared.contract import OPEN_STATUSES, Action, ActionName, ActorType, ComplaintReceived, Status

from .case import RECEIVED_ENTRY, ROUTED_ENTRY, ROUTER_ACTOR, AuditEntry, Case, StatusChange
from .reasons import RejectionReason, TriageReason
from .routing import RoutingDecision, TriageDecision, route
from .rules import RoutingRule

DEFAULT_MAX_REASSIGNMENTS = 5

Outcome = RoutingDecision | TriageDecision
RouteNext = Callable[[frozenset[str]], Outcome]  # exclude agencies -> next decision
AgencyExists = Callable[[str], bool]
VerifySecret = Callable[[str, str, str], bool]  # (tracking_id, secret, stored_hash) -> ok


@dataclass(frozen=True)
class Transition:
    actor: ActorType
    from_statuses: frozenset[Status]
    to: Status | None  # None: decided by the action (decline, transfer) or no change (rate)


def _s(*statuses: Status) -> frozenset[Status]:
    return frozenset(statuses)


A, C = ActorType.AGENCY, ActorType.CITIZEN
WORKING = _s(Status.ASSIGNED, Status.IN_PROGRESS)

# CONTRACT.md section 5, row by row.
TRANSITIONS: dict[ActionName, Transition] = {
    ActionName.ACKNOWLEDGE: Transition(A, _s(Status.ASSIGNED), Status.IN_PROGRESS),
    ActionName.REQUEST_INFO: Transition(A, WORKING, Status.WAITING_CITIZEN),
    ActionName.RESOLVE: Transition(A, WORKING, Status.RESOLVED),
    ActionName.DECLINE: Transition(A, WORKING, None),
    ActionName.TRANSFER: Transition(A, WORKING, None),
    ActionName.REPLY: Transition(C, _s(Status.WAITING_CITIZEN), Status.IN_PROGRESS),
    ActionName.CONFIRM: Transition(C, _s(Status.RESOLVED), Status.CLOSED),
    ActionName.REOPEN: Transition(C, _s(Status.RESOLVED), Status.IN_PROGRESS),
    ActionName.RATE: Transition(C, _s(Status.RESOLVED, Status.CLOSED), None),
    ActionName.ASSIGN: Transition(ActorType.ADMIN, _s(Status.TRIAGE), Status.ASSIGNED),
    ActionName.REJECT: Transition(ActorType.ADMIN, _s(Status.RECEIVED, Status.TRIAGE),
                                  Status.REJECTED),
    ActionName.CLOSE: Transition(ActorType.ADMIN, frozenset(OPEN_STATUSES), Status.CLOSED),
    ActionName.AUTO_CLOSE: Transition(ActorType.SYSTEM, _s(Status.RESOLVED), Status.CLOSED),
}


@dataclass(frozen=True)
class Accepted:
    case: Case
    status_changes: tuple[StatusChange, ...]  # publish on complaints.status, in order
    outcome: Outcome | None = None  # publish on complaints.routed / complaints.triage


@dataclass(frozen=True)
class Rejected:
    reason: RejectionReason  # publish on complaints.actions.rejected
    detail: str  # for logs


@dataclass(frozen=True)
class Duplicate:
    """The action id was applied before: nothing changes, nothing is published."""

    case: Case


def apply_action(case: Case, action: Action, *, route_next: RouteNext,
                 agency_exists: AgencyExists, verify_secret: VerifySecret, now: datetime,
                 max_reassignments: int = DEFAULT_MAX_REASSIGNMENTS,
                 ) -> Accepted | Rejected | Duplicate:
    if action.tracking_id != case.tracking_id:
        raise ValueError(f"action {action.action_id} is for {action.tracking_id}, "
                         f"not {case.tracking_id}")
    if action.action_id in case.applied_action_ids:
        return Duplicate(case)
    name = ActionName(action.action)
    rule = TRANSITIONS[name]

    denied = _check_actor(case, action, rule, verify_secret)
    if denied is not None:
        return denied
    if case.status not in rule.from_statuses:
        return Rejected(RejectionReason.INVALID_TRANSITION,
                        f"{name} is not allowed from {case.status}")

    step = _Step(case, action, now)
    if name is ActionName.RESOLVE and not (action.message and action.message.strip()):
        return Rejected(RejectionReason.MESSAGE_REQUIRED, "resolve needs a message")
    if name is ActionName.RATE:
        return _rate(step)
    if name is ActionName.DECLINE:
        return _decline(step, route_next, max_reassignments)
    if name in (ActionName.TRANSFER, ActionName.ASSIGN):
        return _reassign(step, agency_exists, max_reassignments)
    assert rule.to is not None  # every other row has a fixed target status
    return step.accept(rule.to, case.assignee)


def route_new_case(received: ComplaintReceived, rules: Sequence[RoutingRule], *,
                   citizen_secret_hash: str, now: datetime) -> Accepted:
    """A freshly received complaint: routed by rule (assigned) or sent to triage.

    The case starts in `received` (history entry at the event's occurred_at) and moves on
    at once; only that move is a status change, intake already announced `received`.
    """
    case = Case(
        tracking_id=received.tracking_id, status=Status.RECEIVED,
        citizen_secret_hash=citizen_secret_hash,
        history=(AuditEntry(status=Status.RECEIVED, previous_status=None,
                            at=received.occurred_at, actor=ROUTER_ACTOR,
                            action=RECEIVED_ENTRY),),
    )
    decision = route(rules, received)
    if isinstance(decision, RoutingDecision):
        status, assignee = Status.ASSIGNED, decision.agency_id
    else:
        status, assignee = Status.TRIAGE, None
    rule_id, reason, note = _decision_fields(decision)
    entry = AuditEntry(status=status, previous_status=Status.RECEIVED, at=now,
                       actor=ROUTER_ACTOR, action=ROUTED_ENTRY, agency_id=assignee,
                       rule_id=rule_id, reason=reason, note=note)
    change = StatusChange(status, Status.RECEIVED, assignee, None, ROUTER_ACTOR, None, now)
    new_case = case.model_copy(update={"status": status, "assignee": assignee,
                                       "history": (*case.history, entry)})
    return Accepted(new_case, (change,), decision)


def _decision_fields(decision: Outcome | None) -> tuple[str | None, str | None, str | None]:
    """What the audit trail keeps of a routing decision: (rule_id, reason, explanation)."""
    if decision is None:
        return None, None, None
    rule_id = decision.rule_id if isinstance(decision, RoutingDecision) else None
    return rule_id, str(decision.reason), decision.explanation


def _check_actor(case: Case, action: Action, rule: Transition,
                 verify_secret: VerifySecret) -> Rejected | None:
    actor = action.actor
    if actor.type != rule.actor:
        return Rejected(RejectionReason.ACTOR_NOT_ALLOWED,
                        f"{action.action} is for {rule.actor} actors, not {actor.type}")
    if actor.type == ActorType.AGENCY and (case.assignee is None or actor.id != case.assignee):
        return Rejected(RejectionReason.NOT_ASSIGNEE,
                        f"agency {actor.id} is not the assignee ({case.assignee or 'none'})")
    if actor.type == ActorType.CITIZEN and not (
            action.citizen_secret and case.citizen_secret_hash
            and verify_secret(case.tracking_id, action.citizen_secret, case.citizen_secret_hash)):
        return Rejected(RejectionReason.BAD_CITIZEN_SECRET, "missing or wrong citizen secret")
    return None


@dataclass(frozen=True)
class _Step:
    """One accepted action being turned into a new case and its status change."""

    case: Case
    action: Action
    now: datetime

    def entry(self, status: Status, assignee: str | None, *, outcome: Outcome | None = None,
              public: bool = True) -> AuditEntry:
        rule_id, reason, note = _decision_fields(outcome)
        return AuditEntry(status=status, previous_status=self.case.status, at=self.now,
                          actor=self.action.actor, action=str(self.action.action),
                          action_id=self.action.action_id, agency_id=assignee,
                          message=self.action.message, note=note, rule_id=rule_id,
                          reason=reason,
                          rating=self.action.rating if self.action.action == ActionName.RATE
                          else None, public=public)

    def accept(self, status: Status, assignee: str | None, outcome: Outcome | None = None,
               **update: object) -> Accepted:
        case = self.case.model_copy(update={
            "status": status, "assignee": assignee,
            "applied_action_ids": (*self.case.applied_action_ids, self.action.action_id),
            "history": (*self.case.history, self.entry(status, assignee, outcome=outcome)),
            **update,
        })
        change = StatusChange(status, self.case.status, assignee, self.action.action_id,
                              self.action.actor, self.action.message, self.now)
        return Accepted(case, (change,), outcome)


def _rate(step: _Step) -> Accepted | Rejected:
    rating = step.action.rating
    if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
        return Rejected(RejectionReason.INVALID_RATING, f"rating must be 1..5, got {rating!r}")
    case = step.case
    # Recorded, but not a status change: nothing goes to complaints.status.
    new_case = case.model_copy(update={
        "rating": rating,
        "applied_action_ids": (*case.applied_action_ids, step.action.action_id),
        "history": (*case.history, step.entry(case.status, case.assignee, public=False)),
    })
    return Accepted(new_case, ())


def _too_many(case: Case, max_reassignments: int) -> TriageDecision | None:
    # Ping-pong bound: agencies passing a complaint around must end in human triage.
    if case.reassignments >= max_reassignments:
        return TriageDecision(TriageReason.TOO_MANY_TRANSFERS,
                              f"{case.reassignments} reassignments by decline/transfer "
                              f"(limit {max_reassignments})")
    return None


def _to_outcome(step: _Step, decision: Outcome, **update: object) -> Accepted:
    if isinstance(decision, RoutingDecision):
        return step.accept(Status.ASSIGNED, decision.agency_id, decision, **update)
    return step.accept(Status.TRIAGE, None, decision, **update)


def _decline(step: _Step, route_next: RouteNext, max_reassignments: int) -> Accepted:
    case = step.case
    decliner = step.action.actor.id
    declined = case.declined_by if decliner in case.declined_by else (*case.declined_by,
                                                                       decliner)
    update = {"declined_by": declined, "reassignments": case.reassignments + 1}
    decision: Outcome = _too_many(case, max_reassignments) or route_next(frozenset(declined))
    if isinstance(decision, RoutingDecision) and decision.agency_id in declined:
        # route_next must honour the exclusion; never hand the case back to a decliner.
        raise ValueError(f"route_next returned {decision.agency_id}, which declined")
    return _to_outcome(step, decision, **update)


def _reassign(step: _Step, agency_exists: AgencyExists, max_reassignments: int,
              ) -> Accepted | Rejected:
    case, action = step.case, step.action
    target = (action.target_agency_id or "").strip()
    if not target:
        return Rejected(RejectionReason.TARGET_REQUIRED, f"{action.action} needs target_agency_id")
    if action.action == ActionName.TRANSFER and target == case.assignee:
        return Rejected(RejectionReason.INVALID_TARGET, "cannot transfer to the assignee itself")
    if not agency_exists(target):
        return Rejected(RejectionReason.UNKNOWN_AGENCY, f"unknown agency {target!r}")

    if action.action == ActionName.ASSIGN:
        # An admin's choice ends any ping-pong: the hop count starts again.
        decision = RoutingDecision(target, None, "manual",
                                   f"assigned by admin {action.actor.id} from triage")
        return _to_outcome(step, decision, reassignments=0)
    too_many = _too_many(case, max_reassignments)
    outcome: Outcome = too_many or RoutingDecision(
        target, None, "transfer", f"transferred by {case.assignee} to {target}")
    return _to_outcome(step, outcome, reassignments=case.reassignments + 1)
