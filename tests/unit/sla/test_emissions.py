"""What the scanner emits: warnings, breach levels and auto_close, in order and exactly once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.sla.domain import (
    Emission,
    MarkKind,
    SlaClock,
    due_actions,
    load_policy,
    record_sent,
)
from shared.clock import ManualClock
from shared.contract import Action, ActionName, ActorType, SlaBreached, SlaWarning, Status

from .builders import COORDINATOR, Case, at, parent_of


def scan(clock: SlaClock, now: datetime) -> tuple[SlaClock, list[Emission]]:
    return due_actions(clock, now, parent_of=parent_of, coordinator=COORDINATOR)


def summary(emissions: list[Emission]) -> list[tuple[str, float | int | None, str | None]]:
    return [(e.kind.value, e.threshold if e.kind is MarkKind.WARNING else e.level,
             e.escalated_to_agency_id) for e in emissions]


def resolution_clock(agency: str = "kutim-pupr") -> SlaClock:
    """Drill policy: assigned at at(1), resolution PT10H, escalation every PT1H."""
    return Case().receive(at(0)).status(Status.ASSIGNED, at(1), agency)["resolution"]


def test_warnings_then_breach_levels_in_order_as_time_passes() -> None:
    clock, time = resolution_clock(), ManualClock(at(1))
    expected = {
        4.99: [],
        5: [("warning", 0.5, None)],
        7.5: [("warning", 0.75, None)],
        9.9: [],
        10: [("breach", 1, "kutim-pupr")],  # the assignee
        11: [("breach", 2, "pemkab-kutim")],  # its parent agency
        12: [("breach", 3, COORDINATOR)],  # the national coordinator
        500: [],
    }
    for hours, wanted in expected.items():
        time.set(at(1 + hours))
        clock, emissions = scan(clock, time.now())
        assert summary(emissions) == wanted, hours
    assert clock.warnings_sent == {0.5, 0.75} and clock.breach_level == 3
    assert clock.next_due_at is None and clock.pending == ()


def test_next_due_at_follows_the_schedule() -> None:
    clock = resolution_clock()
    seen = []
    while clock.next_due_at is not None:
        seen.append(clock.next_due_at)
        clock, _ = scan(clock, clock.next_due_at)
    assert seen == [at(6), at(8.5), at(11), at(12), at(13)]


def test_catching_up_after_downtime_emits_everything_due_once_in_order() -> None:
    clock, emissions = scan(resolution_clock(), at(12.5))
    assert summary(emissions) == [("warning", 0.5, None), ("warning", 0.75, None),
                                  ("breach", 1, "kutim-pupr"), ("breach", 2, "pemkab-kutim")]
    assert all(e.due_at == at(11) for e in emissions)
    assert [e.scheduled_at for e in emissions] == [at(6), at(8.5), at(11), at(12)]
    assert emissions[-1].overdue_seconds == 1.5 * 3600
    again, nothing = scan(clock, at(12.5))
    assert nothing == [] and again == clock
    clock, emissions = scan(clock, at(13))
    assert summary(emissions) == [("breach", 3, COORDINATOR)]


def test_no_second_emission_once_recorded() -> None:
    clock, first = scan(resolution_clock(), at(6))
    assert len(first) == 1
    for _ in range(3):
        same, emissions = scan(clock, at(6))
        assert emissions == [] and same is clock


def test_a_paused_or_stopped_clock_emits_nothing() -> None:
    case = Case().receive(at(0)).status(Status.ASSIGNED, at(1), "kutim-pupr")
    case.status(Status.WAITING_CITIZEN, at(2))
    assert scan(case["resolution"], at(100)) == (case["resolution"], [])
    case.status(Status.CLOSED, at(3))
    assert scan(case["resolution"], at(100)) == (case["resolution"], [])


def test_escalation_after_a_breach_waits_for_the_pause() -> None:
    case = Case().receive(at(0)).status(Status.ASSIGNED, at(1), "kutim-pupr")
    case.status(Status.IN_PROGRESS, at(1.5))
    clock, _ = scan(case["resolution"], at(11))  # breach level 1
    case.clocks = tuple(clock if c.stage == "resolution" else c for c in case.clocks)
    case.status(Status.WAITING_CITIZEN, at(11.5)).status(Status.IN_PROGRESS, at(14.5))
    clock = case["resolution"]
    assert clock.due_at == at(11)  # the deadline that was missed stays what it was
    assert clock.next_due_at == at(12 + 3)  # level 2 one interval of active time later


def test_routing_breaches_go_to_the_national_coordinator() -> None:
    routing = Case().receive(at(0))["routing"]
    _, emissions = scan(routing, at(3))
    breaches = [e for e in emissions if e.kind is MarkKind.BREACH]
    assert [(e.level, e.agency_id, e.escalated_to_agency_id) for e in breaches] == [
        (1, None, COORDINATOR), (2, None, COORDINATOR), (3, None, COORDINATOR)]


def test_level_two_without_a_parent_goes_to_the_coordinator() -> None:
    _, emissions = scan(resolution_clock("jayapura-dinkes"), at(12))
    assert summary(emissions)[-2:] == [("breach", 1, "jayapura-dinkes"),
                                       ("breach", 2, COORDINATOR)]


def test_auto_close_is_a_single_command_at_due_time() -> None:
    case = Case().receive(at(0)).status(Status.ASSIGNED, at(1), "kutim-pupr")
    auto_close = case.status(Status.RESOLVED, at(2), "kutim-pupr")["auto_close"]
    assert scan(auto_close, at(6.99))[1] == []
    clock, emissions = scan(auto_close, at(50))
    assert [e.kind for e in emissions] == [MarkKind.AUTO_CLOSE]
    assert clock.auto_close_sent and scan(clock, at(60))[1] == []
    message = emissions[0].to_message(at(50))
    assert isinstance(message, Action)
    assert message.action is ActionName.AUTO_CLOSE and message.actor.type is ActorType.SYSTEM
    assert message.action_id == emissions[0].emission_id
    assert message.tracking_id == "LAPOR-0001"


def test_emissions_become_contract_events_with_deterministic_ids() -> None:
    _, emissions = scan(resolution_clock(), at(11))
    warning, breach = emissions[0].to_message(at(11)), emissions[2].to_message(at(11))
    assert isinstance(warning, SlaWarning) and isinstance(breach, SlaBreached)
    assert (warning.stage, warning.threshold, warning.due_at) == ("resolution", 0.5, at(11))
    assert warning.agency_id == "kutim-pupr" and warning.event_id == emissions[0].emission_id
    assert (breach.level, breach.escalated_to_agency_id) == (1, "kutim-pupr")
    assert breach.model_dump(mode="json")["due_at"] == "2026-03-02T12:00:00Z"
    # Same clock, same mark: same id (a retry is recognisable); another case: another id.
    _, again = scan(resolution_clock(), at(11))
    assert [e.emission_id for e in again] == [e.emission_id for e in emissions]
    other = Case(tracking_id="LAPOR-0002").receive(at(0))
    other.status(Status.ASSIGNED, at(1), "kutim-pupr")
    _, theirs = scan(other["resolution"], at(11))
    assert not {e.emission_id for e in theirs} & {e.emission_id for e in emissions}


def test_a_restarted_response_emits_again_under_new_ids() -> None:
    case = Case().receive(at(0)).status(Status.ASSIGNED, at(1), "kutim-pupr")
    _, first = scan(case["response"], at(2))
    case.status(Status.ASSIGNED, at(2.5), "kutim-dinkes")
    _, second = scan(case["response"], at(3.5))
    assert summary(first) == summary(second) == [("warning", 0.5, None)]
    assert first[0].emission_id != second[0].emission_id
    assert second[0].agency_id == "kutim-dinkes"


def test_working_day_escalation_levels_with_the_shipped_policy() -> None:
    # Response: 5 working days from Mon 2 Mar 2026 (WIB) = end of Mon 9 Mar; levels 2 and 3
    # follow two working days apart: end of Wed 11 and of Fri 13 March.
    case = Case(load_policy()).receive(datetime(2026, 3, 2, 2, 0, tzinfo=UTC))
    case.status(Status.ASSIGNED, datetime(2026, 3, 2, 3, 0, tzinfo=UTC), "kemenpu")
    response = case["response"]
    window = response.due_at - response.started_at
    assert response.due_at == datetime(2026, 3, 9, 17, 0, tzinfo=UTC)
    schedule = [(m.kind.value, m.at) for m in response.pending]
    assert schedule == [
        ("warning", response.started_at + window / 2),  # calendar-time fractions
        ("warning", response.started_at + window * 3 / 4),
        ("breach", datetime(2026, 3, 9, 17, 0, tzinfo=UTC)),
        ("breach", datetime(2026, 3, 11, 17, 0, tzinfo=UTC)),
        ("breach", datetime(2026, 3, 13, 17, 0, tzinfo=UTC)),
    ]
    _, emissions = scan(response, datetime(2026, 3, 12, tzinfo=UTC))
    assert summary(emissions)[-1] == ("breach", 2, "kemenpanrb")
    assert emissions[-1].overdue_seconds == timedelta(hours=55).total_seconds()


def ids(emissions: list[Emission]) -> frozenset[str]:
    return frozenset(e.emission_id for e in emissions)


def test_recording_what_was_sent_gives_the_clock_the_scan_would_have_written() -> None:
    clock = resolution_clock()
    scanned, emissions = scan(clock, at(12.5))
    recorded = record_sent(clock, ids(emissions))
    assert recorded == scanned
    assert recorded.warnings_sent == {0.5, 0.75} and recorded.breach_level == 2
    assert recorded.next_due_at == at(13) and recorded.version == clock.version + 1


def test_recording_sent_marks_on_a_version_changed_meanwhile_keeps_that_change() -> None:
    case = Case().receive(at(0)).status(Status.ASSIGNED, at(1), "kutim-pupr")
    _, emissions = scan(case["resolution"], at(6))  # the 50% warning, published ...
    case.status(Status.WAITING_CITIZEN, at(6.5))  # ... while the consumer paused the clock
    paused = case["resolution"]
    recorded = record_sent(paused, ids(emissions))
    assert recorded.state is paused.state and recorded.paused_at == at(6.5)
    assert recorded.warnings_sent == {0.5}
    assert [m.threshold for m in recorded.pending if m.kind is MarkKind.WARNING] == [0.75]


def test_recording_only_some_emissions_leaves_the_others_due() -> None:
    clock = resolution_clock()
    _, emissions = scan(clock, at(11))  # warnings 0.5 and 0.75, breach 1
    recorded = record_sent(clock, ids(emissions[:1]))
    assert recorded.warnings_sent == {0.5} and recorded.breach_level == 0
    assert summary(scan(recorded, at(11))[1]) == summary(emissions[1:])


def test_recording_ids_of_another_generation_changes_nothing() -> None:
    case = Case().receive(at(0)).status(Status.ASSIGNED, at(1), "kutim-pupr")
    _, emissions = scan(case["response"], at(2))
    case.status(Status.ASSIGNED, at(2.5), "kutim-dinkes")  # transfer: the clock restarts
    restarted = case["response"]
    assert record_sent(restarted, ids(emissions)) is restarted
