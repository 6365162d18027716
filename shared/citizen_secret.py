"""The per-complaint citizen secret (CONTRACT.md sections 4 and 5).

Intake creates it and sends it, once, inside `complaint.received`; the notifier
delivers it to the reporter alone; every store keeps only its hash. A citizen
action (reply, confirm, reopen, rate) must carry it, and the router verifies it.

Format: 10 Crockford base32 characters (50 random bits), shown as `XXXXX-XXXXX`.
Citizens type it by hand (often from an SMS, on a phone keyboard), so checking
ignores case, spaces and hyphens, and reads the look-alikes O as 0 and I/L as 1.

This module also holds the Crockford base32 alphabet and its reading rules,
which the tracking id shares, so both are read the same way everywhere.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import unicodedata
from typing import Protocol

CROCKFORD_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
"""32 symbols: digits and upper-case letters without I, L, O and U (easily misread)."""

# Look-alikes a citizen may type instead of the real symbol (Crockford's decoding rules).
_ALIASES = str.maketrans({"O": "0", "I": "1", "L": "1"})
# Separators a citizen may add or drop anywhere.
_SEPARATORS = str.maketrans("", "", " -\t")
# Nobody types a code this long: refuse before doing any work on it.
_MAX_INPUT_CHARS = 64

SECRET_LENGTH = 10
SECRET_BITS = SECRET_LENGTH * 5


class RandomBits(Protocol):
    """`secrets.SystemRandom()` (the OS CSPRNG) in production; a seeded `random.Random`
    in tests. Both offer `getrandbits`."""

    def getrandbits(self, k: int, /) -> int: ...


CSPRNG: RandomBits = secrets.SystemRandom()


def crockford_compact(text: object) -> str | None:
    """Upper-case symbols only, separators removed and aliases resolved; None when
    `text` holds anything else. The length is left to the caller."""
    if not isinstance(text, str) or len(text) > _MAX_INPUT_CHARS:
        return None
    # NFKC turns full-width letters from phone keyboards into ASCII.
    folded = unicodedata.normalize("NFKC", text).strip()
    if not folded.isascii():
        return None
    compact = folded.translate(_SEPARATORS).upper().translate(_ALIASES)
    if not compact or any(ch not in CROCKFORD_ALPHABET for ch in compact):
        return None
    return compact


def encode_bits(value: int, length: int) -> str:
    """`value` as exactly `length` Crockford symbols, most significant first."""
    return "".join(
        CROCKFORD_ALPHABET[(value >> (5 * shift)) & 31] for shift in range(length - 1, -1, -1)
    )


def new_citizen_secret(rng: RandomBits = CSPRNG) -> str:
    """A fresh secret, `XXXXX-XXXXX` (50 bits from the OS CSPRNG)."""
    symbols = encode_bits(rng.getrandbits(SECRET_BITS), SECRET_LENGTH)
    return f"{symbols[:5]}-{symbols[5:]}"


def normalise_citizen_secret(text: object) -> str | None:
    """The canonical `XXXXX-XXXXX` form of what a citizen typed, or None if it cannot be one."""
    compact = crockford_compact(text)
    if compact is None or len(compact) != SECRET_LENGTH:
        return None
    return f"{compact[:5]}-{compact[5:]}"


def _hash_key(tracking_id: object) -> bytes | None:
    # The tracking id keys the HMAC, so equal secrets of two complaints hash differently.
    # It is read with the same rules, so `abcd-efgh-j` and `ABCDEFGHJ` give one key.
    compact = crockford_compact(tracking_id)
    return compact.encode("ascii") if compact else None


def hash_citizen_secret(tracking_id: str, secret: str) -> str:
    """HMAC-SHA256 (hex) of the canonical secret, keyed by the canonical tracking id.

    Raises ValueError when either is malformed: intake only hashes secrets it made.
    """
    key = _hash_key(tracking_id)
    canonical = normalise_citizen_secret(secret)
    if key is None or canonical is None:
        raise ValueError("malformed tracking id or citizen secret")
    return hmac.new(key, canonical.encode("ascii"), hashlib.sha256).hexdigest()


def verify_citizen_secret(tracking_id: object, secret: object, stored_hash: object) -> bool:
    """True when `secret` (as the citizen typed it) matches the stored hash. Never raises."""
    key = _hash_key(tracking_id)
    canonical = normalise_citizen_secret(secret)
    if key is None or canonical is None or not isinstance(stored_hash, str):
        return False
    expected = hmac.new(key, canonical.encode("ascii"), hashlib.sha256).hexdigest()
    # Constant-time comparison: response timing must not leak how much of a guess was right.
    # Both sides as ASCII bytes, since compare_digest refuses non-ASCII str.
    return hmac.compare_digest(
        expected.encode("ascii"), stored_hash.encode("utf-8", errors="replace")
    )


def derive_citizen_secret(key: bytes, tracking_id: str) -> str:
    """The complaint's citizen secret, `XXXXX-XXXXX` (50 bits of HMAC-SHA256 under the
    service key). Deriving instead of drawing it means stores keep only its hash, yet a
    redelivered submission re-publishes the very same acknowledgement."""
    digest = hmac.new(key, tracking_id.encode("ascii"), hashlib.sha256).digest()
    symbols = encode_bits(int.from_bytes(digest[:8], "big") >> (64 - SECRET_BITS), SECRET_LENGTH)
    return f"{symbols[:5]}-{symbols[5:]}"
