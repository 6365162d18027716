"""SMS length arithmetic (GSM 03.38 / 3GPP TS 23.038) and fitting text into a segment budget.

Gateways bill per segment, and a single character outside the GSM-7 alphabet (a smart quote
pasted from a word processor, an emoji) switches the whole message to UCS-2 and more than
doubles the segment count. The counting here mirrors what handsets and SMSCs do, so the
`max_segments` budget the templates promise holds on the wire.
"""

from __future__ import annotations

import re
from typing import Literal

SmsEncoding = Literal["GSM-7", "UCS-2"]

# GSM 03.38 default alphabet. ESC (0x1B) is deliberately absent: it only introduces
# extension characters and must never appear as text of its own.
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Extension table: each is sent as ESC + char, i.e. 2 septets that must stay together.
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")

GSM7_SINGLE = 160  # septets in a lone message
GSM7_PART = 153  # septets per part once a 6-octet UDH (concatenation header) is added
UCS2_SINGLE = 70  # UTF-16 code units in a lone message
UCS2_PART = 67

ELLIPSIS_GSM = "..."
ELLIPSIS_UCS2 = "\u2026"


class SmsTooLong(ValueError):
    """The fixed (never-truncated) parts of an SMS alone exceed the segment budget."""


def is_gsm7(text: str) -> bool:
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text)


def sms_encoding(text: str) -> SmsEncoding:
    return "GSM-7" if is_gsm7(text) else "UCS-2"


def _units(text: str, encoding: SmsEncoding) -> list[int]:
    """Cost of each indivisible unit: septets (GSM-7) or UTF-16 code units (UCS-2).

    Python strings index by code point, so an astral character (emoji) is one unit of
    cost 2 and can never be split between segments, just like an ESC+char pair.
    """
    if encoding == "GSM-7":
        return [2 if ch in GSM7_EXTENSION else 1 for ch in text]
    return [2 if ord(ch) > 0xFFFF else 1 for ch in text]


def sms_length(text: str) -> int:
    """Septets (GSM-7) or UTF-16 code units (UCS-2) the text occupies, ignoring segmentation."""
    return sum(_units(text, sms_encoding(text)))


def sms_segments(text: str) -> int:
    """Number of SMS parts the text is sent as. An empty text still costs one message."""
    encoding = sms_encoding(text)
    units = _units(text, encoding)
    single, part = (
        (GSM7_SINGLE, GSM7_PART) if encoding == "GSM-7" else (UCS2_SINGLE, UCS2_PART)
    )
    if sum(units) <= single:
        return 1
    # Greedy packing: a 2-unit character that does not fit the remaining room of a part
    # moves whole to the next part (the spare septet/code unit is padding).
    segments, used = 1, 0
    for cost in units:
        if used + cost > part:
            segments += 1
            used = 0
        used += cost
    return segments


_TYPOGRAPHY = str.maketrans(
    {
        "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
        "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"',
        "\u2013": "-", "\u2014": "-", "\u2212": "-", "\u2010": "-", "\u2011": "-",
        "\u2026": "...", "\u00a0": " ", "\u202f": " ", "\u2007": " ", "\u2009": " ",
        "\t": " ", "\u2022": "-",
    }
)
_WHITESPACE = re.compile(r"\s+")


def sms_friendly(text: str) -> str:
    """Normalise free text for SMS: collapse whitespace, map typography to GSM-7 look-alikes.

    Agencies paste answers from word processors; curly quotes and dashes alone would turn
    the whole SMS into UCS-2 (less than half the room). Real non-GSM content (Arabic
    script, emoji) is kept: meaning beats cost.
    """
    return _WHITESPACE.sub(" ", text.translate(_TYPOGRAPHY)).strip()


def fits(text: str, max_segments: int) -> bool:
    return sms_segments(text) <= max_segments


def fit_sms(before: str, variable: str, after: str = "", *, max_segments: int = 3) -> str:
    """Return `before + variable + after`, truncating only `variable` (with an ellipsis).

    `before`/`after` carry the facts that must never be cut (tracking id, secret, URL).
    Raises SmsTooLong when they alone cannot fit, rather than silently cutting them.
    """
    whole = before + variable + after
    if fits(whole, max_segments):
        return whole
    # No more than this many characters of `variable` can ever fit (each costs >= 1 unit),
    # which bounds the scan even for a 10,000-character hostile message.
    limit = min(len(variable), GSM7_PART * max_segments)
    for keep in range(limit, -1, -1):
        head = variable[:keep].rstrip()
        plain = before + head + after
        ellipsis = ELLIPSIS_UCS2 if sms_encoding(plain) == "UCS-2" else ELLIPSIS_GSM
        candidate = before + head + ellipsis + after
        if fits(candidate, max_segments):
            return candidate
    raise SmsTooLong(
        f"fixed SMS text needs {sms_segments(before + after)} segments, budget {max_segments}"
    )
