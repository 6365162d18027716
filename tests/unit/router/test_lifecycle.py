"""The case lifecycle (CONTRACT.md section 5): every action x status x actor, the payload
checks, decline chains, the ping-pong bound, idempotency and routing of new cases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.router.domain.case import ROUTER_ACTOR, Case
from services.router.domain.lifecycle import (
    DEFAULT_MAX_REASSIGNMENTS,
    Accepted,
    Duplicate,
    Rejected,
    apply_action,
    route_new_case,
)
from services.router.domain.reasons import REJECTION_REASONS, RejectionReason, TriageReason
from services.router.domain.routing import (
    RoutingDecision,
    RoutingFields,
    TriageDecision,
    route,
)
from services.router.domain.rules import RoutingRule
from shared.contract import (
    OPEN_STATUSES,
    Action,
    ActionName,
    Actor,
    ActorType,
    Channel,
    ComplaintReceived,
    ComplaintStatusChanged,
    Status,
)

NOW = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)
SECRET = "s3cret-citizen"  # noqa: S105 - a test fixture
TRACKING = "LPR-2026-000001"
KNOWN_AGENCIES = {"agency-a", "agency-b", "agency-c"}

# The contract's table, written out independently of the implementation's TRANSITIONS.
CONTRACT: dict[str, tuple[ActorType, dict[Status, Status]]] = {
    "acknowledge": (ActorType.AGENCY, {Status.ASSIGNED: Status.IN_PROGRESS}),
    "request_info": (ActorType.AGENCY, {Status.ASSIGNED: Status.WAITING_CITIZEN,
                                        Status.IN_PROGRESS: Status.WAITING_CITIZEN}),
    "resolve": (ActorType.AGENCY, {Status.ASSIGNED: Status.RESOLVED,
                                   Status.IN_PROGRESS: Status.RESOLVED}),
    "decline": (ActorType.AGENCY, {Status.ASSIGNED: Status.ASSIGNED,
                                   Status.IN_PROGRESS: Status.ASSIGNED}),
    "transfer": (ActorType.AGENCY, {Status.ASSIGNED: Status.ASSIGNED,
                                    Status.IN_PROGRESS: Status.ASSIGNED}),
    "reply": (ActorType.CITIZEN, {Status.WAITING_CITIZEN: Status.IN_PROGRESS}),
    "confirm": (ActorType.CITIZEN, {Status.RESOLVED: Status.CLOSED}),
    "reopen": (ActorType.CITIZEN, {Status.RESOLVED: Status.IN_PROGRESS}),
    "rate": (ActorType.CITIZEN, {Status.RESOLVED: Status.RESOLVED,
                                 Status.CLOSED: Status.CLOSED}),
    "assign": (ActorType.ADMIN, {Status.TRIAGE: Status.ASSIGNED}),
    "reject": (ActorType.ADMIN, {Status.RECEIVED: Status.REJECTED,
                                 Status.TRIAGE: Status.REJECTED}),
    "close": (ActorType.ADMIN, {s: Status.CLOSED for s in (
        Status.RECEIVED, Status.TRIAGE, Status.ASSIGNED, Status.IN_PROGRESS,
        Status.WAITING_CITIZEN, Status.RESOLVED)}),
    "auto_close": (ActorType.SYSTEM, {Status.RESOLVED: Status.CLOSED}),
}
# Where the complaint is assigned after the action, for the rows that move it.
NEW_ASSIGNEE = {"decline": "agency-c", "transfer": "agency-b", "assign": "agency-b"}
UNASSIGNED = {Status.RECEIVED, Status.TRIAGE, Status.REJECTED}

# (label, actor, citizen secret): the right actor and a wrong one of each type.
ACTORS: list[tuple[str, Actor, str | None]] = [
    ("assignee", Actor(type=ActorType.AGENCY, id="agency-a"), None),
    ("other-agency", Actor(type=ActorType.AGENCY, id="agency-z"), None),
    ("citizen", Actor(type=ActorType.CITIZEN, id="citizen"), SECRET),
    ("citizen-bad-secret", Actor(type=ActorType.CITIZEN, id="citizen"), "guess"),
    ("admin", Actor(type=ActorType.ADMIN, id="admin-1"), None),
    ("system", Actor(type=ActorType.SYSTEM, id="sla"), None),
]


def fake_hash(secret: str) -> str:
    return f"hash:{secret}"


def verify(tracking_id: str, secret: str, stored_hash: str) -> bool:
    assert tracking_id == TRACKING
    return fake_hash(secret) == stored_hash


def route_next_to_c(exclude: frozenset[str]) -> RoutingDecision | TriageDecision:
    if "agency-c" in exclude:
        return TriageDecision(TriageReason.DECLINED_BY_ALL, "everyone declined")
    return RoutingDecision("agency-c", "rule-c", "rule", "rule-c matches")


def make_case(status: Status, assignee: str | None = "agency-a", **extra: Any) -> Case:
    if status in UNASSIGNED:
        assignee = None
    return Case(tracking_id=TRACKING, status=status, assignee=assignee,
                citizen_secret_hash=fake_hash(SECRET), **extra)


_counter = iter(range(1, 1_000_000))


def make_action(name: str, actor: Actor, secret: str | None = None, **fields: Any) -> Action:
    payload: dict[str, Any] = {"message": "Sudah kami tindak lanjuti ke lapangan.",
                               "target_agency_id": "agency-b", "rating": 4}
    payload.update(fields)
    return Action(action_id=f"00000000-0000-4000-8000-{next(_counter):012d}",
                  tracking_id=TRACKING, occurred_at=NOW - timedelta(seconds=5), actor=actor,
                  action=ActionName(name), citizen_secret=secret, **payload)


def apply(case: Case, action: Action, **kwargs: Any) -> Accepted | Rejected | Duplicate:
    options: dict[str, Any] = {"route_next": route_next_to_c,
                               "agency_exists": KNOWN_AGENCIES.__contains__,
                               "verify_secret": verify, "now": NOW}
    options.update(kwargs)
    return apply_action(case, action, **options)


def expected_outcome(name: str, status: Status, label: str, actor: Actor) -> str | Status:
    required, moves = CONTRACT[name]
    if actor.type != required:
        return RejectionReason.ACTOR_NOT_ALLOWED
    if label == "other-agency" or (actor.type == ActorType.AGENCY and status in UNASSIGNED):
        return RejectionReason.NOT_ASSIGNEE  # received/triage/rejected have no assignee
    if label == "citizen-bad-secret":
        return RejectionReason.BAD_CITIZEN_SECRET
    if status not in moves:
        return RejectionReason.INVALID_TRANSITION
    return moves[status]


MATRIX = [
    pytest.param(name, status, label, actor, secret, id=f"{name}-{status}-{label}")
    for name in CONTRACT
    for status in Status
    for label, actor, secret in ACTORS
]


@pytest.mark.parametrize(("name", "status", "label", "actor", "secret"), MATRIX)
def test_lifecycle_matrix(name: str, status: Status, label: str, actor: Actor,
                          secret: str | None) -> None:
    case = make_case(status)
    action = make_action(name, actor, secret)
    result = apply(case, action)
    expected = expected_outcome(name, status, label, actor)

    if isinstance(expected, RejectionReason):
        assert isinstance(result, Rejected), result
        assert result.reason == expected
        return
    assert isinstance(result, Accepted), result
    new = result.case
    assert new.status == expected
    assert new.applied_action_ids == (action.action_id,)
    assert new.history[-1].action == name and new.history[-1].action_id == action.action_id
    assert new.assignee == NEW_ASSIGNEE.get(name, case.assignee)
    if name == "rate":
        assert result.status_changes == () and new.rating == 4
        assert not new.history[-1].public
        return
    (change,) = result.status_changes
    assert (change.status, change.previous_status) == (expected, status)
    assert change.agency_id == new.assignee and change.action_id == action.action_id
    assert change.actor == actor and change.message == action.message
    if name in NEW_ASSIGNEE:
        assert isinstance(result.outcome, RoutingDecision)
        assert result.outcome.agency_id == NEW_ASSIGNEE[name]
        assert result.outcome.reason == {"decline": "rule", "transfer": "transfer",
                                         "assign": "manual"}[name]
        # The decision is recorded in the audit trail too.
        entry = new.history[-1]
        assert (entry.reason, entry.rule_id) == (result.outcome.reason, result.outcome.rule_id)
        assert entry.note == result.outcome.explanation
    else:
        assert result.outcome is None
        assert (new.history[-1].reason, new.history[-1].rule_id, new.history[-1].note) == (
            None, None, None)


def test_matrix_covers_every_action_status_and_actor_type() -> None:
    assert {p.values[0] for p in MATRIX} == {str(a) for a in CONTRACT}
    assert len(MATRIX) == len(CONTRACT) * len(Status) * len(ACTORS)
    assert set(CONTRACT["close"][1]) == set(OPEN_STATUSES)


# Payload checks, after actor and status checks passed.
AGENCY_A = Actor(type=ActorType.AGENCY, id="agency-a")
ADMIN = Actor(type=ActorType.ADMIN, id="admin-1")
CITIZEN = Actor(type=ActorType.CITIZEN, id="citizen")


@pytest.mark.parametrize(("status", "name", "actor", "secret", "fields", "reason"), [
    pytest.param(Status.IN_PROGRESS, "resolve", AGENCY_A, None, {"message": None},
                 RejectionReason.MESSAGE_REQUIRED, id="resolve-without-message"),
    pytest.param(Status.ASSIGNED, "resolve", AGENCY_A, None, {"message": "  "},
                 RejectionReason.MESSAGE_REQUIRED, id="resolve-blank-message"),
    pytest.param(Status.IN_PROGRESS, "transfer", AGENCY_A, None, {"target_agency_id": None},
                 RejectionReason.TARGET_REQUIRED, id="transfer-without-target"),
    pytest.param(Status.IN_PROGRESS, "transfer", AGENCY_A, None,
                 {"target_agency_id": "dinas-hantu"}, RejectionReason.UNKNOWN_AGENCY,
                 id="transfer-unknown-agency"),
    pytest.param(Status.ASSIGNED, "transfer", AGENCY_A, None, {"target_agency_id": "agency-a"},
                 RejectionReason.INVALID_TARGET, id="transfer-to-itself"),
    pytest.param(Status.TRIAGE, "assign", ADMIN, None, {"target_agency_id": None},
                 RejectionReason.TARGET_REQUIRED, id="assign-without-target"),
    pytest.param(Status.TRIAGE, "assign", ADMIN, None, {"target_agency_id": "dinas-hantu"},
                 RejectionReason.UNKNOWN_AGENCY, id="assign-unknown-agency"),
    pytest.param(Status.RESOLVED, "rate", CITIZEN, SECRET, {"rating": None},
                 RejectionReason.INVALID_RATING, id="rate-without-rating"),
    pytest.param(Status.RESOLVED, "reply", CITIZEN, None, {},
                 RejectionReason.BAD_CITIZEN_SECRET, id="citizen-without-secret"),
    pytest.param(Status.WAITING_CITIZEN, "reply", CITIZEN, "", {},
                 RejectionReason.BAD_CITIZEN_SECRET, id="citizen-empty-secret"),
])
def test_payload_rejections(status: Status, name: str, actor: Actor, secret: str | None,
                            fields: dict[str, Any], reason: RejectionReason) -> None:
    result = apply(make_case(status), make_action(name, actor, secret, **fields))
    assert isinstance(result, Rejected) and result.reason == reason, result
    assert result.reason in REJECTION_REASONS


@pytest.mark.parametrize("rating", [0, 6, -1, True])
def test_rating_outside_range_is_rejected(rating: Any) -> None:
    # The Action model already refuses these; the domain must not rely on it.
    action = make_action("rate", CITIZEN, SECRET).model_copy(update={"rating": rating})
    result = apply(make_case(Status.CLOSED), action)
    assert isinstance(result, Rejected) and result.reason == RejectionReason.INVALID_RATING


def test_case_without_secret_hash_refuses_citizens() -> None:
    case = make_case(Status.RESOLVED).model_copy(update={"citizen_secret_hash": None})
    result = apply(case, make_action("confirm", CITIZEN, SECRET))
    assert isinstance(result, Rejected) and result.reason == RejectionReason.BAD_CITIZEN_SECRET


def test_reason_codes_are_the_contract_strings() -> None:
    assert REJECTION_REASONS == {
        "invalid_action", "unknown_complaint", "actor_not_allowed", "not_assignee", "bad_citizen_secret",
        "invalid_transition", "message_required", "target_required", "unknown_agency",
        "invalid_target", "invalid_rating"}


# Idempotency, recording and the audit trail.
def test_same_action_id_twice_changes_nothing() -> None:
    action = make_action("acknowledge", AGENCY_A)
    first = apply(make_case(Status.ASSIGNED), action)
    assert isinstance(first, Accepted)
    second = apply(first.case, action)
    assert isinstance(second, Duplicate) and second.case == first.case


def test_rate_is_recorded_without_status_change_and_may_be_revised() -> None:
    case = make_case(Status.CLOSED)
    first = apply(case, make_action("rate", CITIZEN, SECRET, rating=2))
    assert isinstance(first, Accepted)
    second = apply(first.case, make_action("rate", CITIZEN, SECRET, rating=5))
    assert isinstance(second, Accepted) and second.status_changes == ()
    assert second.case.rating == 5 and second.case.status == Status.CLOSED
    assert [e.rating for e in second.case.history] == [2, 5]
    assert second.case.public_history() == []


def test_action_for_another_complaint_is_a_caller_bug() -> None:
    action = make_action("acknowledge", AGENCY_A).model_copy(update={"tracking_id": "LPR-X"})
    with pytest.raises(ValueError, match="LPR-X"):
        apply(make_case(Status.ASSIGNED), action)


def test_status_change_becomes_contract_event() -> None:
    result = apply(make_case(Status.ASSIGNED), make_action("acknowledge", AGENCY_A))
    assert isinstance(result, Accepted)
    event = result.status_changes[0].to_event(TRACKING)
    assert isinstance(event, ComplaintStatusChanged)
    assert (event.status, event.previous_status, event.agency_id) == (
        Status.IN_PROGRESS, Status.ASSIGNED, "agency-a")
    assert event.occurred_at == NOW


def test_case_round_trips_through_json() -> None:
    result = apply(make_case(Status.ASSIGNED), make_action("acknowledge", AGENCY_A))
    assert isinstance(result, Accepted)
    stored = result.case.model_dump(mode="json")
    assert Case.model_validate(stored) == result.case


# Decline chains and the ping-pong bound, against the shipped rules.
ROADS_SANGATTA = RoutingFields("64.08.04", "infrastructure.roads", "complaint")


def decline_as_assignee(case: Case, rules: list[RoutingRule], **kwargs: Any) -> Accepted:
    actor = Actor(type=ActorType.AGENCY, id=case.assignee or "")
    result = apply(case, make_action("decline", actor, message="Bukan wewenang kami."),
                   route_next=lambda exclude: route(rules, ROADS_SANGATTA, exclude), **kwargs)
    assert isinstance(result, Accepted), result
    return result


def test_decline_chain_until_declined_by_all(shipped_rules: list[RoutingRule]) -> None:
    case = make_case(Status.IN_PROGRESS, assignee="kutim-pupr")
    visited = [case.assignee]
    while True:
        result = decline_as_assignee(case, shipped_rules)
        case = result.case
        if case.status == Status.TRIAGE:
            break
        assert isinstance(result.outcome, RoutingDecision)
        assert case.assignee not in visited  # never back to an agency that declined
        visited.append(case.assignee)
    assert visited == ["kutim-pupr", "pemkab-kutim", "kaltim-dpupr", "pemprov-kaltim",
                       "kemenpu"]
    assert isinstance(result.outcome, TriageDecision)
    assert result.outcome.reason == TriageReason.DECLINED_BY_ALL
    assert case.assignee is None and case.declined_by == tuple(visited)
    assert (case.history[-1].reason, case.history[-1].rule_id) == ("declined_by_all", None)
    assert result.status_changes[0].status == Status.TRIAGE


def test_admin_assign_after_declined_by_all_then_decline_again(
        shipped_rules: list[RoutingRule]) -> None:
    case = make_case(Status.ASSIGNED, assignee="kemenpu",
                     declined_by=("kutim-pupr", "pemkab-kutim", "kaltim-dpupr", "pemprov-kaltim"))
    case = decline_as_assignee(case, shipped_rules).case
    assert case.status == Status.TRIAGE
    assigned = apply(case, make_action("assign", ADMIN, target_agency_id="kutim-pupr"),
                     agency_exists=lambda agency: True)
    assert isinstance(assigned, Accepted) and assigned.case.assignee == "kutim-pupr"
    assert assigned.case.reassignments == 0  # an admin's choice restarts the hop count
    again = decline_as_assignee(assigned.case, shipped_rules)
    assert isinstance(again.outcome, TriageDecision)
    assert again.outcome.reason == TriageReason.DECLINED_BY_ALL


def transfer(case: Case, to: str, **kwargs: Any) -> Accepted:
    actor = Actor(type=ActorType.AGENCY, id=case.assignee or "")
    result = apply(case, make_action("transfer", actor, target_agency_id=to), **kwargs)
    assert isinstance(result, Accepted), result
    return result


def test_ping_pong_between_two_agencies_ends_in_triage() -> None:
    case = make_case(Status.ASSIGNED, assignee="agency-a")
    for hop in range(DEFAULT_MAX_REASSIGNMENTS):
        case = transfer(case, "agency-b" if case.assignee == "agency-a" else "agency-a").case
        assert case.status == Status.ASSIGNED and case.reassignments == hop + 1
    result = transfer(case, "agency-b" if case.assignee == "agency-a" else "agency-a")
    assert result.case.status == Status.TRIAGE and result.case.assignee is None
    assert isinstance(result.outcome, TriageDecision)
    assert result.outcome.reason == TriageReason.TOO_MANY_TRANSFERS


def test_ping_pong_bound_is_a_parameter_and_counts_declines_too() -> None:
    case = make_case(Status.ASSIGNED, assignee="agency-a")
    case = transfer(case, "agency-b", max_reassignments=2).case
    declined = apply(case, make_action("decline", Actor(type=ActorType.AGENCY, id="agency-b")),
                     max_reassignments=2)
    assert isinstance(declined, Accepted) and declined.case.assignee == "agency-c"
    result = transfer(declined.case, "agency-a", max_reassignments=2)
    assert isinstance(result.outcome, TriageDecision)
    assert result.outcome.reason == TriageReason.TOO_MANY_TRANSFERS


def test_transfer_to_an_agency_that_declined_is_allowed() -> None:
    case = make_case(Status.IN_PROGRESS, assignee="agency-a", declined_by=("agency-b",))
    result = transfer(case, "agency-b")
    assert result.case.assignee == "agency-b" and result.case.status == Status.ASSIGNED


def test_decline_never_trusts_route_next_returning_a_decliner() -> None:
    case = make_case(Status.ASSIGNED, assignee="agency-a")
    action = make_action("decline", AGENCY_A)
    with pytest.raises(ValueError, match="declined"):
        apply(case, action, route_next=lambda exclude: RoutingDecision("agency-a", "r", "rule",
                                                                       "bad router"))


# Freshly received complaints.
def received(region: str | None, category: str | None) -> ComplaintReceived:
    return ComplaintReceived(
        tracking_id=TRACKING, occurred_at=NOW - timedelta(seconds=1), channel=Channel.WEB,
        channel_ref="web-1", category=category, region_code=region,
        body="Jalan poros Sangatta berlubang besar.", submitted_at=NOW - timedelta(minutes=1),
        citizen_secret=SECRET)


def test_new_case_routed_by_rule(shipped_rules: list[RoutingRule]) -> None:
    result = route_new_case(received("64.08.04", "infrastructure.roads"), shipped_rules,
                            citizen_secret_hash=fake_hash(SECRET), now=NOW)
    case = result.case
    assert (case.status, case.assignee) == (Status.ASSIGNED, "kutim-pupr")
    assert case.citizen_secret_hash == fake_hash(SECRET) and case.reassignments == 0
    assert [e.status for e in case.public_history()] == [Status.RECEIVED, Status.ASSIGNED]
    assert isinstance(result.outcome, RoutingDecision)
    assert result.outcome.rule_id == "kutim-infrastructure"
    routed = case.history[-1]
    assert (routed.rule_id, routed.reason) == ("kutim-infrastructure", "rule")
    assert "kutim-infrastructure" in (routed.note or "")
    (change,) = result.status_changes
    assert (change.status, change.previous_status, change.agency_id, change.action_id) == (
        Status.ASSIGNED, Status.RECEIVED, "kutim-pupr", None)
    assert change.actor == ROUTER_ACTOR


@pytest.mark.parametrize(("region", "category", "reason"), [
    (None, "infrastructure.roads", TriageReason.NO_REGION),
    ("31.71", "other", TriageReason.NO_MATCHING_RULE),
])
def test_new_case_to_triage(shipped_rules: list[RoutingRule], region: str | None,
                            category: str, reason: TriageReason) -> None:
    result = route_new_case(received(region, category), shipped_rules,
                            citizen_secret_hash=fake_hash(SECRET), now=NOW)
    assert (result.case.status, result.case.assignee) == (Status.TRIAGE, None)
    assert isinstance(result.outcome, TriageDecision) and result.outcome.reason == reason
    assert result.status_changes[0].status == Status.TRIAGE
    assert (result.case.history[-1].reason, result.case.history[-1].rule_id) == (reason, None)
