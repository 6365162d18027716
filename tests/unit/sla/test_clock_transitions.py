"""How lifecycle events start, stop, pause and resume the stage clocks of a case."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from services.sla.domain import ClockState, Duration, Override, SlaClock, Stage, load_policy
from services.sla.domain.clocks import Basis, MarkKind
from shared.contract import Status

from .builders import Case, at, drill_policy, status_event

RUNNING, PAUSED, STOPPED = ClockState.RUNNING, ClockState.PAUSED, ClockState.STOPPED


def assigned_case(agency: str = "kutim-pupr") -> Case:
    return Case().receive(at(0)).status(Status.ASSIGNED, at(1), agency)


def test_complaint_received_starts_the_routing_clock() -> None:
    case = Case().receive(at(0), category="infrastructure.roads")
    routing = case["routing"]
    assert [c.stage for c in case.clocks] == [Stage.ROUTING]
    assert routing.state is RUNNING and routing.agency_id is None
    assert routing.timezone == "Asia/Jakarta"  # the national coordinator's
    assert (routing.started_at, routing.due_at) == (at(0), at(1))
    assert routing.next_due_at == at(0.5)  # the 50% warning comes first
    assert (routing.kind, routing.category) == ("complaint", "infrastructure.roads")
    assert routing.basis is Basis.CALENDAR


def test_routing_runs_through_triage_and_stops_when_assigned() -> None:
    case = Case().receive(at(0)).status(Status.TRIAGE, at(0.2))
    assert case["routing"].state is RUNNING
    case.status(Status.ASSIGNED, at(0.9), "kutim-pupr")
    routing = case["routing"]
    assert routing.state is STOPPED and routing.stop_reason == "assigned"
    assert routing.stopped_at == at(0.9) and routing.next_due_at is None


def test_rejection_stops_routing() -> None:
    case = Case().receive(at(0)).status(Status.REJECTED, at(0.5))
    assert case["routing"].state is STOPPED and case["routing"].stop_reason == "rejected"


def test_assignment_starts_response_and_resolution_in_the_agency_time_zone() -> None:
    case = assigned_case()
    for stage, hours in (("response", 2), ("resolution", 10)):
        clock = case[stage]
        assert clock.state is RUNNING and clock.agency_id == "kutim-pupr"
        assert clock.timezone == "Asia/Makassar"
        assert (clock.started_at, clock.due_at) == (at(1), at(1 + hours))
        assert clock.generation == 1


def test_in_progress_stops_response_but_not_resolution() -> None:
    case = assigned_case().status(Status.IN_PROGRESS, at(1.5), "kutim-pupr")
    assert case["response"].state is STOPPED and case["response"].stop_reason == "in_progress"
    assert case["resolution"].state is RUNNING


def test_waiting_citizen_pauses_every_running_clock() -> None:
    case = assigned_case().status(Status.WAITING_CITIZEN, at(1.5), "kutim-pupr")
    assert case["routing"].state is STOPPED  # stopped clocks stay stopped
    for stage in ("response", "resolution"):
        assert case[stage].state is PAUSED and case[stage].paused_at == at(1.5)
        assert case[stage].next_due_at is None


def test_resume_moves_a_calendar_time_deadline_by_the_paused_span() -> None:
    case = (assigned_case().status(Status.IN_PROGRESS, at(1.5), "kutim-pupr")
            .status(Status.WAITING_CITIZEN, at(2), "kutim-pupr")
            .status(Status.IN_PROGRESS, at(5), "kutim-pupr"))
    resolution = case["resolution"]
    assert resolution.state is RUNNING and resolution.paused_at is None
    assert resolution.due_at == at(11 + 3)
    assert resolution.paused_seconds == 3 * 3600
    # Warnings keep their place in the active time: 50% of 10 h after 3 h paused.
    warnings = {m.threshold: m.at for m in resolution.pending if m.kind is MarkKind.WARNING}
    assert warnings == {0.5: at(1 + 5 + 3), 0.75: at(1 + 7.5 + 3)}


def test_reply_to_request_info_resumes_then_stops_response() -> None:
    case = (assigned_case().status(Status.WAITING_CITIZEN, at(1.5), "kutim-pupr")
            .status(Status.IN_PROGRESS, at(4), "kutim-pupr"))
    response = case["response"]
    assert response.state is STOPPED and response.paused_seconds == 2.5 * 3600
    assert case["resolution"].state is RUNNING


def test_resume_preserves_remaining_working_time_across_a_weekend() -> None:
    # Shipped policy: resolution = 14 working days. Assigned Mon 2 Mar 2026 10:00 WIB; the
    # 14th working day after it is Fri 27 Mar (18-24 Mar: Nyepi and Idul Fitri).
    case = Case(load_policy())
    case.receive(datetime(2026, 3, 2, 2, 0, tzinfo=UTC))
    case.status(Status.ASSIGNED, datetime(2026, 3, 2, 3, 0, tzinfo=UTC), "kemenpu")
    resolution = case["resolution"]
    assert resolution.basis is Basis.WORKING_DAYS
    assert resolution.due_at == datetime(2026, 3, 27, 17, 0, tzinfo=UTC)
    # Paused Fri 6 Mar 12:00 WIB, the citizen answers on Saturday: 12 working hours lost.
    case.status(Status.WAITING_CITIZEN, datetime(2026, 3, 6, 5, 0, tzinfo=UTC), "kemenpu")
    case.status(Status.IN_PROGRESS, datetime(2026, 3, 7, 5, 0, tzinfo=UTC), "kemenpu")
    resolution = case["resolution"]
    assert resolution.due_at == datetime(2026, 3, 30, 5, 0, tzinfo=UTC)  # Mon 30 Mar 12:00 WIB
    assert resolution.paused_seconds == 24 * 3600


def test_transfer_restarts_response_from_zero_for_the_new_agency() -> None:
    case = assigned_case().status(Status.IN_PROGRESS, at(1.5), "kutim-pupr")
    before = case["resolution"]
    case.status(Status.ASSIGNED, at(3), "jayapura-dinkes")
    response = case["response"]
    assert response.state is RUNNING and response.generation == 2
    assert (response.agency_id, response.timezone) == ("jayapura-dinkes", "Asia/Jayapura")
    assert (response.started_at, response.due_at) == (at(3), at(5))
    assert response.warnings_sent == frozenset() and response.breach_level == 0
    resolution = case["resolution"]
    assert resolution.agency_id == "jayapura-dinkes"  # escalations go to the new assignee
    assert (resolution.started_at, resolution.due_at) == (before.started_at, before.due_at)


def test_decline_to_the_next_agency_restarts_a_running_response() -> None:
    case = assigned_case().status(Status.ASSIGNED, at(1.5), "kutim-dinkes")
    assert case["response"].generation == 2 and case["response"].started_at == at(1.5)


def test_decline_by_all_stops_response_and_leaves_resolution_without_assignee() -> None:
    case = assigned_case().status(Status.TRIAGE, at(1.5))
    assert case["response"].state is STOPPED and case["response"].stop_reason == "triage"
    assert case["resolution"].state is RUNNING and case["resolution"].agency_id is None
    case.status(Status.ASSIGNED, at(2), "kutim-pupr")  # an admin assigns again
    assert case["response"].state is RUNNING and case["response"].generation == 2
    assert case["resolution"].agency_id == "kutim-pupr"
    assert case["resolution"].started_at == at(1)  # resolution started at the first assignment


def test_resolved_stops_resolution_and_starts_auto_close() -> None:
    case = assigned_case().status(Status.RESOLVED, at(4), "kutim-pupr")
    assert case["response"].state is STOPPED
    assert case["resolution"].state is STOPPED and case["resolution"].stop_reason == "resolved"
    auto_close = case["auto_close"]
    assert auto_close.state is RUNNING and auto_close.agency_id == "kutim-pupr"
    assert (auto_close.started_at, auto_close.due_at) == (at(4), at(9))
    assert [m.kind for m in auto_close.pending] == [MarkKind.AUTO_CLOSE]  # no warnings


def test_reopen_resumes_resolution_and_stops_auto_close() -> None:
    case = assigned_case().status(Status.RESOLVED, at(4), "kutim-pupr")
    case.status(Status.IN_PROGRESS, at(6), "kutim-pupr")  # the citizen reopens
    resolution = case["resolution"]
    assert resolution.state is RUNNING and resolution.stop_reason is None
    assert resolution.due_at == at(11 + 2)  # the two hours spent resolved do not count
    assert case["auto_close"].state is STOPPED
    case.status(Status.RESOLVED, at(8), "kutim-pupr")
    auto_close = case["auto_close"]
    assert auto_close.state is RUNNING and auto_close.generation == 2
    assert auto_close.due_at == at(13)


def test_closed_stops_auto_close_and_every_other_clock() -> None:
    case = (assigned_case().status(Status.RESOLVED, at(4), "kutim-pupr")
            .status(Status.CLOSED, at(5), "kutim-pupr"))
    assert all(clock.state is STOPPED for clock in case.clocks)
    assert case["auto_close"].stop_reason == "closed"
    assert all(clock.next_due_at is None for clock in case.clocks)


def test_admin_close_while_waiting_stops_paused_clocks() -> None:
    case = (assigned_case().status(Status.WAITING_CITIZEN, at(2))
            .status(Status.CLOSED, at(4)))
    resolution = case["resolution"]
    assert resolution.state is STOPPED and resolution.paused_seconds == 2 * 3600


def test_a_replayed_event_changes_nothing() -> None:
    case = assigned_case()
    event = status_event(Status.WAITING_CITIZEN, at(2), "kutim-pupr")
    once = case.apply(event).clocks
    assert case.apply(event).clocks == once
    # Even once later events were applied, the replay is recognised.
    case.status(Status.IN_PROGRESS, at(3), "kutim-pupr")
    later = case.clocks
    assert case.apply(event).clocks == later


def test_an_event_older_than_the_last_applied_is_ignored() -> None:
    case = assigned_case().status(Status.IN_PROGRESS, at(3), "kutim-pupr")
    before = case.clocks
    case.status(Status.WAITING_CITIZEN, at(2), "kutim-pupr")  # a new id, but stale
    assert case.clocks == before
    case.status(Status.ASSIGNED, at(2.5), "jayapura-dinkes")  # no restart from the past
    assert case.clocks == before


def test_events_with_the_same_timestamp_both_apply() -> None:
    case = assigned_case().status(Status.IN_PROGRESS, at(2), "kutim-pupr")
    case.status(Status.WAITING_CITIZEN, at(2), "kutim-pupr")
    assert case["resolution"].state is PAUSED


def test_replayed_complaint_received_does_not_restart_routing() -> None:
    case = Case().receive(at(0))
    first = case.clocks
    assert case.receive(at(0.5)).clocks == first


def test_received_after_the_assignment_retargets_and_leaves_routing_stopped() -> None:
    # complaints.received and complaints.status are different topics: order is not guaranteed.
    override = Override(stages={Stage.RESOLUTION: Duration.of_calendar_time("PT60H")},
                        category="infrastructure.*")
    case = Case(replace(drill_policy(), overrides=(override,)))
    case.status(Status.ASSIGNED, at(1), "kutim-pupr")
    assert case["resolution"].kind is None and case["resolution"].due_at == at(11)  # default
    case.receive(at(0), category="infrastructure.roads")
    resolution = case["resolution"]
    assert (resolution.kind, resolution.category) == ("complaint", "infrastructure.roads")
    assert resolution.due_at == at(1 + 60)
    assert case["response"].due_at == at(3)  # no override for response: unchanged
    routing = case["routing"]
    assert routing.state is STOPPED and routing.stopped_at == at(1)


def test_closed_before_received_leaves_a_stopped_routing_clock() -> None:
    case = Case().status(Status.REJECTED, at(1))
    assert case["routing"].state is STOPPED
    case.receive(at(0))
    assert case["routing"].state is STOPPED and case["routing"].kind == "complaint"


def test_clock_record_round_trip_keeps_next_due_at() -> None:
    clock = assigned_case()["resolution"]
    record = clock.to_record()
    assert (record["tracking_id"], record["stage"]) == ("LAPOR-0001", "resolution")
    assert record["next_due_at"] == clock.next_due_at == at(6)
    naive = {k: (v.replace(tzinfo=None) if isinstance(v, datetime) else v)
             for k, v in record.items()}  # what Mongo returns without tz_aware
    assert SlaClock.from_record(naive) == clock
    assert SlaClock.from_record(record) == clock


def test_every_change_bumps_the_version() -> None:
    case = assigned_case()
    before = case["resolution"].version
    case.status(Status.WAITING_CITIZEN, at(2))
    assert case["resolution"].version > before


def test_an_event_stored_for_some_clocks_only_is_completed_on_retry() -> None:
    # The service stores each clock on its own; a concurrent scanner can make one clock's
    # write fail while the others land. Retrying the event must finish the job.
    case = assigned_case()
    before = {c.stage: c for c in case.clocks}
    event = status_event(Status.WAITING_CITIZEN, at(2), "kutim-pupr")
    after = {c.stage: c for c in case.apply(event).clocks}
    partly_stored = (after[Stage.ROUTING], after[Stage.RESPONSE], before[Stage.RESOLUTION])
    case.clocks = partly_stored
    retried = {c.stage: c for c in case.apply(event).clocks}
    assert retried[Stage.RESOLUTION].state is PAUSED
    assert retried[Stage.RESOLUTION] == after[Stage.RESOLUTION]
    assert retried[Stage.RESPONSE] is after[Stage.RESPONSE]  # untouched: no second write
    assert retried[Stage.ROUTING] is after[Stage.ROUTING]


def test_an_assignment_stored_without_stopping_routing_stops_it_on_retry() -> None:
    case = Case().receive(at(0))
    routing_before = case["routing"]
    event = status_event(Status.ASSIGNED, at(0.5), "kutim-pupr")
    after = {c.stage: c for c in case.apply(event).clocks}
    case.clocks = (routing_before, after[Stage.RESPONSE], after[Stage.RESOLUTION])
    retried = {c.stage: c for c in case.apply(event).clocks}
    assert retried[Stage.ROUTING].state is STOPPED
    assert retried[Stage.RESPONSE] is after[Stage.RESPONSE]  # not restarted a second time


def test_a_received_event_stored_for_some_clocks_only_is_completed_on_retry() -> None:
    case = Case().status(Status.ASSIGNED, at(1), "kutim-pupr")
    unclassified = case["resolution"]
    case.receive(at(0), category="health.services")
    case.clocks = tuple(unclassified if c.stage == "resolution" else c for c in case.clocks)
    case.receive(at(0), category="health.services")
    assert case["resolution"].category == "health.services"
    assert case["routing"].state is STOPPED


def test_received_and_assigned_handled_at_once_both_write_the_routing_clock() -> None:
    # Two consumers (one per topic) each start from a case with no clocks. Both results
    # carry a routing clock: stored with compare-and-set, one write loses on that clock's
    # id and is applied again to what the other stored. Either way routing ends stopped.
    received_alone = Case().receive(at(0))
    assigned_alone = Case().status(Status.ASSIGNED, at(0.1), "kutim-pupr")
    assert received_alone["routing"].state is not STOPPED
    assert assigned_alone["routing"].state is STOPPED
    received_lost = assigned_alone.receive(at(0))  # received applied again, after
    assigned_lost = received_alone.status(Status.ASSIGNED, at(0.1), "kutim-pupr")
    for case in (received_lost, assigned_lost):
        assert case["routing"].state is STOPPED and case["routing"].next_due_at is None
        assert case["response"].state is not STOPPED
