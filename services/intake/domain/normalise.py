"""Normalising what citizens type: phone numbers, e-mail addresses and free text.

Channel adapters pass contact data and text as people wrote them. Intake stores
one canonical form so that notifications reach the right number, rate limits
count the same person once, and no invisible character reaches an agency's screen.
"""

from __future__ import annotations

import re
import unicodedata

# --- phone numbers -----------------------------------------------------------------

# What people put between digits: spaces (also non-breaking ones from copy and
# paste), dots, dashes and parentheses around an area code or trunk zero.
_PHONE_SEPARATORS = re.compile(r"[\s.\-()]")
_MAX_PHONE_CHARS = 40
_INDONESIA = "62"
# Any other country: E.164 allows at most 15 digits; fewer than 8 is never a real number.
_FOREIGN_E164 = re.compile(r"[1-9][0-9]{7,14}")


def _parentheses_balanced(text: str) -> bool:
    depth = 0
    for ch in text:
        if ch == "(":
            depth += 1
            if depth > 1:
                return False
        elif ch == ")":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


def _indonesian(significant: str) -> str | None:
    """E.164 for an Indonesian number given without country code and trunk zero."""
    # "+62 (0)812..." and "+62 0812...": a trunk zero people keep after the country code.
    if significant.startswith("0"):
        significant = significant[1:]
    if not significant:
        return None
    first = significant[0]
    if first == "8":
        # Mobile: 08xx with 9..13 digits in national form. 080x is toll-free/premium,
        # not a number a citizen can be reached on.
        if significant[1:2] in ("", "0") or not 8 <= len(significant) <= 12:
            return None
    elif first in "2345679":
        # Landline: area code of 2-3 digits (21 Jakarta, 549 Kutai Timur) and a
        # subscriber number of 5-8 digits: 8..11 digits in national form.
        if not 7 <= len(significant) <= 10:
            return None
    else:
        # 0 and 1 start emergency and service numbers (112, 1500xxx), never a contact.
        return None
    return f"+{_INDONESIA}{significant}"


def normalise_phone(raw: object) -> str | None:
    """E.164 (`+62812...`) for an Indonesian number in any common form, a foreign
    number in E.164 as given (without separators), or None for anything else."""
    if not isinstance(raw, str):
        return None
    text = raw.strip()
    if not text or len(text) > _MAX_PHONE_CHARS:
        return None
    international = text.startswith("+")
    if international:
        text = text[1:]
    if not _parentheses_balanced(text):
        return None
    digits = _PHONE_SEPARATORS.sub("", text)
    # isdigit() alone would accept Arabic-Indic and other Unicode digits.
    if not digits or not digits.isascii() or not digits.isdigit():
        return None
    if not international and digits.startswith("00" + _INDONESIA):
        # "0062...": the international call prefix instead of "+".
        international, digits = True, digits[2:]
    if digits.startswith(_INDONESIA):
        # With or without "+": a national number never starts with 62 (it starts with 0).
        return _indonesian(digits[len(_INDONESIA):])
    if international:
        return "+" + digits if _FOREIGN_E164.fullmatch(digits) else None
    if digits.startswith("0"):
        return _indonesian(digits[1:])
    if digits.startswith("8"):
        # "812-3456-7890": the trunk zero left out; 8 starts only mobile numbers.
        return _indonesian(digits)
    return None


# --- e-mail addresses --------------------------------------------------------------

_MAX_EMAIL_CHARS = 254  # RFC 5321 path limit
_MAX_LOCAL_CHARS = 64
_MAX_LABEL_CHARS = 63
# Characters that are legal only inside a quoted local part; practically always a typo.
_LOCAL_FORBIDDEN = frozenset('()<>[]\\,;:"')


def is_visible_text(text: str) -> bool:
    """True when `text` has no whitespace, control, format (zero-width, bidi), private-use,
    unassigned or lone surrogate characters: the test for identifiers, addresses, URLs."""
    if text.isascii():  # printable ASCII is visible, except the space
        return text.isprintable() and " " not in text
    return not any(
        ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn") for ch in text
    )


def _is_domain_label(label: str) -> bool:
    if not 1 <= len(label) <= _MAX_LABEL_CHARS or label[0] == "-" or label[-1] == "-":
        return False
    # ASCII letters, digits and hyphens, or letters of an internationalised domain name.
    return all(
        (ch.isascii() and (ch.isalnum() or ch == "-")) or (not ch.isascii() and ch.isalpha())
        for ch in label
    )


def is_valid_email(s: object) -> bool:
    """A practical check (not full RFC 5322): one @, a local part of at most 64
    characters, a dotted domain name, nothing invisible, at most 254 characters."""
    if not isinstance(s, str) or not 3 <= len(s) <= _MAX_EMAIL_CHARS or not is_visible_text(s):
        return False
    local, at, domain = s.partition("@")
    if not at or "@" in domain:
        return False
    if not 1 <= len(local) <= _MAX_LOCAL_CHARS:
        return False
    if local[0] == "." or local[-1] == "." or ".." in local:
        return False
    if any(ch in _LOCAL_FORBIDDEN for ch in local):
        return False
    labels = domain.split(".")
    if len(labels) < 2 or not all(_is_domain_label(label) for label in labels):
        return False
    tld = labels[-1]
    return len(tld) >= 2 and not tld.isdigit()


def normalise_email(raw: object) -> str | None:
    """The address with surrounding blanks removed and the domain lower-cased (domains
    are case-insensitive; local parts formally are not, so that part is kept), or None."""
    if not isinstance(raw, str):
        return None
    text = raw.strip()
    if not is_valid_email(text):
        return None
    local, _, domain = text.partition("@")
    return f"{local}@{domain.lower()}"


# --- free text ---------------------------------------------------------------------

_KEPT_CONTROLS = frozenset("\n\t")
# Bidirectional overrides and isolates can make text display differently from what it
# says (the "Trojan Source" trick); complaint text has no legitimate use for them.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_WHITESPACE_RUN = re.compile(r"\s+")


def _is_dropped(ch: str) -> bool:
    if ch in _KEPT_CONTROLS:
        return False
    # Cc: C0/C1 controls incl. NUL. Cs: lone surrogates that JSON can carry ("\ud800")
    # but UTF-8 cannot encode: they would fail later when the event is written.
    return unicodedata.category(ch) in ("Cc", "Cs") or ch in _BIDI_CONTROLS


# The same set as one character class (Cc is exactly U+0000-001F and U+007F-009F, Cs
# exactly U+D800-DFFF): one regex pass instead of a Python call per character.
_DROPPED = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff"
    + "".join(sorted(_BIDI_CONTROLS)) + "]"
)


def clean_text(s: str) -> str:
    """Trimmed, NFC-normalised text with CRLF (and lone CR) turned into LF and control
    characters other than newline and tab removed."""
    text = s.replace("\r\n", "\n").replace("\r", "\n")
    # NFC so "é" typed as e + combining accent equals the precomposed "é" (length, search).
    text = unicodedata.normalize("NFC", text)
    return _DROPPED.sub("", text).strip()


def clean_line(s: str) -> str:
    """clean_text for one-line fields (title, name): every run of whitespace becomes
    one space, so a title cannot carry line breaks into e-mail subjects or lists."""
    return _WHITESPACE_RUN.sub(" ", clean_text(s))
