"""`evolve`: `dataclasses.replace` for the SLA's frozen records, without running `__init__`.

A clock changes several times per status event (resume, transition, record), and each
`replace` ran the frozen dataclass's `__init__`: one guarded `setattr` per field, 22 on a
clock. That was a seventh of the SLA watcher's CPU at full load; copying the instance's
fields takes a seventh of the time. Classes with `__post_init__` or `__slots__` (whose
invariants or layout a copy would bypass) go through `replace` as before.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

T = TypeVar("T")


_FIELDS: dict[type, frozenset[str] | None] = {}


def _fields(cls: type) -> frozenset[str] | None:
    """The field names of a dataclass that `evolve` may copy; None where it must not."""
    if cls not in _FIELDS:
        copyable = not hasattr(cls, "__post_init__") and "__slots__" not in cls.__dict__
        _FIELDS[cls] = frozenset(f.name for f in dataclasses.fields(cls) if f.init) \
            if copyable else None
    return _FIELDS[cls]


def evolve(obj: T, **changes: Any) -> T:
    """A copy of the frozen dataclass instance `obj` with `changes` (field names only)."""
    names = _fields(type(obj))
    if names is None:
        return dataclasses.replace(obj, **changes)  # type: ignore[type-var]
    unknown = changes.keys() - names
    if unknown:
        raise TypeError(f"{type(obj).__name__} has no field(s) {', '.join(sorted(unknown))}")
    new = object.__new__(type(obj))
    state = new.__dict__
    state.update(obj.__dict__)
    state.update(changes)
    return new
