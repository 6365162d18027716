"""What a service's own process does at start that a test process must not."""

from __future__ import annotations

import asyncio
import gc
from datetime import UTC, datetime

import pytest
from aiokafka.errors import KafkaTimeoutError
from pydantic import BaseModel

from shared import service
from shared.contract import Action, ActionName, Actor, ActorType, SlaWarning
from shared.metrics import EVENTS_PUBLISHED
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


@pytest.mark.parametrize("choice", ["auto", "uvloop", "asyncio"])
def test_run_serves_on_the_event_loop_the_settings_name(
        monkeypatch: pytest.MonkeyPatch, choice: str) -> None:
    loops: list[object] = []
    monkeypatch.setattr(service.uvicorn, "run", lambda app, **kw: loops.append(kw["loop"]))
    monkeypatch.setattr(service.signal, "signal", lambda *_: None)
    settings = Settings.for_service("router", event_loop=choice)
    ServiceRuntime("router", settings).run(app=object())  # type: ignore[arg-type]
    assert loops == [choice]


def test_the_event_loop_defaults_to_auto_and_refuses_unknown_names() -> None:
    assert Settings.for_service("sla").event_loop == "auto"
    with pytest.raises(ValueError, match="event_loop"):
        Settings.for_service("sla", event_loop="trio")


def test_auto_picks_uvloop_which_the_project_installs() -> None:
    """uvicorn's `auto` takes uvloop when it imports: a dependency on Linux and macOS."""
    from uvicorn.config import Config

    factory = Config(app=object(), loop="auto").get_loop_factory()  # type: ignore[arg-type]
    assert factory is not None
    loop = factory()
    try:
        assert type(loop).__module__ == "uvloop"
    finally:
        loop.close()


async def test_the_freeze_moves_the_live_objects_out_of_the_collectors_sight() -> None:
    assert gc.get_freeze_count() == 0
    thresholds = gc.get_threshold()
    try:
        await service._freeze_what_startup_built()
        assert gc.get_freeze_count() > 1000
        assert gc.get_threshold() == (service.YOUNG_COLLECTION_THRESHOLD, *thresholds[1:])
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


class _HandOver:
    """Stands in for the broker: keeps each published event's acknowledgement to settle
    by hand, and can fail the handover itself at the nth event."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.acks: list[asyncio.Future[None]] = []
        self.correlation_ids: list[object] = []
        self.fail_at = fail_at

    async def publish(self, body: bytes, topic: str, **kwargs: object) -> asyncio.Future[None]:
        self.correlation_ids.append(kwargs.get("correlation_id"))
        if len(self.acks) == self.fail_at:
            raise KafkaTimeoutError("no metadata")
        self.acks.append(asyncio.get_running_loop().create_future())
        return self.acks[-1]


def _warnings(n: int) -> list[tuple[SlaWarning, str]]:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    return [(SlaWarning(occurred_at=now, tracking_id=f"WARN-{i:04d}-K", stage="response",
                        threshold=0.5, due_at=now), "lapor.sla") for i in range(n)]


def _published() -> float:
    return EVENTS_PUBLISHED.labels("sla", "lapor.sla")._value.get()  # type: ignore[no-any-return]


def _runtime(broker: _HandOver) -> ServiceRuntime:
    runtime = ServiceRuntime("sla", Settings.for_service("sla"))
    runtime.broker = broker  # type: ignore[assignment]
    return runtime


async def _publishing(items: list[tuple[BaseModel, str]]
                      ) -> tuple[asyncio.Task[None], _HandOver]:
    """`publish_all(items)` under way on a stand-in broker, every event handed over."""
    broker = _HandOver()
    publishing = asyncio.create_task(_runtime(broker).publish_all(items))
    await asyncio.sleep(0)
    return publishing, broker


async def test_publish_all_returns_once_every_event_is_acknowledged() -> None:
    before = _published()
    publishing, broker = await _publishing(_warnings(3))
    assert len(broker.acks) == 3 and not publishing.done()  # all handed over, unconfirmed
    for ack in broker.acks[:2]:
        ack.set_result(None)
    await asyncio.sleep(0)
    assert not publishing.done()
    broker.acks[2].set_result(None)
    await publishing
    assert _published() == before + 3


async def test_publish_all_raises_a_refused_event_after_the_others_settled() -> None:
    before = _published()
    publishing, broker = await _publishing(_warnings(3))
    broker.acks[0].set_exception(KafkaTimeoutError("not acknowledged"))
    await asyncio.sleep(0)
    assert not publishing.done()  # the others are still on their way
    broker.acks[1].set_result(None)
    broker.acks[2].set_result(None)
    with pytest.raises(KafkaTimeoutError, match="not acknowledged"):
        await publishing
    assert _published() == before  # counted only when all went out


async def test_a_failed_handover_raises_and_leaves_no_unretrieved_failure() -> None:
    broker = _HandOver(fail_at=2)
    unretrieved: list[dict[str, object]] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _, context: unretrieved.append(context))
    try:
        with pytest.raises(KafkaTimeoutError, match="no metadata"):
            await _runtime(broker).publish_all(_warnings(3))
        broker.acks[0].set_exception(KafkaTimeoutError("late"))  # an earlier one fails later
        broker.acks[1].set_result(None)
        await asyncio.sleep(0)
        broker.acks.clear()
        gc.collect()
        assert unretrieved == []
    finally:
        loop.set_exception_handler(None)


async def test_a_record_is_correlated_by_its_event_id_or_action_id() -> None:
    (warning, topic), = _warnings(1)
    close = Action(action_id="auto-close:WARN-0000-K:1", tracking_id="WARN-0000-K",
                   occurred_at=warning.occurred_at, action=ActionName.AUTO_CLOSE,
                   actor=Actor(type=ActorType.SYSTEM, id="sla"))
    publishing, broker = await _publishing([(warning, topic), (close, "lapor.actions")])
    for ack in broker.acks:
        ack.set_result(None)
    await publishing
    assert broker.correlation_ids == [warning.event_id, "auto-close:WARN-0000-K:1"]
