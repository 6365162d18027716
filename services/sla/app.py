"""The sla service: keeps deadlines in Indonesian working days, warns and escalates."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import structlog
from faststream.specification import AsyncAPI

from services.sla.adapters.clocks import INDEXES, ClockStore
from services.sla.adapters.upgrade import fold_legacy_clocks
from services.sla.domain import load_policy
from services.sla.domain.calendar import warm_up
from services.sla.handlers import SlaWatcher
from shared.agencies import load_agencies
from shared.clock import Clock, SystemClock
from shared.config_files import ConfigFileError
from shared.http import ServiceHttp
from shared.service import ServiceRuntime
from shared.settings import Settings

log = structlog.get_logger("sla")


def create_app(settings: Settings | None = None, clock: Clock | None = None
               ) -> tuple[ServiceRuntime, ServiceHttp]:
    runtime = ServiceRuntime("sla", settings)
    settings = runtime.settings
    agencies = load_agencies(settings.agencies_file)
    policy = load_policy(settings.sla_policy_file)  # a bad policy stops the service here
    if policy.national_coordinator not in agencies:
        raise ConfigFileError(settings.sla_policy_file,
                              f"unknown agency {policy.national_coordinator!r}",
                              "national_coordinator", "national_coordinator")
    runtime.indexes.update(INDEXES)

    store = ClockStore(runtime.db)

    async def upgrade_storage() -> None:
        await fold_legacy_clocks(runtime.db)
        # Before any clock is written: an existing deployment gets its tally counted once,
        # and due hints for its clocks (then the clocks' old index goes).
        if await store.establish_tally():
            log.info("sla open-clock tally counted from the clocks")
        await store.establish_hints()

    runtime.on_startup(upgrade_storage)
    clock = clock or SystemClock()

    async def warm_calendar() -> None:
        warm_up(clock.now().date())

    runtime.on_startup(warm_calendar)  # before the start-up freeze and the first batch
    watcher = SlaWatcher(store=store, publish_all=runtime.publish_all,
                         topics=runtime.topics, policy=policy, agencies=agencies,
                         clock=clock,
                         hold=timedelta(milliseconds=settings.sla_hold_ms),
                         scan_interval=timedelta(seconds=settings.sla_scan_interval_seconds))
    # One subscriber for both topics: one group member, and a case's received and first
    # status events often meet in one batch (its clocks are then written once), the more
    # so as batches gather for `sla_batch_window_ms` (deadlines are hours, not moments),
    # and a new case whose assignment has not come yet waits for the next batch (`holds`:
    # its records are not committed meanwhile).
    runtime.consume((runtime.topics.received, runtime.topics.status), watcher.handle_events,
                    batch_window_ms=settings.sla_batch_window_ms,
                    max_records=settings.sla_max_batch, holds=watcher.holds,
                    on_revoked=watcher.write_held, title="sla:lifecycle",
                    description="complaint.received starts the routing clock; status changes "
                                "move the stage clocks")

    async def scan_forever() -> None:
        while True:
            try:
                await watcher.release_held()  # before the scan: it sees written cases only
                await watcher.scan()
                await watcher.sample_gauges()  # one read of the tally
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the next round retries; never let the loop die
                log.warning("sla scan failed", error_type=type(exc).__name__, error=str(exc))
            await asyncio.sleep(settings.sla_scan_interval_seconds)

    runtime.background(scan_forever)
    runtime.declare_publisher(runtime.topics.sla, "sla.warning", "sla.breached",
                              description="SLA warnings and breaches (with escalation)")
    runtime.declare_publisher(runtime.topics.actions, "action",
                              description="auto_close actions for silent resolved cases")
    spec = AsyncAPI(title="LAPOR sla", version="1.0.0",
                    description="SLA clocks, warnings, escalations and auto-close.")
    return runtime, runtime.asgi(spec)
