"""A case's clocks as one stored document: what the scanner's index sees, the
compare-and-set version, and the round trip."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from services.sla.adapters.clocks import NEW, CaseClocks
from shared.contract import Status

from .builders import Case, at


def stored(case: Case, version: int = NEW) -> CaseClocks:
    return CaseClocks(case.tracking_id, case.clocks, version)


def naive(value: object) -> object:
    """What MongoDB gives back without tz_aware: naive UTC datetimes, nested too."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    if isinstance(value, dict):
        return {key: naive(item) for key, item in value.items()}
    if isinstance(value, list):
        return [naive(item) for item in value]
    return value


def test_next_due_at_is_the_earliest_mark_of_the_running_clocks() -> None:
    case = Case().receive(at(0)).status(Status.ASSIGNED, at(1), "kutim-pupr")
    document = stored(case).document()
    assert case["routing"].next_due_at is None  # stopped by the assignment
    assert case["response"].next_due_at == at(2)  # 50% of its 2 hours
    assert case["resolution"].next_due_at == at(6)
    assert document["next_due_at"] == at(2)
    assert document["_id"] == "LAPOR-0001"
    assert [clock["stage"] for clock in document["clocks"]] == [
        "routing", "response", "resolution"]


def test_a_case_with_nothing_running_is_not_due() -> None:
    case = Case().receive(at(0)).status(Status.ASSIGNED, at(1), "kutim-pupr").status(
        Status.WAITING_CITIZEN, at(1.5))
    assert stored(case).document()["next_due_at"] is None


def test_each_write_bumps_the_version_it_was_computed_from() -> None:
    case = Case().receive(at(0))
    assert stored(case).document()["version"] == 0  # a new case
    assert stored(case, version=4).document()["version"] == 5


def test_round_trip_from_a_stored_document() -> None:
    case = Case().receive(at(0)).status(Status.ASSIGNED, at(1), "kutim-pupr")
    document = naive(stored(case, version=2).document())
    assert isinstance(document, dict)
    # As read, a case also remembers what the open-clock tally counts for it.
    assert CaseClocks.from_document(document) == replace(
        stored(case, version=3), counted=("response", "resolution"))


def test_changed_only_when_a_clock_moved() -> None:
    case = Case().receive(at(0))
    before = stored(case, version=1)
    assert not before.with_clocks(case.clocks).changed_from(before)
    case.status(Status.ASSIGNED, at(1), "kutim-pupr")
    assert before.with_clocks(case.clocks).changed_from(before)


def test_a_case_hints_its_next_mark_at_the_version_it_writes() -> None:
    case = Case().receive(at(0)).status(Status.ASSIGNED, at(1), "kutim-pupr")
    assert stored(case, version=3).hint() == ("LAPOR-0001", 4, at(2))
    assert stored(case).hint() == ("LAPOR-0001", 0, at(2))  # a new case is stored as 0
    quiet = case.status(Status.WAITING_CITIZEN, at(1.5))
    assert stored(quiet).hint() is None  # nothing running: nothing to find
