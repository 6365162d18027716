"""Metrics every service exposes (per-service business metrics live in each service)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

MESSAGES_CONSUMED = Counter(
    "lapor_messages_consumed_total", "Messages taken from a topic and handled.",
    ["service", "topic"])
MESSAGES_DEAD_LETTERED = Counter(
    "lapor_messages_dead_lettered_total", "Messages sent to a dead-letter topic.",
    ["service", "topic", "error_type"])
HANDLER_RETRIES = Counter(
    "lapor_handler_retries_total", "Batches retried after a failure.",
    ["service", "topic", "kind"])
HANDLER_DURATION = Histogram(
    "lapor_handler_duration_seconds", "Time to handle one batch of messages.",
    ["service", "topic"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
EVENTS_PUBLISHED = Counter(
    "lapor_events_published_total", "Events published.", ["service", "topic"])
DEPENDENCY_UP = Gauge(
    "lapor_dependency_up", "1 while a dependency (broker, database) answers.",
    ["service", "dependency"])
SERVICE_READY = Gauge("lapor_service_ready", "1 while the service is ready.", ["service"])
CONSUMER_LAG = Gauge(
    "lapor_consumer_lag", "Messages behind the partition's high watermark after a batch.",
    ["service", "topic", "partition"])
CONSUMER_LEAD_WAITS = Counter(
    "lapor_consumer_lead_waits_total",
    "Partitions paused to let the lead topic's older records be handled first.",
    ["service", "topic"])
