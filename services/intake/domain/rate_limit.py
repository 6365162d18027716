"""Keys for counting submissions per reporter contact (a flood guard).

The adapter counts recent submissions under each key; the keys must not let
anyone who reads the counters learn the contact. They are HMAC-SHA256 digests
of the normalised e-mail address or E.164 number. Phone numbers are few enough
to enumerate, so in production pass a secret `pepper` from the settings; without
one the key is still not the raw contact, but could be reversed by brute force.
"""

from __future__ import annotations

import hashlib
import hmac

from shared.contract import Reporter

# Domain separation: the same contact hashed for another purpose gives another value.
_DEFAULT_PEPPER = b"lapor.intake.rate-limit.v1"


def _digest(kind: str, contact: str, pepper: bytes) -> str:
    mac = hmac.new(pepper, f"{kind}:{contact}".encode("utf-8", "surrogatepass"), hashlib.sha256)
    return f"{kind}:{mac.hexdigest()}"


def contact_keys(reporter: Reporter, pepper: bytes = _DEFAULT_PEPPER) -> list[str]:
    """`email:<hex>` and/or `phone:<hex>` for the reporter's contact data (empty when none).

    Expects intake's normalised values (E.164 phone). The whole address is lower-cased
    here, since nearly every provider treats the local part case-insensitively and a
    flood should not escape the count by changing case.
    """
    keys = []
    if reporter.email:
        keys.append(_digest("email", reporter.email.strip().lower(), pepper))
    if reporter.phone:
        keys.append(_digest("phone", reporter.phone.strip(), pepper))
    return keys


def is_over_limit(count_in_window: int, limit: int | None) -> bool:
    """True when `count_in_window` submissions already counted (this one not included)
    leave no room for another. `limit=None` switches the limit off."""
    return limit is not None and count_in_window >= limit
