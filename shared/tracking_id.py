"""Tracking ids: what a citizen writes down, reads out over the phone and types back.

Format
------
``XXXX-XXXX-C``, e.g. ``7KQ2-M9XD-4``: eight random symbols and one check symbol,
upper case, grouped by hyphens. This canonical form is what is stored, put on
events (the Kafka key of every complaint event) and shown to people.

* Alphabet: Crockford base32, ``0123456789ABCDEFGHJKMNPQRSTVWXYZ``, no I, L, O or U,
  so no symbol can be mistaken for another when spoken or handwritten.
* The eight random symbols carry 40 bits from ``secrets.SystemRandom`` (about 10^12 ids):
  collisions stay negligible for many millions of complaints, and ids cannot be
  guessed or enumerated (the public tracking page shows no reporter data, but
  still should not be browsable). The store's unique index is the final guard.
* The check symbol is Luhn mod 32 over the eight symbols: it catches every single
  mistyped symbol and most swaps of two neighbours, so a typo yields "no such
  format" instead of someone else's complaint.
* Reading is forgiving: lower case, missing or extra hyphens and spaces, and the
  look-alikes O (read as 0) and I, L (read as 1) are accepted;
  ``7kq2 m9xd 4`` and ``7KQ2M9XD4`` both read as ``7KQ2-M9XD-4``.
"""

from __future__ import annotations

from shared.citizen_secret import (
    CROCKFORD_ALPHABET,
    CSPRNG,
    RandomBits,
    crockford_compact,
    encode_bits,
)

PAYLOAD_LENGTH = 8
PAYLOAD_BITS = PAYLOAD_LENGTH * 5
_BASE = len(CROCKFORD_ALPHABET)
_VALUE = {symbol: value for value, symbol in enumerate(CROCKFORD_ALPHABET)}


def _luhn_sum(symbols: str, *, double_last: bool) -> int:
    # Luhn mod N: from the right, every second symbol's value is doubled and its
    # base-N digits summed. For N = 32 the doubling is a permutation of 0..31,
    # which is why every single substitution changes the sum.
    total = 0
    double = double_last
    for symbol in reversed(symbols):
        addend = _VALUE[symbol] * (2 if double else 1)
        total += addend // _BASE + addend % _BASE
        double = not double
    return total


def check_symbol(payload: str) -> str:
    """The Luhn mod 32 check symbol for canonical (upper-case, unhyphenated) symbols."""
    return CROCKFORD_ALPHABET[(-_luhn_sum(payload, double_last=True)) % _BASE]


def _is_consistent(symbols: str) -> bool:
    return _luhn_sum(symbols, double_last=False) % _BASE == 0


def _display(compact: str) -> str:
    return f"{compact[:4]}-{compact[4:8]}-{compact[8:]}"


def new_tracking_id(rng: RandomBits = CSPRNG) -> str:
    """A fresh id in canonical form (40 bits from `secrets.SystemRandom`). Pass a seeded
    `random.Random` for repeatable tests."""
    payload = encode_bits(rng.getrandbits(PAYLOAD_BITS), PAYLOAD_LENGTH)
    return _display(payload + check_symbol(payload))


def parse_tracking_id(text: object) -> str | None:
    """The canonical form of what someone typed, or None when it is malformed or the
    check symbol does not match."""
    compact = crockford_compact(text)
    if compact is None or len(compact) != PAYLOAD_LENGTH + 1 or not _is_consistent(compact):
        return None
    return _display(compact)
