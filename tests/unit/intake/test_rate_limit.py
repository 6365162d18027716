"""Rate-limit keys: one per contact, stable across spellings, never the contact itself."""

from __future__ import annotations

from services.intake.domain.rate_limit import admit, contact_keys, is_over_limit, pepper_from_key
from shared.contract import Reporter


def test_keys_do_not_contain_the_contact() -> None:
    keys = contact_keys(Reporter(email="Siti.Aminah@example.co.id", phone="+6281234567890"))
    assert [key.split(":")[0] for key in keys] == ["email", "phone"]
    for key in keys:
        assert len(key.split(":")[1]) == 64
        for fragment in ("siti", "aminah", "example", "81234567890", "6281", "@"):
            assert fragment not in key.lower()


def test_same_contact_same_key() -> None:
    a = contact_keys(Reporter(email="Siti.Aminah@example.co.id", phone="+6281234567890"))
    b = contact_keys(Reporter(email="siti.aminah@EXAMPLE.co.id", phone="+6281234567890"))
    assert a == b


def test_different_contacts_and_peppers_differ() -> None:
    base = contact_keys(Reporter(phone="+6281234567890"))
    assert base != contact_keys(Reporter(phone="+6281234567891"))
    assert base != contact_keys(Reporter(phone="+6281234567890"), pepper=b"production secret")
    # An e-mail address that looks like a phone number does not share its key.
    assert contact_keys(Reporter(email="6281234567890@x.id")) != base


def test_no_contact_no_keys() -> None:
    assert contact_keys(Reporter(name="Anonim", anonymous=True)) == []


def test_is_over_limit() -> None:
    assert not is_over_limit(4, 5)
    assert is_over_limit(5, 5)
    assert is_over_limit(1, 0)
    assert not is_over_limit(10_000, None)


def test_admit_refuses_the_eleventh_and_refusals_do_not_count() -> None:
    same = ["email:a"]
    verdicts = admit([same] * 12, {}, 10)
    assert verdicts == [True] * 10 + [False, False]
    assert admit([same], {"email:a": 9}, 10) == [True]
    assert admit([same], {"email:a": 10}, 10) == [False]


def test_admit_counts_every_contact_of_a_submission() -> None:
    # Alternating e-mail and phone does not escape: each key counts on its own.
    both, email_only, phone_only = ["email:a", "phone:b"], ["email:a"], ["phone:b"]
    assert admit([both, email_only, phone_only], {"phone:b": 1}, 2) == [True, True, False]
    assert admit([[], []], {}, 1) == [True, True]  # no contact, no limit
    assert admit([email_only] * 3, {}, None) == [True] * 3


def test_admit_keeps_what_an_earlier_delivery_admitted() -> None:
    same = ["email:a"]
    # Redelivered batch: the first two were stored by the first delivery; the limit has
    # filled up since (counted), yet they are admitted again and still take their places.
    verdicts = admit([same] * 3, {"email:a": 5}, 2, admitted_before=[True, True, False])
    assert verdicts == [True, True, False]
    assert admit([same] * 2, {}, 1, admitted_before=[False, True]) == [True, True]


def test_pepper_from_key_is_a_stable_domain_separated_digest() -> None:
    assert pepper_from_key(b"k") == pepper_from_key(b"k") != pepper_from_key(b"other")
    assert pepper_from_key(b"k") != b"k" and len(pepper_from_key(b"k")) == 32


def test_the_flood_guards_marks_outlive_its_window() -> None:
    from services.intake.adapters.contact_marks import INDEXES, RETENTION
    from services.intake.domain.rate_limit import WINDOW

    assert RETENTION >= 2 * WINDOW  # a complaint is counted for the whole window, and then some
    (ttl,) = [model.document for model in INDEXES["contact_marks"]
              if "expireAfterSeconds" in model.document]
    assert ttl["expireAfterSeconds"] == RETENTION.total_seconds()
