"""Kafka wiring shared by every service: one broker per process, security from settings,
topics created explicitly at start, producer acks=all, consumer groups per service."""

from __future__ import annotations

import ssl
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from faststream.kafka import KafkaBroker
from faststream.kafka.security import parse_security
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512

from shared.settings import Settings
from shared.topics import Topics


def build_security(settings: Settings) -> BaseSecurity | None:
    """SASL (PLAIN, SCRAM) and TLS from `LAPOR_KAFKA_*` settings."""
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return None
    use_ssl = protocol in ("SSL", "SASL_SSL")
    context: ssl.SSLContext | None = None
    if use_ssl:
        context = ssl.create_default_context(cafile=settings.kafka_ssl_cafile)
        if settings.kafka_ssl_certfile:
            context.load_cert_chain(settings.kafka_ssl_certfile, settings.kafka_ssl_keyfile)
    if protocol == "SSL":
        return BaseSecurity(ssl_context=context, use_ssl=True)
    username = settings.kafka_sasl_username or ""
    secret = settings.kafka_sasl_password
    password = secret.get_secret_value() if secret else ""
    mechanism = settings.kafka_sasl_mechanism or "PLAIN"
    cls = {"PLAIN": SASLPlaintext, "SCRAM-SHA-256": SASLScram256,
           "SCRAM-SHA-512": SASLScram512}[mechanism]
    return cls(username, password, ssl_context=context, use_ssl=use_ssl)


def client_kwargs(settings: Settings) -> dict[str, Any]:
    """Connection arguments for plain aiokafka clients (admin, CLI, tests, benchmarks)."""
    kwargs: dict[str, Any] = {"bootstrap_servers": settings.kafka_bootstrap_servers}
    kwargs.update({k: v for k, v in parse_security(build_security(settings)).items()
                   if v is not None})
    return kwargs


def make_broker(settings: Settings, logger: Any = None, **extra: Any) -> KafkaBroker:
    return KafkaBroker(
        settings.kafka_bootstrap_servers,
        client_id=f"lapor-{settings.service_name}",
        acks="all",
        enable_idempotence=settings.kafka_enable_idempotence,
        linger_ms=settings.kafka_linger_ms,
        max_batch_size=settings.kafka_max_batch_bytes,
        security=build_security(settings),
        logger=logger,
        graceful_timeout=settings.shutdown_timeout_seconds,
        # Topics are created explicitly with the configured partition count (ensure_topics).
        allow_auto_create_topics=False,
        **extra,
    )


def subscriber_kwargs(settings: Settings) -> dict[str, Any]:
    """Consumer settings every subscriber uses: the service's group, earliest, timeouts."""
    return {
        "group_id": settings.group_id,
        "auto_offset_reset": "earliest",  # a new group must not skip complaints
        "session_timeout_ms": settings.kafka_session_timeout_ms,
        "heartbeat_interval_ms": settings.kafka_heartbeat_interval_ms,
        "fetch_max_wait_ms": settings.kafka_fetch_max_wait_ms,
        "rebalance_timeout_ms": settings.kafka_rebalance_timeout_ms,
    }


async def ensure_topics(settings: Settings, topics: list[str] | None = None) -> list[str]:
    """Create every topic (and DLQ) with the configured partitions; existing ones are kept."""
    names = topics if topics is not None else Topics(settings.topic_prefix).all_with_dlqs()
    admin = AIOKafkaAdminClient(**client_kwargs(settings),
                                client_id=f"lapor-{settings.service_name}-admin")
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [n for n in names if n not in existing]
        if missing:
            # An existing topic answers error 36 instead of raising: concurrent starts are safe.
            await admin.create_topics([
                NewTopic(name, settings.kafka_partitions, settings.kafka_replication_factor)
                for name in missing
            ])
        return missing
    finally:
        await admin.close()
