"""Masked contact data for events and logs: enough to recognise, never enough to contact."""

from __future__ import annotations

MASK = "***"


def _mask_word(word: str, keep_last: bool) -> str:
    # A fixed-width mask so the length of the hidden part is not leaked either.
    if len(word) <= 1:
        return MASK
    if keep_last and len(word) >= 3:
        return f"{word[0]}{MASK}{word[-1]}"
    return f"{word[0]}{MASK}"


def mask_email(address: str) -> str:
    """`budi.santoso@example.com` -> `b***o@e***.com` (top-level domain kept)."""
    address = address.strip()
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        return MASK
    name, dot, tld = domain.rpartition(".")
    masked_domain = f"{_mask_word(name, keep_last=False)}.{tld}" if dot and name else MASK
    return f"{_mask_word(local, keep_last=True)}@{masked_domain}"


def mask_phone(number: str) -> str:
    """`+6281234567890` -> `+62812*****890`: country + operator prefix and the last 3 digits."""
    number = number.strip()
    plus = "+" if number.startswith("+") else ""
    digits = "".join(ch for ch in number if ch.isdigit())
    if not digits:
        return MASK
    n = len(digits)
    head = min(5, max(0, (n - 3) // 2))
    tail = 3 if n >= 8 else n // 4
    hidden = n - head - tail  # >= 1 for any n >= 1: the full number never shows
    return f"{plus}{digits[:head]}{'*' * hidden}{digits[n - tail:] if tail else ''}"


def mask_recipient(channel: str, recipient: str) -> str:
    return mask_phone(recipient) if channel == "sms" else mask_email(recipient)
