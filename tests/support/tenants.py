"""A tenant of its own on the shared servers: a unique topic prefix and database name, so
tests never see each other's messages or documents."""

from __future__ import annotations

import uuid

from shared.devinfra import LocalInfra


def tenant_env_for(infra: LocalInfra, **extra: str) -> dict[str, str]:
    name = uuid.uuid4().hex[:10]
    return {
        **infra.env,
        "LAPOR_TOPIC_PREFIX": f"t{name}.",
        "LAPOR_MONGODB_DATABASE": f"lapor_{name}",
        "LAPOR_KAFKA_PARTITIONS": "3",
        "LAPOR_LOG_FORMAT": "json",
        "LAPOR_LOG_LEVEL": "INFO",
        "LAPOR_RETRY_BACKOFF_SECONDS": "0.05",
        **extra,
    }
