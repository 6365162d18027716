"""The runtime every service is built on: settings, logging, broker, database, HTTP
(metrics, health) and the reliable consumer, wired the same way in all four services.

A service module creates a `ServiceRuntime`, registers its subscribers and start-up steps,
and returns `runtime.asgi()`; `runtime.run()` serves it with uvicorn.
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import sys
import threading
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, Union

import uvicorn
from faststream.asgi import AsgiFastStream
from pydantic import BaseModel
from pymongo import AsyncMongoClient, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from shared.codec import HEADERS, encode, key_for
from shared.consumer import BatchHandler, ReliableConsumer, subscribe
from shared.contract import EVENT_TYPES, Action
from shared.http import ASGIApp, Readiness, ServiceHttp
from shared.kafka import ensure_topics, make_broker
from shared.logging import configure_logging
from shared.metrics import EVENTS_PUBLISHED
from shared.mongo import database, ensure_indexes, make_client, ping
from shared.settings import Settings
from shared.topics import Topics

Hook = Callable[[], Awaitable[None]]
# What `declare_publisher` accepts by name: every event type, and the lifecycle command.
PUBLISHED_SCHEMAS: dict[str, type[BaseModel]] = {**EVENT_TYPES, "action": Action}


# A batch of a few hundred events keeps tens of thousands of new objects alive until it
# is done (decoded events, documents, statements), all freed together by reference counting
# at the end. At Python's default the collector runs whenever 700 more are alive than at
# its last run, over and over through a batch, and finds little to free: 20,000 took about 3 %
# off the services' CPU per complaint at full load (seventeenth round).
YOUNG_COLLECTION_THRESHOLD = 20_000


async def _freeze_what_startup_built() -> None:
    """Moves what start-up built (modules, models, the clients of the broker and the
    database: about 90,000 objects in the router) out of the cyclic garbage collector's
    sight, for the process's life: full collections under load then scan only what the
    service makes while it works. Young collections then come every
    `YOUNG_COLLECTION_THRESHOLD` allocations instead of Python's 700. Only in a service's
    own process (`run`), not in a test process."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, *gc.get_threshold()[1:])


def _correlation_id(model: BaseModel) -> str | None:
    """What a record's `correlation_id` header carries: the event's id, or the action's."""
    return getattr(model, "event_id", None) or getattr(model, "action_id", None)


def _retrieve(ack: asyncio.Future[Any]) -> None:
    if not ack.cancelled():
        ack.exception()


