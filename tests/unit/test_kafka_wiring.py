"""How the services' Kafka producer is configured."""

import json

from shared.kafka import make_broker
from shared.settings import Settings


def producer_config(**overrides: object) -> dict:
    broker = make_broker(Settings.for_service("intake", **overrides))
    return broker._connection_kwargs  # what FastStream hands to AIOKafkaProducer


def test_a_handlers_events_fit_one_batch_per_partition() -> None:
    # aiokafka's own default (16 KiB) would split a batch of complaint events into several
    # stored batches; the broker stores and lists each one (docs/benchmark-history.md,
    # "Ninth round").
    config = producer_config()
    event = json.dumps({"description": "x" * 1200}).encode()  # about a complaint.received
    assert config["max_batch_size"] >= 300 * len(event)
    # ...and a batch still fits the broker's default message.max.bytes (1 MiB).
    assert config["max_batch_size"] <= 1024 * 1024
    assert config["linger_ms"] == 0


def test_the_batch_size_is_a_setting() -> None:
    assert producer_config(kafka_max_batch_bytes=64 * 1024)["max_batch_size"] == 64 * 1024
