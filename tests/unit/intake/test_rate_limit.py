"""Rate-limit keys: one per contact, stable across spellings, never the contact itself."""

from __future__ import annotations

from services.intake.domain.rate_limit import contact_keys, is_over_limit
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