class ServiceRuntime:
    def __init__(self, name: str, settings: Settings | None = None) -> None:
        self.name = name
        self.settings = settings or Settings.for_service(name)
        self.log = configure_logging(name, self.settings.log_format, self.settings.log_level)
        self.topics = Topics(self.settings.topic_prefix)
        self.broker = make_broker(self.settings, logger=self.log)
        self.consumer = ReliableConsumer(self.broker, self.settings)
        self.indexes: dict[str, list[IndexModel]] = {}
        self._mongo: AsyncMongoClient[dict[str, Any]] | None = None
        self._startup: list[Hook] = []
        self._ready_hooks: list[Hook] = []
        self._shutdown: list[Hook] = []
        self._consumers_stopped: list[Hook] = []
        self._tasks: list[asyncio.Task[None]] = []
        self.routes: dict[str, ASGIApp] = {}
        self.readiness = Readiness(name, {"broker": self._broker_ok, "database": self._db_ok})

    # -- wiring -------------------------------------------------------------------------
    @property
    def db(self) -> AsyncDatabase[dict[str, Any]]:
        if self._mongo is None:
            self._mongo = make_client(self.settings)
        return database(self._mongo, self.settings)

    def consume(self, topic: str | Sequence[str], handler: BatchHandler, **kwargs: Any) -> None:
        subscribe(self.broker, self.consumer, topic, handler, self.settings, **kwargs)

    def on_startup(self, hook: Hook) -> None:
        """Runs before consumers start (load config, ensure indexes); failure stops the service."""
        self._startup.append(hook)

    def after_startup(self, hook: Hook) -> None:
        self._ready_hooks.append(hook)

    def on_shutdown(self, hook: Hook) -> None:
        self._shutdown.append(hook)

    def on_consumers_stopped(self, hook: Hook) -> None:
        """Runs once the consumers have stopped (no handler runs any more), before the
        database connection closes: for work a handler left behind it."""
        self._consumers_stopped.append(hook)

    def background(self, loop: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """A task that runs while the service runs (SLA scanner, notification retries)."""

        async def start() -> None:
            self._tasks.append(asyncio.create_task(loop(), name=f"{self.name}-background"))

        self._ready_hooks.append(start)

    # -- publishing ---------------------------------------------------------------------
    def declare_publisher(self, topic: str, *schemas: str | type[BaseModel],
                          description: str) -> None:
        """Document a topic this service publishes to, for the AsyncAPI document only.

        Events go out through `publish`/`publish_all`; this registers a FastStream
        publisher that carries the schema and is never used to send. `schemas` are event
        types (`"complaint.routed"`), `"action"` (a lifecycle command) or models.
        """
        models = [PUBLISHED_SCHEMAS[s] if isinstance(s, str) else s for s in schemas]
        schema: Any = models[0] if len(models) == 1 else Union[tuple(models)]  # noqa: UP007
        self.broker.publisher(topic, schema=schema, title=f"{self.name}:{topic}",
                              description=description)

    async def publish(self, event: BaseModel, topic: str) -> None:
        await self.publish_all([(event, topic)])

    async def publish_all(self, items: Sequence[tuple[BaseModel, str]]) -> None:
        """Publish many events; returns once the broker acknowledged every one, and raises
        the first failure (the caller publishes them again: events keep their ids).

        Each event is handed to the producer in order without waiting for its
        acknowledgement (`no_confirm`: the producer batches them into few requests), then
        the acknowledgements are awaited together: no task per event, which halved the
        CPU of a publish (docs/benchmark-history.md, thirteenth round). Order per key
        holds: one producer, one partition per key, handed over in order. The event's id
        (an action's id) is the record's correlation id."""
        acks: list[asyncio.Future[Any]] = []
        try:
            for event, topic in items:
                ack = await self.broker.publish(
                    encode(event), topic, key=key_for(event), headers=HEADERS,
                    correlation_id=_correlation_id(event), no_confirm=True)
                if asyncio.isfuture(ack):  # None from the in-memory test broker: done already
                    acks.append(ack)
        except BaseException:
            for ack in acks:  # failing later, unawaited: retrieve it, or asyncio warns
                ack.add_done_callback(_retrieve)
            raise
        results = await asyncio.gather(*acks, return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            raise failures[0]
        for _, topic in items:
            EVENTS_PUBLISHED.labels(self.name, topic).inc()

    # -- lifecycle ----------------------------------------------------------------------
    async def _broker_ok(self) -> bool:
        return await self.broker.ping(timeout=1.5)

    async def _db_ok(self) -> bool:
        _ = self.db
        assert self._mongo is not None
        return await ping(self._mongo)

    async def _start(self) -> None:
        await ensure_topics(self.settings)
        await ensure_indexes(self.db, self.indexes)
        for hook in self._startup:
            await hook()
        loop = asyncio.get_running_loop()
        self.log.info("starting consumers", group=self.settings.group_id,
                      event_loop=f"{type(loop).__module__}.{type(loop).__qualname__}")

    async def _started(self) -> None:
        for hook in self._ready_hooks:
            await hook()
        self.readiness.started = True
        self.log.info("service ready", port=self.settings.http_port)

    async def _stop(self) -> None:
        self.readiness.started = False
        # A hard deadline: a broker that lost its state can hang offset commits for minutes.
        deadline = threading.Timer(self.settings.shutdown_timeout_seconds + 2, os._exit, (3,))
        deadline.daemon = True
        deadline.start()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for hook in self._shutdown:
            await hook()

    async def _closed(self) -> None:
        for hook in self._consumers_stopped:
            await hook()
        if self._mongo is not None:
            await self._mongo.close()
        self.log.info("service stopped")

    def asgi(self, specification: Any = None) -> ServiceHttp:
        app = AsgiFastStream(
            self.broker,
            logger=self.log,
            on_startup=[self._start],
            after_startup=[self._started],
            on_shutdown=[self._stop],
            after_shutdown=[self._closed],
            specification=specification,
        )
        self.faststream_app = app
        return ServiceHttp(app, self.readiness, self.routes)  # type: ignore[arg-type]

    def run(self, app: ServiceHttp) -> None:
        self.after_startup(_freeze_what_startup_built)
        # uvicorn re-raises the stop signal after a graceful shutdown; exit 0 instead, since
        # the shutdown was clean (a hard deadline exits 3, a crash non-zero).
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: sys.exit(0))
        uvicorn.run(app, host=self.settings.http_host, port=self.settings.http_port or 0,
                    log_config=None, access_log=False, lifespan="on",
                    loop=self.settings.event_loop,
                    timeout_graceful_shutdown=int(self.settings.shutdown_timeout_seconds))
