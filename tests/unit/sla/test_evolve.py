"""`evolve` gives what `dataclasses.replace` gives, for the SLA's frozen records."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.sla.domain.clocks import Basis, Mark, MarkKind, SlaClock
from services.sla.domain.evolve import evolve
from services.sla.domain.policy import Stage

AT = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
CLOCK = SlaClock("7KQ2-M9XD-4", Stage.RESPONSE, "dinas-pu", "Asia/Makassar", AT,
                 AT + timedelta(days=3), Basis.WORKING_DAYS,
                 (Mark(MarkKind.WARNING, AT + timedelta(days=2), threshold=0.75),))


def test_a_copy_with_changes_equals_replace_and_leaves_the_original() -> None:
    changes: dict[str, Any] = {"version": 4, "last_event_at": AT, "applied_event_ids": ("e1",),
               "warnings_sent": frozenset({0.75})}
    evolved = evolve(CLOCK, **changes)
    assert evolved == dataclasses.replace(CLOCK, **changes)
    assert type(evolved) is SlaClock and evolved is not CLOCK
    assert (CLOCK.version, CLOCK.applied_event_ids) == (0, ())
    assert hash(evolved) == hash(dataclasses.replace(CLOCK, **changes))


def test_the_copy_is_frozen_too() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        evolve(CLOCK, version=1).version = 2  # type: ignore[misc]


def test_an_unknown_field_is_an_error() -> None:
    with pytest.raises(TypeError, match="no field.*versoin"):
        evolve(CLOCK, versoin=1)


@dataclasses.dataclass(frozen=True)
class _Checked:
    value: int

    def __post_init__(self) -> None:
        if self.value < 0:
            raise ValueError("negative")


def test_a_class_with_post_init_is_checked_as_replace_checks_it() -> None:
    assert evolve(_Checked(1), value=2) == _Checked(2)
    with pytest.raises(ValueError, match="negative"):
        evolve(_Checked(1), value=-1)


@dataclasses.dataclass(frozen=True, slots=True)
class _Slotted:
    value: int


def test_a_class_with_slots_goes_through_replace() -> None:
    assert evolve(_Slotted(1), value=2) == _Slotted(2)
