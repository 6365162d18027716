"""Tally keys as field names, and what a move does to the counts (shared.tally)."""

from __future__ import annotations

from shared.tally import changes, field_of, key_of


def test_a_key_becomes_one_field_name_and_back() -> None:
    for key in [("assigned", "kutim-pupr"), ("triage", None), ("resolution",),
                ("assigned", "kab.kutai:dinas-pu|x%2E$y"), ("-",), ("%2D", "a-b")]:
        field = field_of(key)
        assert "." not in field and "$" not in field
        assert key_of(field) == key


def test_different_keys_never_share_a_field() -> None:
    keys = [("a.b", None), ("a%2Eb", None), ("a", "b"), ("a|b", None), ("-",), (None,)]
    assert len({field_of(k) for k in keys}) == len(keys)


def test_changes_leave_out_what_did_not_move() -> None:
    assert changes([("assigned", "x")], [("assigned", "x")]) == {}
    assert changes([("assigned", "x")], [("in_progress", "x")]) == {
        ("assigned", "x"): -1, ("in_progress", "x"): 1}
    assert changes([], [("routing",), ("response",)]) == {("routing",): 1, ("response",): 1}
