"""The intake service: validates submissions, stores complaints, publishes them."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from datetime import timedelta
from functools import partial

from faststream.specification import AsyncAPI

from services.intake.adapters.complaints import INDEXES, ComplaintStore
from services.intake.adapters.contact_marks import INDEXES as MARK_INDEXES
from services.intake.adapters.contact_marks import ContactMarks
from services.intake.adapters.duplicate_roots import INDEXES as ROOT_INDEXES
from services.intake.adapters.duplicate_roots import RecentRoots, RootStore, RootWriter
from services.intake.adapters.recent_marks import RecentMarks
from services.intake.domain.rate_limit import WINDOW, contact_keys, pepper_from_key
from services.intake.domain.validation import readable_reference, validate_submission
from services.intake.handlers import Intake
from shared.categories import load_taxonomy
from shared.citizen_secret import derive_citizen_secret, hash_citizen_secret
from shared.clock import Clock, SystemClock
from shared.http import ServiceHttp
from shared.regions import official_regions
from shared.service import ServiceRuntime
from shared.settings import Settings

CRASH_AFTER_STORE = "LAPOR_INTAKE_CRASH_AFTER_STORE"
"""TEST ONLY. When this environment variable is "1", intake kills itself (SIGKILL) right
after storing new complaints and before publishing them, so an integration test can prove
that the restarted service re-publishes the same complaint.received. Never set it
anywhere else."""


def crash_after_store_hook() -> Callable[[], None] | None:
    if os.environ.get(CRASH_AFTER_STORE) != "1":
        return None

    def crash() -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    return crash


def build_intake(runtime: ServiceRuntime, clock: Clock | None = None) -> Intake:
    """Intake's handler wired to the runtime's database and broker (no subscription)."""
    settings = runtime.settings
    taxonomy = load_taxonomy(settings.categories_file)  # a bad file stops the service here
    # Validation looks region codes up in this table: loaded now, it is among what the
    # service freezes after start-up, not 7,829 objects every full collection scans.
    official_regions()
    runtime.indexes.update(INDEXES)
    runtime.indexes.update(ROOT_INDEXES)
    runtime.indexes.update(MARK_INDEXES)
    key = settings.citizen_secret_key.get_secret_value().encode()
    store = ComplaintStore(runtime.db)
    root_store = RootStore(runtime.db)
    window = timedelta(days=settings.intake_duplicate_window_days)
    root_writer = RootWriter(root_store, window)
    runtime.background(root_writer.run_forever)
    runtime.on_consumers_stopped(root_writer.close)
    return Intake(
        store=store,
        marks=RecentMarks(ContactMarks(runtime.db), WINDOW,
                          max_marks=settings.intake_flood_guard_max_marks),
        roots=RecentRoots(root_store, window),
        save_roots=root_writer.add,
        publish_all=runtime.publish_all,
        topics=runtime.topics,
        validate=partial(validate_submission, taxonomy=taxonomy),
        readable_reference=readable_reference,
        tracking_id_key=store.tracking_id_key,
        citizen_secret=partial(derive_citizen_secret, key),
        hash_secret=hash_citizen_secret,
        contact_keys=partial(contact_keys, pepper=pepper_from_key(key)),
        rate_limit_per_hour=settings.intake_rate_limit_per_hour,
        clock=clock or SystemClock(),
        after_store=crash_after_store_hook(),
    )


def create_app(settings: Settings | None = None, clock: Clock | None = None
               ) -> tuple[ServiceRuntime, ServiceHttp]:
    runtime = ServiceRuntime("intake", settings)
    intake = build_intake(runtime, clock)
    runtime.consume(runtime.topics.submitted, intake.handle,
                    title="intake:complaints.submitted",
                    description="Submissions from channel adapters")
    runtime.declare_publisher(runtime.topics.received, "complaint.received",
                              description="Accepted complaints, with their tracking ids")
    runtime.declare_publisher(runtime.topics.rejected, "submission.rejected",
                              description="Refused submissions, with every error found")
    spec = AsyncAPI(title="LAPOR intake", version="1.0.0",
                    description="Validates citizens' submissions and publishes complaints.")
    return runtime, runtime.asgi(spec)
