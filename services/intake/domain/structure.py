"""Structural checks over the whole decoded submission, before any field rule.

Two defences that must look at every key, also inside fields intake would drop:
keys starting with `$` or containing NUL (MongoDB operator injection, e.g.
`{"$where": ...}` or `{"$gt": ""}` smuggled into a query), and nesting deeper
than a complaint ever needs. The walk uses an explicit stack, so no payload can
exhaust Python's recursion limit.
"""

from __future__ import annotations

import unicodedata

from .errors import ErrorCode, FieldErrors, field_path

MAX_DEPTH = 8
"""The submission object is depth 1; `attachments[0]` is depth 3. Anything nested
deeper than this is refused as `too_deep` (and not walked further)."""

_MAX_KEY_DISPLAY = 64


def display_key(key: object) -> str:
    """A key as it may appear in an error's field path: invisible characters escaped
    (a NUL or lone surrogate must not break the rejection event), long keys cut."""
    if isinstance(key, str) and len(key) <= _MAX_KEY_DISPLAY and key.isascii() \
            and key.isprintable():
        return key  # the usual case, and nothing to escape
    text = key if isinstance(key, str) else repr(key)
    shown = "".join(
        f"\\u{ord(ch):04x}" if unicodedata.category(ch) in ("Cc", "Cs", "Cf") else ch
        for ch in text[:_MAX_KEY_DISPLAY]
    )
    return shown + ("..." if len(text) > _MAX_KEY_DISPLAY else "")


def is_forbidden_key(key: object) -> bool:
    if not isinstance(key, str):
        return True  # JSON keys are always text; anything else did not come from JSON
    return key.startswith("$") or "\x00" in key


def scan_structure(data: dict[str, object], errors: FieldErrors) -> None:
    """Adds `forbidden_key` for every bad key and `too_deep` where nesting exceeds MAX_DEPTH."""
    stack: list[tuple[object, str, int]] = [(data, "", 1)]
    while stack:
        value, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            errors.add(path, ErrorCode.TOO_DEEP, f"nested deeper than {MAX_DEPTH} levels")
            continue
        if isinstance(value, dict):
            for key, child in value.items():
                forbidden = is_forbidden_key(key)
                container = isinstance(child, dict | list)
                if not (forbidden or container):
                    continue
                child_path = field_path(path, display_key(key))
                if forbidden:
                    errors.add(
                        child_path, ErrorCode.FORBIDDEN_KEY,
                        "keys must not start with '$' or contain NUL",
                    )
                if container:
                    stack.append((child, child_path, depth + 1))
        elif isinstance(value, list):
            for index, child in enumerate(value):
                if isinstance(child, dict | list):
                    stack.append((child, field_path(path, index), depth + 1))
