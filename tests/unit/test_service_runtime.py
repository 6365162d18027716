"""What a service's own process does at start that a test process must not."""

from __future__ import annotations

import gc

import pytest

from shared import service
from shared.service import ServiceRuntime
from shared.settings import Settings


def test_run_freezes_what_startup_built_once_the_service_is_started(
        monkeypatch: pytest.MonkeyPatch) -> None:
    served: list[object] = []
    monkeypatch.setattr(service.uvicorn, "run", lambda app, **_: served.append(app))
    monkeypatch.setattr(service.signal, "signal", lambda *_: None)  # keep pytest's handlers
    runtime = ServiceRuntime("intake", Settings.for_service("intake"))
    assert service._freeze_what_startup_built not in runtime._ready_hooks
    runtime.run(app=object())  # type: ignore[arg-type]
    assert served and runtime._ready_hooks[-1] is service._freeze_what_startup_built


async def test_the_freeze_moves_the_live_objects_out_of_the_collectors_sight() -> None:
    assert gc.get_freeze_count() == 0
    try:
        await service._freeze_what_startup_built()
        assert gc.get_freeze_count() > 1000
    finally:
        gc.unfreeze()
