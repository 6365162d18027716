"""The intake service: validates submissions, stores complaints, publishes them."""

from __future__ import annotations

from functools import partial

from faststream.specification import AsyncAPI

from services.intake.adapters.complaints import INDEXES, ComplaintStore
from services.intake.domain.validation import readable_reference, validate_submission
from services.intake.handlers import Intake
from shared.categories import load_taxonomy
from shared.citizen_secret import derive_citizen_secret, hash_citizen_secret
from shared.clock import Clock, SystemClock
from shared.http import ServiceHttp
from shared.service import ServiceRuntime
from shared.settings import Settings
from shared.tracking_id import new_tracking_id


def create_app(settings: Settings | None = None, clock: Clock | None = None
               ) -> tuple[ServiceRuntime, ServiceHttp]:
    runtime = ServiceRuntime("intake", settings)
    settings = runtime.settings
    taxonomy = load_taxonomy(settings.categories_file)  # a bad file stops the service here
    runtime.indexes.update(INDEXES)
    key = settings.citizen_secret_key.get_secret_value().encode()
    intake = Intake(
        store=ComplaintStore(runtime.db),
        publish_all=runtime.publish_all,
        topics=runtime.topics,
        validate=partial(validate_submission, taxonomy=taxonomy),
        readable_reference=readable_reference,
        new_tracking_id=new_tracking_id,
        citizen_secret=partial(derive_citizen_secret, key),
        hash_secret=hash_citizen_secret,
        clock=clock or SystemClock(),
    )
    runtime.consume(runtime.topics.submitted, intake.handle,
                    title="intake:complaints.submitted",
                    description="Submissions from channel adapters")
    spec = AsyncAPI(title="LAPOR intake", version="1.0.0",
                    description="Validates citizens' submissions and publishes complaints.")
    return runtime, runtime.asgi(spec)
