"""Event ids derived from a record's position: the same for a redelivery, distinct otherwise."""

from __future__ import annotations

from shared.consumer import InboundRecord


def record(offset: int, partition: int = 0) -> InboundRecord:
    return InboundRecord("complaints.submitted", partition, offset, b"k", b"{}")


def test_a_redelivered_record_derives_the_same_event_id() -> None:
    assert record(7).derived_event_id("received") == record(7).derived_event_id("received")


def test_position_and_purpose_each_change_the_id() -> None:
    ids = {record(7).derived_event_id("received"), record(7).derived_event_id("rejected"),
           record(8).derived_event_id("received"),
           record(7, partition=1).derived_event_id("received")}
    assert len(ids) == 4
