"""Runtime settings from the environment, prefix `LAPOR_` (CONTRACT.md section 7).

Every service reads the same `Settings`; each service's own defaults (its HTTP port)
come from `Settings.for_service`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.config_files import DATA_DIR

SERVICE_HTTP_PORTS = {"intake": 9101, "router": 9102, "sla": 9103, "notifier": 9104}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LAPOR_", extra="ignore")

    service_name: str = "lapor"

    # Kafka
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = (
        "PLAINTEXT"
    )
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: str | None = None
    kafka_ssl_certfile: str | None = None
    kafka_ssl_keyfile: str | None = None
    kafka_enable_idempotence: bool = False
    kafka_session_timeout_ms: int = Field(10000, gt=0)
    kafka_heartbeat_interval_ms: int = Field(3000, gt=0)
    # How long the group coordinator waits for members to rejoin during a rebalance
    # (aiokafka's default is max_poll_interval, 5 min: a restarted member could wait that
    # long for its partitions while the coordinator still counts the old one).
    kafka_rebalance_timeout_ms: int = Field(60000, gt=0)
    kafka_partitions: int = Field(6, ge=1)
    kafka_replication_factor: int = Field(1, ge=1)
    kafka_max_batch: int = Field(500, ge=1)
    # How long a fetch may wait for data: aiokafka's 500 ms default adds ~100 ms p50 per
    # hop on a quiet topic; a short wait keeps the pipeline's latency low.
    kafka_fetch_max_wait_ms: int = Field(50, ge=0)
    # Before a batch is handled, how long the consumer waits for what the broker has now
    # (shared/consumer.py, "take_what_arrived"); 0 turns it off.
    kafka_fetch_top_up_ms: int = Field(4, ge=0)
    # No lingering: a handler hands a batch's events to the producer in one go, so they
    # share a request anyway, and every millisecond waited is a millisecond per hop.
    kafka_linger_ms: int = Field(0, ge=0)
    # The most bytes the producer puts in one batch per partition. aiokafka's default,
    # 16 KiB, splits a batch of a few dozen events into several stored batches; 512 KiB
    # keeps a handler's events for one partition together and stays below the broker's
    # default message.max.bytes (1 MiB).
    kafka_max_batch_bytes: int = Field(512 * 1024, ge=1024)
    topic_prefix: str = ""

    # MongoDB: credentials belong in the URI only, and the URI is never logged.
    mongodb_uri: SecretStr = SecretStr("mongodb://127.0.0.1:27017")
    mongodb_database: str = "lapor"
    mongodb_timeout_ms: int = Field(2000, gt=0)

    # HTTP (metrics, health, public tracking)
    http_host: str = "0.0.0.0"
    http_port: int | None = None

    # The event loop: uvloop (libuv, in C) where installed, as `auto` picks it; `asyncio`
    # is the standard library's (4-7 % more of each service's CPU at full load).
    event_loop: Literal["auto", "uvloop", "asyncio"] = "auto"

    # Logging
    log_format: Literal["json", "console"] = "json"
    log_level: str = "INFO"

    # Intake: citizen secrets are derived (HMAC) from this key and the tracking id, so a
    # re-published acknowledgement carries the same secret while stores keep only its hash.
    citizen_secret_key: SecretStr = SecretStr("lapor-dev-only-citizen-secret-key")
    intake_rate_limit_per_hour: int = Field(10, ge=1)
    intake_duplicate_window_days: float = Field(7, gt=0)
    # The flood guard's window in memory holds every instance's marks of the last hour
    # (about 1 KB each); when full, the oldest are forgotten (their contacts count less).
    intake_flood_guard_max_marks: int = Field(500_000, ge=1)

    # Shipped data files
    categories_file: Path = DATA_DIR / "categories.yaml"
    agencies_file: Path = DATA_DIR / "agencies.yaml"
    routing_rules_file: Path = DATA_DIR / "routing_rules.yaml"
    sla_policy_file: Path = DATA_DIR / "sla_policy.yaml"
    sla_scan_interval_seconds: float = Field(5.0, gt=0)
    # How long the SLA watcher lets events gather before a batch (off the citizen's path;
    # deadlines are hours): a complaint's received and assigned events then mostly share a
    # batch, so its case document is inserted once instead of inserted and then replaced
    # (a replace costs the embedded database five times an insert). 0 takes each fetch as
    # it comes. See the README's benchmark for the A/B runs behind 1,000 ms.
    sla_batch_window_ms: int = Field(1000, ge=0)
    # The most records the SLA watcher takes per batch. Above what one window gathers, so a
    # batch takes everything fetched: a batch that leaves some partitions' records behind
    # puts those partitions out of step with the others in the next fetches, and a case's
    # received and assigned events then land in different batches for good.
    sla_max_batch: int = Field(5000, ge=1)
    # How long the SLA watcher may keep a new case back, with nothing but its
    # complaint.received, for a later batch that brings its assignment: the case is then
    # inserted once instead of inserted and then replaced (at full load the router runs a
    # second or two behind intake, and half of the cases came apart). The records are not
    # committed meanwhile, and a case none of whose marks could fall due before it is
    # written is the only one kept back. 0 writes every case at once.
    sla_hold_ms: int = Field(5000, ge=0)

    # Notifier
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_from: str = "LAPOR! <noreply@lapor.go.id>"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    smtp_timeout_seconds: float = Field(10.0, gt=0)
    # Messages in flight on one connection to a relay offering PIPELINING and CHUNKING
    # (several share a write; a connection that breaks fails them all, each sent again).
    smtp_messages_per_connection: int = Field(1, ge=1, le=1000)
    sms_gateway_url: str | None = None
    sms_gateway_token: SecretStr | None = None
    public_base_url: str = "https://lapor.kutaitimurkab.go.id"
    notify_max_attempts: int = Field(8, ge=1)
    notify_retry_base_seconds: float = Field(2.0, gt=0)
    notify_retry_max_seconds: float = Field(600.0, gt=0)
    notify_concurrency: int = Field(16, ge=1)
    # New notifications per channel queued in memory at insert (claimed there; one queued
    # past half its lease is given back to the ledger instead of being sent late).
    notify_handoff_depth: int = Field(5000, ge=1)
    notify_poll_seconds: float = Field(1.0, gt=0)
    # Reporter contacts kept in memory for a complaint's later events (0: always read them).
    notify_known_contacts: int = Field(20_000, ge=0)

    # Retry and dead-letter policy shared by every consumer
    retry_max_attempts: int = Field(5, ge=1)
    retry_backoff_seconds: float = Field(0.2, ge=0)
    retry_backoff_max_seconds: float = Field(5.0, ge=0)
    shutdown_timeout_seconds: float = Field(8.0, gt=0)

    @field_validator("log_level")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()

    @classmethod
    def for_service(cls, service: str, **overrides: object) -> Settings:
        settings = cls(service_name=service, **overrides)  # type: ignore[arg-type]
        if settings.http_port is None:
            settings.http_port = SERVICE_HTTP_PORTS.get(service, 9100)
        return settings

    @property
    def group_id(self) -> str:
        """One consumer group per service (and tenant)."""
        return f"{self.topic_prefix}lapor-{self.service_name}"
