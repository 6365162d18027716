"""What a case's write does to the open-clock tally: one count per clock not stopped, by
stage, against what the tally counted for the case as stored."""

from __future__ import annotations

from services.sla.adapters.clocks import NEW, CaseClocks
from shared.contract import Status

from .builders import Case, at


def as_stored(case: Case, version: int = 3) -> CaseClocks:
    """The case as a later write reads it back from its stored document."""
    return CaseClocks.from_document(CaseClocks(case.tracking_id, case.clocks, version).document())


def test_a_new_case_counts_one_per_open_stage() -> None:
    case = Case().receive(at(0)).status(Status.ASSIGNED, at(1), "kutim-pupr")
    written = CaseClocks(case.tracking_id, version=NEW).with_clocks(case.clocks)
    assert written.counted == ()
    assert sorted(written.tally_keys()) == [("resolution",), ("response",)]  # routing stopped
    assert written.tally_change() == {("response",): 1, ("resolution",): 1}


def test_a_new_case_with_only_its_routing_clock_counts_routing() -> None:
    case = Case().receive(at(0))
    written = CaseClocks(case.tracking_id).with_clocks(case.clocks)
    assert written.tally_change() == {("routing",): 1}


def test_reading_a_stored_case_remembers_its_open_stages_and_writing_it_keeps_them() -> None:
    case = Case().receive(at(0)).status(Status.ASSIGNED, at(1), "kutim-pupr")
    before = as_stored(case)
    assert before.counted == ("response", "resolution")
    case.status(Status.IN_PROGRESS, at(2))  # response stops
    after = before.with_clocks(case.clocks)
    assert after.counted == before.counted  # what the tally counts as stored, until written
    assert after.tally_change() == {("response",): -1}


def test_assignment_moves_a_count_from_routing_to_response_and_resolution() -> None:
    case = Case().receive(at(0))
    before = as_stored(case)
    assert before.counted == ("routing",)
    after = before.with_clocks(case.status(Status.ASSIGNED, at(1), "kutim-pupr").clocks)
    assert after.tally_change() == {("routing",): -1, ("response",): 1, ("resolution",): 1}


def test_resolving_stops_resolution_and_starts_auto_close() -> None:
    case = Case().receive(at(0)).status(Status.ASSIGNED, at(1), "kutim-pupr").status(
        Status.IN_PROGRESS, at(2))
    before = as_stored(case)
    assert before.counted == ("resolution",)
    after = before.with_clocks(case.status(Status.RESOLVED, at(3)).clocks)
    assert after.tally_change() == {("resolution",): -1, ("auto_close",): 1}
    closed = as_stored(case).with_clocks(case.status(Status.CLOSED, at(4)).clocks)
    assert closed.tally_change() == {("auto_close",): -1}


def test_a_paused_clock_stays_counted() -> None:
    case = Case().receive(at(0)).status(Status.ASSIGNED, at(1), "kutim-pupr")
    before = as_stored(case)
    after = before.with_clocks(case.status(Status.WAITING_CITIZEN, at(1.5)).clocks)
    assert after.changed_from(before)  # the clocks moved (paused) ...
    assert after.tally_change() == {}  # ... but none stopped or started


def test_nothing_changes_nothing() -> None:
    case = Case().receive(at(0)).status(Status.ASSIGNED, at(1), "kutim-pupr")
    before = as_stored(case)
    assert before.with_clocks(case.clocks).tally_change() == {}
    assert before.tally_change() == {}
