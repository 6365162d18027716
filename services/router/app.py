"""The router service: assigns agencies and runs the case lifecycle."""

from __future__ import annotations

from faststream.specification import AsyncAPI

from services.router.adapters.cases import INDEXES, CaseStore
from services.router.domain.rules import load_rules
from services.router.handlers import Router
from services.router.sampler import CaseSampler
from services.router.tracking import PREFIX, TrackingEndpoint
from shared.agencies import load_agencies
from shared.categories import load_taxonomy
from shared.clock import Clock, SystemClock
from shared.http import ServiceHttp
from shared.service import ServiceRuntime
from shared.settings import Settings


def create_app(settings: Settings | None = None, clock: Clock | None = None
               ) -> tuple[ServiceRuntime, ServiceHttp]:
    runtime = ServiceRuntime("router", settings)
    settings = runtime.settings
    # Bad registry or rules stop the service here, naming file, entry and field.
    agencies = load_agencies(settings.agencies_file)
    rules = load_rules(settings.routing_rules_file, agencies,
                       taxonomy=load_taxonomy(settings.categories_file))
    runtime.indexes.update(INDEXES)
    store = CaseStore(runtime.db)
    sampler = CaseSampler(store)
    router = Router(store=store, publish_all=runtime.publish_all, topics=runtime.topics,
                    rules=rules, agencies=agencies, clock=clock or SystemClock(),
                    on_change=sampler.changed)
    # One subscriber for both topics: one group member, one join on restart (every join
    # rebalances the whole group); a batch handles new complaints before actions.
    runtime.consume((runtime.topics.received, runtime.topics.actions), router.handle,
                    title="router:events",
                    description="New complaints to route, and lifecycle actions from "
                                "agencies, citizens, admins and the SLA watcher")
    runtime.routes[PREFIX] = TrackingEndpoint(store, agencies)

    async def upgrade_storage() -> None:  # before the consumer writes a case
        await store.drop_legacy_index()
        if await store.establish_tally():
            runtime.log.info("tally of open cases counted from the cases")

    runtime.on_startup(upgrade_storage)
    runtime.background(sampler.run)
    for topic, event_type, what in (
            (runtime.topics.routed, "complaint.routed", "Cases assigned to an agency"),
            (runtime.topics.triage, "complaint.needs_triage", "Cases for the coordinators"),
            (runtime.topics.status, "complaint.status_changed", "Every case status change"),
            (runtime.topics.actions_rejected, "action.rejected", "Actions refused, and why")):
        runtime.declare_publisher(topic, event_type, description=what)
    spec = AsyncAPI(title="LAPOR router", version="1.0.0",
                    description="Routes complaints to agencies and runs the case lifecycle.")
    return runtime, runtime.asgi(spec)
