"""The notifier's in-memory reporter contacts: bounded, least recently used first out."""

from services.notifier.adapters.known_contacts import KnownContacts


def contact(tracking_id: str) -> dict:
    return {"_id": tracking_id, "email": f"{tracking_id.lower()}@example.id"}


def test_known_ones_are_answered_and_the_rest_listed_in_order() -> None:
    known = KnownContacts(10)
    known.keep([contact("A"), contact("B")])
    found, missing = known.split(["B", "X", "A", "Y"])
    assert sorted(found) == ["A", "B"] and found["A"]["email"] == "a@example.id"
    assert missing == ["X", "Y"]


def test_the_least_recently_used_go_first() -> None:
    known = KnownContacts(2)
    known.keep([contact("A"), contact("B")])
    known.split(["A"])  # A used: B is now the oldest
    known.keep([contact("C")])
    assert len(known) == 2
    assert known.split(["A", "B", "C"])[1] == ["B"]


def test_capacity_zero_keeps_nothing() -> None:
    known = KnownContacts(0)
    known.keep([contact("A")])
    assert len(known) == 0 and known.split(["A"]) == ({}, ["A"])
