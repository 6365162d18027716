"""The notifier service: tells citizens (e-mail, SMS) and alerts agencies, exactly once."""

from __future__ import annotations

from functools import partial

from faststream.specification import AsyncAPI

from services.notifier.adapters.ledger import INDEXES, Ledger
from services.notifier.adapters.sms_gateway import SmsGateway
from services.notifier.adapters.smtp import SmtpSender
from services.notifier.delivery import Deliverer
from services.notifier.domain.planning import AgencyContact
from services.notifier.handlers import Notifier
from shared.agencies import load_agencies
from shared.citizen_secret import derive_citizen_secret
from shared.clock import Clock, SystemClock
from shared.http import ServiceHttp
from shared.service import ServiceRuntime
from shared.settings import Settings


def create_app(settings: Settings | None = None, clock: Clock | None = None
               ) -> tuple[ServiceRuntime, ServiceHttp]:
    runtime = ServiceRuntime("notifier", settings)
    settings = runtime.settings
    clock = clock or SystemClock()
    agencies = {a.id: AgencyContact(a.id, a.name, a.timezone, a.contacts.email, a.contacts.phone)
                for a in load_agencies(settings.agencies_file)}
    runtime.indexes.update(INDEXES)
    ledger = Ledger(runtime.db, known_contacts=settings.notify_known_contacts)
    sms = SmsGateway(settings)
    key = settings.citizen_secret_key.get_secret_value().encode()
    secret_for = partial(derive_citizen_secret, key)
    smtp = SmtpSender(settings)
    deliverer = Deliverer(ledger=ledger, smtp=smtp, sms=sms,
                          publish_all=runtime.publish_all, topics=runtime.topics,
                          settings=settings, clock=clock, agencies=agencies,
                          secret_for=secret_for)
    notifier = Notifier(ledger=ledger, deliverer=deliverer, clock=clock, agencies=agencies,
                        sms_enabled=sms.enabled, secret_for=secret_for)
    # One subscriber for the three topics: one group member, one join on restart, and a
    # complaint's received and status events often meet in one batch (nothing to defer).
    # Complaints lead: with a backlog, a status event waits for the complaints received
    # before it instead of being deferred in the database (`shared.lead_topic`).
    runtime.consume((runtime.topics.received, runtime.topics.status, runtime.topics.sla),
                    notifier.handle, lead_topic=runtime.topics.received,
                    title="notifier:events",
                    description="Events that citizens or agencies must hear about")

    async def upgrade_storage() -> None:
        queued = await ledger.upgrade_storage()
        if any(queued.values()):
            runtime.log.warning("notification ledger upgraded", **queued)

    runtime.on_startup(upgrade_storage)  # before the reporter loop and the consumer start
    runtime.background(deliverer.run_forever)
    runtime.on_shutdown(sms.close)
    runtime.on_shutdown(smtp.close)
    runtime.declare_publisher(runtime.topics.notifications, "notification.sent",
                              "notification.failed", "notification.skipped",
                              description="The outcome of every notification")
    spec = AsyncAPI(title="LAPOR notifier", version="1.0.0",
                    description="E-mail and SMS to citizens, alerts to agencies.")
    return runtime, runtime.asgi(spec)
