"""Tracking ids: Crockford base32, 8 symbols (derived from the submission key, or random)
+ Luhn mod 32 check, `XXXX-XXXX-C`."""

from __future__ import annotations

import random
import re

import pytest

from shared.citizen_secret import CROCKFORD_ALPHABET
from shared.tracking_id import (
    check_symbol,
    derived_tracking_id,
    new_tracking_id,
    parse_tracking_id,
)

CANONICAL = re.compile(r"[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]")


def compact(tracking_id: str) -> str:
    return tracking_id.replace("-", "")


def display(symbols: str) -> str:
    return f"{symbols[:4]}-{symbols[4:8]}-{symbols[8:]}"


def test_new_ids_are_canonical_and_parse_back() -> None:
    ids = {new_tracking_id() for _ in range(2000)}
    assert len(ids) == 2000
    for tracking_id in ids:
        assert CANONICAL.fullmatch(tracking_id)
        assert parse_tracking_id(tracking_id) == tracking_id


def test_seeded_rng_gives_repeatable_ids() -> None:
    assert new_tracking_id(random.Random(7)) == new_tracking_id(random.Random(7))
    assert new_tracking_id(random.Random(7)) != new_tracking_id(random.Random(8))


KEY = bytes(range(32))


def test_derived_ids_depend_on_the_submission_the_attempt_and_the_key() -> None:
    key = KEY
    first = derived_tracking_id(key, "web:ref-1")
    assert CANONICAL.fullmatch(first) and parse_tracking_id(first) == first
    assert derived_tracking_id(key, "web:ref-1") == first  # a re-sent submission: same id
    assert derived_tracking_id(key, "web:ref-1", attempt=0) == first
    others = {derived_tracking_id(key, "web:ref-1", attempt=n) for n in range(1, 8)}
    others |= {derived_tracking_id(key, "sms:ref-1"), derived_tracking_id(key, "web:ref-2"),
               derived_tracking_id(bytes(32), "web:ref-1")}
    assert first not in others and len(others) == 10


def test_derived_ids_spread_over_the_whole_id_space() -> None:
    ids = [derived_tracking_id(KEY, f"whatsapp:{n}") for n in range(20_000)]
    assert len(set(ids)) == len(ids)
    for position in range(8):  # each payload symbol takes all 32 values about equally
        counts = [0] * 32
        for tracking_id in ids:
            counts[CROCKFORD_ALPHABET.index(compact(tracking_id)[position])] += 1
        assert min(counts) > 500 and max(counts) < 760, (position, counts)


def test_known_check_symbols() -> None:
    # Luhn mod 32 by hand: the rightmost payload symbol is doubled.
    assert check_symbol("00000000") == "0"
    assert check_symbol("00000001") == "Y"  # 1*2 = 2 -> (32 - 2) % 32 = 30 -> "Y"
    assert check_symbol("00000010") == "Z"  # 1 -> 31 -> "Z"
    assert parse_tracking_id("0000-0001-Y") == "0000-0001-Y"


def test_every_single_substitution_is_detected() -> None:
    rng = random.Random(2026)
    for tracking_id in ["7KQ2-M9XD-" + check_symbol("7KQ2M9XD")] + [
        new_tracking_id(rng) for _ in range(100)
    ]:
        symbols = compact(tracking_id)
        for position in range(len(symbols)):
            for replacement in CROCKFORD_ALPHABET:
                if replacement == symbols[position]:
                    continue
                typo = symbols[:position] + replacement + symbols[position + 1:]
                assert parse_tracking_id(display(typo)) is None, (tracking_id, typo)


def test_most_adjacent_transpositions_are_detected() -> None:
    rng = random.Random(99)
    swapped = detected = 0
    for _ in range(3000):
        symbols = compact(new_tracking_id(rng))
        position = rng.randrange(len(symbols) - 1)
        a, b = symbols[position], symbols[position + 1]
        if a == b:
            continue
        swapped += 1
        typo = symbols[:position] + b + a + symbols[position + 2:]
        detected += parse_tracking_id(typo) is None
    assert detected / swapped > 0.9


@pytest.mark.parametrize(
    "typed",
    [
        "{id}",
        "{id_lower}",
        "{compact}",
        "{compact_lower}",
        " {id} ",
        "{a} {b} {c}",
        "{a}--{b}--{c}",
        "{a} - {b} - {c}",
        "{fullwidth}",
    ],
)
def test_forgiving_reading(typed: str) -> None:
    tracking_id = display("0111" + "ABCD" + check_symbol("0111ABCD"))
    symbols = compact(tracking_id)
    text = typed.format(
        id=tracking_id, id_lower=tracking_id.lower(), compact=symbols,
        compact_lower=symbols.lower(), a=symbols[:4], b=symbols[4:8], c=symbols[8:],
        fullwidth="".join(chr(ord(ch) + 0xFEE0) for ch in symbols),
    )
    assert parse_tracking_id(text) == tracking_id


def test_crockford_aliases() -> None:
    tracking_id = display("0111" + "ABCD" + check_symbol("0111ABCD"))
    assert parse_tracking_id("O1IL-ABCD-" + tracking_id[-1]) == tracking_id
    assert parse_tracking_id("oiil-abcd-" + tracking_id[-1].lower()) == tracking_id


@pytest.mark.parametrize(
    "text",
    [None, 123, ["7KQ2"], "", "-", "0000-0001", "0000-0001-YY", "0000-0001-U", "0000_0001_Y",
     "0000-0001-\u00dd", "0000.0001.Y", "0000-0001-Y" * 10, "0000-0001-Z"],
)
def test_malformed_ids(text: object) -> None:
    assert parse_tracking_id(text) is None
