"""What a case version changes in the tally of open cases, and which versions get a marker."""

from __future__ import annotations

from typing import Any

from services.router.adapters.cases import tally_change, tally_from, to_mark


def version(status: str, assignee: str | None, *, before: list[Any] | None,
            outbox: bool = True) -> dict[str, Any]:
    document: dict[str, Any] = {"_id": "ABCD-EFGH-1", "version": 2,
                                "case": {"status": status, "assignee": assignee},
                                "outbox": [{"topic": "x"}] if outbox else []}
    if before is not None:
        document["tally_from"] = before
    return document


def test_a_new_case_counts_once_under_its_status_and_agency() -> None:
    assert tally_change(version("assigned", "kutim-pupr", before=[])) == {
        ("assigned", "kutim-pupr"): 1}


def test_a_transition_moves_one_case_between_keys() -> None:
    moved = version("in_progress", "kutim-pupr", before=["assigned", "kutim-pupr"])
    assert tally_change(moved) == {("assigned", "kutim-pupr"): -1,
                                   ("in_progress", "kutim-pupr"): 1}


def test_a_transfer_moves_the_case_to_the_other_agency() -> None:
    moved = version("assigned", "kutim-dlh", before=["assigned", "kutim-pupr"])
    assert tally_change(moved) == {("assigned", "kutim-pupr"): -1,
                                   ("assigned", "kutim-dlh"): 1}


def test_closing_or_rejecting_takes_the_case_out_of_the_open_cases() -> None:
    assert tally_change(version("closed", "kutim-pupr", before=["resolved", "kutim-pupr"])
                        ) == {("resolved", "kutim-pupr"): -1}
    assert tally_change(version("rejected", None, before=["triage", None])) == {
        ("triage", None): -1}
    assert tally_from({"status": "closed", "assignee": "kutim-pupr"}) == []


def test_a_case_in_triage_counts_without_agency() -> None:
    assert tally_change(version("triage", None, before=[])) == {("triage", None): 1}
    assert tally_from({"status": "triage", "assignee": None}) == ["triage", None]


def test_a_version_stored_before_the_tally_changes_nothing() -> None:
    assert tally_change(version("assigned", "kutim-pupr", before=None)) == {}


def test_only_versions_with_an_outbox_or_a_change_are_marked() -> None:
    same = version("in_progress", "kutim-pupr", before=["in_progress", "kutim-pupr"],
                   outbox=False)
    moved = version("in_progress", "kutim-pupr", before=["assigned", "kutim-pupr"],
                    outbox=False)
    events = version("in_progress", "kutim-pupr", before=None)
    assert to_mark([same, moved, events]) == [moved, events]
