"""Due hints' pure parts: one write's entries as documents, and pruning them."""

from __future__ import annotations

from services.sla.adapters.due_hints import HINT_CASES, hint_documents, pruned

from .builders import at


def entries(count: int) -> list[tuple[str, int, object]]:
    return [(f"C{index:05d}", index % 3, at(count - index)) for index in range(count)]


def test_one_write_is_one_hint_holding_its_earliest_mark() -> None:
    (hint,) = hint_documents([("A", 2, at(5)), ("B", 0, at(3)), ("C", 7, at(9))])
    assert hint["earliest"] == at(3)
    assert hint["cases"] == [{"id": "A", "v": 2, "at": at(5)}, {"id": "B", "v": 0, "at": at(3)},
                             {"id": "C", "v": 7, "at": at(9)}]


def test_a_large_write_is_split_and_each_part_has_its_own_earliest() -> None:
    hints = hint_documents(entries(HINT_CASES + 5))
    assert [len(hint["cases"]) for hint in hints] == [HINT_CASES, 5]
    assert [hint["earliest"] for hint in hints] == [at(6), at(1)]
    assert hints[0]["_id"] != hints[1]["_id"]


def test_ids_are_random_per_write_or_derived_from_the_entries() -> None:
    same = entries(4)
    assert hint_documents(same)[0]["_id"] != hint_documents(same)[0]["_id"]
    assert (hint_documents(same, derived_ids=True)[0]["_id"]
            == hint_documents(list(same), derived_ids=True)[0]["_id"])
    moved = [*same[:3], (same[3][0], same[3][1] + 1, same[3][2])]  # a later version
    assert (hint_documents(moved, derived_ids=True)[0]["_id"]
            != hint_documents(same, derived_ids=True)[0]["_id"])


def test_pruning_keeps_the_rest_from_their_earliest_or_deletes_an_empty_hint() -> None:
    (hint,) = hint_documents([("A", 1, at(1)), ("B", 1, at(4)), ("C", 1, at(2))])
    assert pruned(hint, {"A"}) == {"$set": {"cases": [{"id": "B", "v": 1, "at": at(4)},
                                                     {"id": "C", "v": 1, "at": at(2)}],
                                           "earliest": at(2)}}
    assert pruned(hint, {"A", "B", "C"}) is None


def test_a_hint_with_nothing_obsolete_is_left_alone_unless_its_earliest_is_stale() -> None:
    (hint,) = hint_documents([("A", 1, at(1)), ("B", 1, at(4))])
    assert pruned(hint, set()) == {}
    pulled = {**hint, "cases": hint["cases"][1:]}  # A pulled by the scanner's write
    assert pruned(pulled, set()) == {"$set": {"cases": pulled["cases"], "earliest": at(4)}}
