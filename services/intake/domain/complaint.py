"""Turning a valid submission into a stored complaint and its `complaint.received` event."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.contract import ComplaintReceived, Submission


def received_event(submission: Submission, tracking_id: str, citizen_secret: str,
                   now: datetime, event_id: str | None = None,
                   possible_duplicate_of: str | None = None) -> ComplaintReceived:
    fields = submission.model_dump(exclude={"reporter"})
    event = ComplaintReceived(
        **fields,
        reporter=submission.reporter,
        tracking_id=tracking_id,
        citizen_secret=citizen_secret,
        possible_duplicate_of=possible_duplicate_of,
        occurred_at=now,
    )
    if event_id:
        event.event_id = event_id
    return event


def stored_event(event: ComplaintReceived) -> dict[str, Any]:
    """The event as stored: everything but the citizen secret (only its hash is kept)."""
    return event.model_dump(mode="json", exclude={"citizen_secret"})
