"""The benchmark's own processes (the load and its observer, the relay of the ceiling) on
the services' event loop: uvloop where it is installed, as the services' `auto` takes it.
The relay then measures the broker's limit through the same client stack as the
services."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:  # e.g. on Windows: the standard library's loop
        return None
    return uvloop.new_event_loop  # type: ignore[no-any-return]


def loop_name() -> str:
    return "uvloop" if loop_factory() is not None else "asyncio"


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(coroutine)
