"""Name-based ids: `str(uuid.uuid5(namespace, name))`, computed without building a `UUID`.

Event and notification ids are derived from what they stand for, so a redelivered input
yields the very same id and its consumers drop the repeat. These ids are stored and
published, so the result must stay exactly uuid5's (a unit test checks it against
`uuid.uuid5`); this form takes about a third of its time, and the notifier derives two
per notification.
"""

from __future__ import annotations

import hashlib
import uuid


def name_based_id(namespace: uuid.UUID, name: str) -> str:
    """The RFC 4122 version-5 UUID of `name` in `namespace`, in its canonical text form."""
    digest = bytearray(hashlib.sha1(namespace.bytes + name.encode("utf-8")).digest()[:16])  # noqa: S324 - uuid5 is SHA-1 by definition
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    text = digest.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
