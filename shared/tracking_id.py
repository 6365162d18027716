"""Tracking ids: what a citizen writes down, reads out over the phone and types back.

Format
------
``XXXX-XXXX-C``, e.g. ``7KQ2-M9XD-4``: eight random symbols and one check symbol,
upper case, grouped by hyphens. This canonical form is what is stored, put on
events (the Kafka key of every complaint event) and shown to people.

* Alphabet: Crockford base32, ``0123456789ABCDEFGHJKMNPQRSTVWXYZ``, no I, L, O or U,
  so no symbol can be mistaken for another when spoken or handwritten.
* The eight symbols carry 40 bits (about 10^12 ids). Intake derives them from the
  submission key (`derived_tracking_id`: HMAC-SHA256 under a random key drawn once per
  deployment and kept in its database), so a submission sent twice gets the same id and
  the store's `_id` is all it takes to keep one complaint per submission; without the
  key, ids can no more be guessed or enumerated than random ones (the public tracking
  page shows no reporter data, but still should not be browsable). Two submissions whose
  ids clash (one pair is expected among 1.5 million complaints) are told apart by the
  next attempt's id.
  `new_tracking_id` draws 40 random bits instead (tests, tools).
* The check symbol is Luhn mod 32 over the eight symbols: it catches every single
  mistyped symbol and most swaps of two neighbours, so a typo yields "no such
  format" instead of someone else's complaint.
* Reading is forgiving: lower case, missing or extra hyphens and spaces, and the
  look-alikes O (read as 0) and I, L (read as 1) are accepted;
  ``7kq2 m9xd 4`` and ``7KQ2M9XD4`` both read as ``7KQ2-M9XD-4``.
"""

from __future__ import annotations

import hashlib
import hmac

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


def _from_bits(value: int) -> str:
    """The canonical id of PAYLOAD_BITS bits: the symbols, the check symbol, hyphens."""
    payload = encode_bits(value, PAYLOAD_LENGTH)
    return _display(payload + check_symbol(payload))


def new_tracking_id(rng: RandomBits = CSPRNG) -> str:
    """A fresh id in canonical form (40 bits from `secrets.SystemRandom`). Pass a seeded
    `random.Random` for repeatable tests."""
    return _from_bits(rng.getrandbits(PAYLOAD_BITS))


DERIVATION_KEY_BYTES = 32


def derived_tracking_id(key: bytes, submission_key: str, attempt: int = 0) -> str:
    """The tracking id of a submission (`channel:channel_ref`) in canonical form: 40 bits
    of HMAC-SHA256 under `key` (the deployment's derivation key, DERIVATION_KEY_BYTES
    random bytes). `attempt` 1, 2, ... give the submission's next ids, for when an
    earlier one is another complaint's."""
    message = f"{attempt}\x00{submission_key}".encode("utf-8", "surrogatepass")
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return _from_bits(int.from_bytes(digest[:PAYLOAD_BITS // 8], "big"))


def parse_tracking_id(text: object) -> str | None:
    """The canonical form of what someone typed, or None when it is malformed or the
    check symbol does not match."""
    compact = crockford_compact(text)
    if compact is None or len(compact) != PAYLOAD_LENGTH + 1 or not _is_consistent(compact):
        return None
    return _display(compact)
