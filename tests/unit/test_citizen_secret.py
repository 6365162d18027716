"""The citizen secret: created by intake, verified by the router, stored only as a hash."""

from __future__ import annotations

import random
import re

import pytest

from shared.citizen_secret import (
    hash_citizen_secret,
    new_citizen_secret,
    normalise_citizen_secret,
    verify_citizen_secret,
)

TRACKING_ID = "0000-0001-Y"
SECRET_FORMAT = re.compile(r"[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}")


def test_new_secrets_are_formatted_and_random() -> None:
    secrets_made = {new_citizen_secret() for _ in range(2000)}
    assert len(secrets_made) == 2000
    assert all(SECRET_FORMAT.fullmatch(s) for s in secrets_made)


def test_seeded_rng_gives_repeatable_secrets() -> None:
    assert new_citizen_secret(random.Random(1)) == new_citizen_secret(random.Random(1))


def test_hash_verifies_and_hides_the_secret() -> None:
    secret = new_citizen_secret(random.Random(5))
    stored = hash_citizen_secret(TRACKING_ID, secret)
    assert re.fullmatch(r"[0-9a-f]{64}", stored)
    assert secret not in stored and secret.replace("-", "").lower() not in stored
    assert hash_citizen_secret(TRACKING_ID, secret) == stored  # deterministic
    assert verify_citizen_secret(TRACKING_ID, secret, stored)


@pytest.mark.parametrize(
    "typed",
    ["AB1CD-EF0GH", "ab1cd-ef0gh", "AB1CDEF0GH", " ab1cd ef0gh ", "aBiCd-Ef0gH", "ABLCD-EFOGH",
     "ab-1c-de-f0-gh"],
)
def test_verify_forgives_case_separators_and_look_alikes(typed: str) -> None:
    stored = hash_citizen_secret(TRACKING_ID, "AB1CD-EF0GH")
    assert normalise_citizen_secret(typed) == "AB1CD-EF0GH"
    assert verify_citizen_secret(TRACKING_ID, typed, stored)
    # The tracking id is read with the same rules.
    assert verify_citizen_secret("0000 0001 y", typed, stored)


def test_wrong_secret_or_complaint_is_refused() -> None:
    stored = hash_citizen_secret(TRACKING_ID, "AB1CD-EF0GH")
    assert not verify_citizen_secret(TRACKING_ID, "AB1CD-EF0GJ", stored)
    assert not verify_citizen_secret("0000-0010-Z", "AB1CD-EF0GH", stored)
    assert hash_citizen_secret("0000-0010-Z", "AB1CD-EF0GH") != stored


@pytest.mark.parametrize(
    ("tracking_id", "secret", "stored"),
    [
        (TRACKING_ID, None, "x"),
        (TRACKING_ID, "", "x"),
        (TRACKING_ID, "AB1CD-EF0G", "x"),  # 9 symbols
        (TRACKING_ID, "AB1CD-EF0GHJ", "x"),  # 11 symbols
        (TRACKING_ID, "AB1CD-EF0GU", "x"),  # U is not in the alphabet
        (TRACKING_ID, "AB1CD-EF0G\u00e9", "x"),
        (TRACKING_ID, "A" * 10_000, "x"),
        (None, "AB1CD-EF0GH", "x"),
        ("", "AB1CD-EF0GH", "x"),
        (TRACKING_ID, "AB1CD-EF0GH", None),
        (TRACKING_ID, "AB1CD-EF0GH", 42),
        (TRACKING_ID, "AB1CD-EF0GH", ""),
        (TRACKING_ID, "AB1CD-EF0GH", "\u00e9" * 64),
        (TRACKING_ID, "AB1CD-EF0GH", "\ud800"),
    ],
)
def test_verify_never_raises(tracking_id: object, secret: object, stored: object) -> None:
    assert verify_citizen_secret(tracking_id, secret, stored) is False


@pytest.mark.parametrize(("tracking_id", "secret"), [(TRACKING_ID, "short"), ("", "AB1CD-EF0GH")])
def test_hashing_a_malformed_secret_is_a_bug(tracking_id: str, secret: str) -> None:
    with pytest.raises(ValueError):
        hash_citizen_secret(tracking_id, secret)
