"""Security settings reach every Kafka client; credentials never reach a log line."""

from __future__ import annotations

import io
import json
import ssl

import pytest
from faststream.security import SASLPlaintext, SASLScram256, SASLScram512

from shared.kafka import build_security, client_kwargs
from shared.logging import configure_logging, redact_text
from shared.settings import Settings


def settings(**values: object) -> Settings:
    return Settings(service_name="test", **values)  # type: ignore[arg-type]


def test_plaintext_by_default() -> None:
    assert build_security(settings()) is None
    assert client_kwargs(settings()) == {"bootstrap_servers": "127.0.0.1:9092"}


@pytest.mark.parametrize(("mechanism", "cls"), [
    ("PLAIN", SASLPlaintext), ("SCRAM-SHA-256", SASLScram256), ("SCRAM-SHA-512", SASLScram512)])
def test_sasl_mechanisms_reach_the_clients(mechanism: str, cls: type) -> None:
    config = settings(kafka_security_protocol="SASL_SSL", kafka_sasl_mechanism=mechanism,
                      kafka_sasl_username="lapor", kafka_sasl_password="s3cret")
    security = build_security(config)
    assert isinstance(security, cls) and security.use_ssl
    kwargs = client_kwargs(config)
    assert kwargs["security_protocol"] == "SASL_SSL"
    assert kwargs["sasl_mechanism"] == mechanism
    assert kwargs["sasl_plain_username"] == "lapor"
    assert kwargs["sasl_plain_password"] == "s3cret"
    assert isinstance(kwargs["ssl_context"], ssl.SSLContext)


def test_sasl_without_tls() -> None:
    kwargs = client_kwargs(settings(kafka_security_protocol="SASL_PLAINTEXT",
                                    kafka_sasl_mechanism="SCRAM-SHA-512",
                                    kafka_sasl_username="u", kafka_sasl_password="p"))
    assert kwargs["security_protocol"] == "SASL_PLAINTEXT"
    assert "ssl_context" not in kwargs


def test_tls_only() -> None:
    kwargs = client_kwargs(settings(kafka_security_protocol="SSL"))
    assert kwargs["security_protocol"] == "SSL"
    assert isinstance(kwargs["ssl_context"], ssl.SSLContext)


def test_database_credentials_are_secret_and_never_logged() -> None:
    uri = "mongodb://lapor:hunter2-very-secret@db-1,db-2/?replicaSet=rs0"
    config = settings(mongodb_uri=uri, kafka_sasl_password="kafka-pass-123")
    assert "hunter2" not in repr(config) and "hunter2" not in str(config.model_dump())
    stream = io.StringIO()
    log = configure_logging("test", "json", "INFO", stream=stream)
    log.info("connecting", uri=uri, settings=config.model_dump(), note=f"using {uri}")
    log.warning("failed", error=f"ServerSelectionTimeoutError: {uri} unreachable")
    text = stream.getvalue()
    assert text.count("\n") == 2
    assert "hunter2" not in text and "kafka-pass-123" not in text
    assert json.loads(text.splitlines()[0])["event"] == "connecting"


def test_contact_patterns_are_masked_in_free_text() -> None:
    text = ("hubungi 0812-3456-7890, +62 812 3456 7890, siti@example.id, "
            "NIK 6408041203900001, +447911123456")
    masked = redact_text(text)
    for leak in ("3456", "siti@", "6408041203900001", "447911123456"):
        assert leak not in masked


def test_lines_below_the_level_are_dropped_before_any_processing(monkeypatch) -> None:
    stream = io.StringIO()
    log = configure_logging("test", "json", "WARNING", stream=stream)
    seen: list[str] = []

    class Spy:
        def __repr__(self) -> str:  # redaction and rendering would touch the value
            seen.append("touched")
            return "spy"

    log.info("quiet", value=Spy(), items=[Spy()])
    log.warning("loud", code=7)
    lines = stream.getvalue().splitlines()
    assert [json.loads(line)["event"] for line in lines] == ["loud"]
    assert seen == []
