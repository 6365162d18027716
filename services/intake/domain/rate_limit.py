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
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import timedelta

from shared.contract import Reporter

WINDOW = timedelta(hours=1)
"""The limit is per reporter contact and per sliding hour."""

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


def pepper_from_key(key: bytes) -> bytes:
    """The pepper for `contact_keys`, derived from a service secret (domain-separated, so
    the same secret used for another purpose yields unrelated values)."""
    return hmac.new(key, _DEFAULT_PEPPER, hashlib.sha256).digest()


def admit(contacts: Sequence[Sequence[str]], counted: Mapping[str, int],
          limit: int | None, admitted_before: Sequence[bool] | None = None) -> list[bool]:
    """Which submissions of a batch, in arrival order and each given by its contact keys,
    stay within the limit. `counted` holds what each key already submitted in the window;
    each admitted submission counts against the ones after it. One key over the limit is
    enough to refuse (a flood must not escape by alternating e-mail and phone). Refused
    submissions do not count: the limit is on complaints accepted per hour.

    `admitted_before[i]` marks a submission accepted by an earlier delivery of the same
    record (it is stored): admitted again, and it takes its place in the count, so a
    redelivered batch gets the same answers and is never refused by its own count."""
    seen: Counter[str] = Counter(counted)
    verdicts: list[bool] = []
    for index, keys in enumerate(contacts):
        before = admitted_before is not None and admitted_before[index]
        ok = before or not any(is_over_limit(seen[key], limit) for key in keys)
        if ok:
            seen.update(set(keys))
        verdicts.append(ok)
    return verdicts
