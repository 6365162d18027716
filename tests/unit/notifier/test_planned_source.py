"""New notifications keep the event they were planned from, in memory only, so delivery from
the hand-over renders it as it came instead of validating the document's copy again; only
where that renders the same as the stored copy would."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import bson

from services.notifier.delivery import Deliverer, Planned
from services.notifier.handlers import Notifier
from shared.clock import ManualClock
from shared.contract import (
    Actor,
    ActorType,
    Channel,
    ComplaintReceived,
    ComplaintStatusChanged,
    Reporter,
    Status,
)
from shared.settings import Settings
from shared.topics import Topics

from .samples import AGENCIES, SECRET, TRACKING_ID

NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
CONTACTS = {TRACKING_ID: {"_id": TRACKING_ID, "email": "siti@example.id", "phone": None,
                          "language": "id", "anonymous": False, "title": "Jalan rusak"}}


def received(secret: str = SECRET) -> ComplaintReceived:
    return ComplaintReceived(
        tracking_id=TRACKING_ID, channel=Channel.WEB, channel_ref="web-1",
        title="Jalan rusak", body="Jalan di depan pasar rusak parah.",
        submitted_at=NOW, citizen_secret=secret,
        reporter=Reporter(email="siti@example.id"))


def assigned() -> ComplaintStatusChanged:
    return ComplaintStatusChanged(
        tracking_id=TRACKING_ID, status=Status.ASSIGNED, previous_status=Status.RECEIVED,
        agency_id="kutim-pupr", actor=Actor(type=ActorType.SYSTEM, id="router"),
        message="Diteruskan")


def notifier(secret: str = SECRET) -> Notifier:
    return Notifier(ledger=None, deliverer=None, clock=ManualClock(NOW),  # type: ignore[arg-type]
                    agencies=AGENCIES, sms_enabled=False, secret_for=lambda tid: secret)


def deliverer() -> Deliverer:
    return Deliverer(ledger=None, smtp=SimpleNamespace(), sms=SimpleNamespace(),  # type: ignore[arg-type]
                     publish_all=None, topics=Topics(""),  # type: ignore[arg-type]
                     settings=Settings(), clock=ManualClock(NOW), agencies=AGENCIES,
                     secret_for=lambda tid: SECRET)


def planned(event: Any, key_secret: str = SECRET) -> dict[str, Any]:
    documents, deferred = notifier(key_secret)._plan([event], CONTACTS)
    assert not deferred
    (document,) = documents
    return document


def test_a_planned_notification_keeps_its_event_beside_the_document_not_in_it() -> None:
    event = received()
    document = planned(event)
    assert isinstance(document, Planned) and document.source is event
    assert document["state"] == "pending"
    stored = bson.decode(bson.encode(document))  # what the ledger receives
    assert "source" not in stored and SECRET not in repr(stored)
    assert planned(assigned()).source is not None


def test_the_event_is_kept_only_where_it_renders_as_the_stored_copy_would() -> None:
    # The same secret in another spelling: accepted, but delivery derives the canonical one.
    loose = planned(received(SECRET.lower().replace("-", "")))
    assert loose["state"] == "pending" and loose.source is None
    # Another key than intake's: the acknowledgement fails at planning, never sent.
    wrong = planned(received(), key_secret="AAAAA-BBBBB")
    assert wrong["state"] == "failed" and wrong.source is None


def test_delivery_renders_the_kept_event_as_it_would_the_stored_copy() -> None:
    d = deliverer()
    for event in (received(), assigned()):
        document = planned(event)
        from_copy = d._context(dict(document))  # a plain document: as read from the ledger
        document["event"] = {"event_type": "no.such.event"}  # never read while kept
        assert d._context(document) == from_copy
    assert from_copy["agency_name"] == AGENCIES["kutim-pupr"].name
    assert d._context(dict(planned(received())))["citizen_secret"] == SECRET
