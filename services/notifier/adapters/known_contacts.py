"""The reporter contacts this notifier stored or read lately, kept in memory.

A complaint's contacts are written once, from its `complaint.received` (first write wins),
and never change. Its later events (assigned, in progress, resolved) need them again, and
they mostly come soon after and to the same instance, because events are keyed by tracking
id. Keeping the most recent ones saves a database query per batch. Only documents known to
be the stored ones are kept: those this notifier inserted, or read back. Bounded: the least
recently used go first.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Any


class KnownContacts:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._by_tracking_id: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._by_tracking_id)

    def keep(self, contacts: Iterable[dict[str, Any]]) -> None:
        if self.capacity <= 0:
            return
        for contact in contacts:
            self._by_tracking_id[contact["_id"]] = contact
            self._by_tracking_id.move_to_end(contact["_id"])
        while len(self._by_tracking_id) > self.capacity:
            self._by_tracking_id.popitem(last=False)

    def split(self, tracking_ids: Sequence[str]) -> tuple[dict[str, dict[str, Any]], list[str]]:
        """The contacts known here, and the tracking ids to look up."""
        known: dict[str, dict[str, Any]] = {}
        unknown: list[str] = []
        for tracking_id in tracking_ids:
            contact = self._by_tracking_id.get(tracking_id)
            if contact is None:
                unknown.append(tracking_id)
            else:
                self._by_tracking_id.move_to_end(tracking_id)
                known[tracking_id] = contact
        return known, unknown
