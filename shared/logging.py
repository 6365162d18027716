"""Structured logging for every service: JSON or console, bound to service, event_id and
tracking_id, with redaction so reporter contact data and NIK never reach a log line.

Redaction works twice: by key (any field named like a contact, NIK, secret or credential is
replaced whole) and by value (e-mail addresses, Indonesian phone numbers, 16-digit NIKs and
MongoDB URIs with credentials inside any string are masked), so a contact that slips into an
exception message or a library's log line is caught too. Standard-library logging (aiokafka,
pymongo, FastStream, uvicorn) goes through the same processors.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping
from typing import Any

import structlog

REDACTED = "[redacted]"

SENSITIVE_KEYS = frozenset({
    "email", "phone", "name", "nik", "reporter", "citizen_secret", "secret", "password",
    "sasl_password", "smtp_password", "token", "authorization", "mongodb_uri", "uri",
    "to", "recipient_address", "contact", "contacts", "body", "text", "raw", "value",
})

_PATTERNS = (
    re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+"),  # e-mail addresses
    re.compile(r"mongodb(\+srv)?://[^\s'\"]+"),  # URIs may carry credentials
    re.compile(r"(?<!\d)\d{16}(?!\d)"),  # NIK
    re.compile(r"(?<![\w])(\+?62|0)[\s.-]?8\d{1,3}([\s.-]?\d{2,4}){2,3}(?!\d)"),  # mobiles
    re.compile(r"(?<![\w])\+\d{8,15}(?!\d)"),  # any E.164 number
)


def redact_text(text: str) -> str:
    for pattern in _PATTERNS:
        text = pattern.sub(REDACTED, text)
    return text


def _redact(value: Any, depth: int = 0) -> Any:
    if depth > 6:
        return REDACTED
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {k: (REDACTED if str(k).lower() in SENSITIVE_KEYS and v is not None
                    else _redact(v, depth + 1)) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_redact(v, depth + 1) for v in value]
    if isinstance(value, int | float | bool) or value is None:
        return value
    return redact_text(str(value))


def redact_processor(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    return {key: (REDACTED if key.lower() in SENSITIVE_KEYS and value is not None
                  else _redact(value)) for key, value in event_dict.items()}


def _flatten_faststream_extra(_logger: Any, _m: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """FastStream passes its context nested under `extra`; lift the useful bits."""
    extra = event_dict.pop("extra", None)
    if isinstance(extra, Mapping):
        for key in ("topic", "group_id", "message_id"):
            if key in extra and key not in event_dict:
                event_dict[key] = extra[key]
    return event_dict


def configure_logging(service: str, fmt: str = "json", level: str = "INFO",
                      stream: Any = None) -> structlog.stdlib.BoundLogger:
    """Configure structlog and stdlib logging once per process; returns the service logger."""
    shared_processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _flatten_faststream_extra,
        structlog.processors.format_exc_info,  # never dict_tracebacks: it dumps locals
        redact_processor,
    ]
    renderer: Any = (structlog.processors.JSONRenderer() if fmt == "json"
                     else structlog.dev.ConsoleRenderer(colors=False))
    structlog.configure(
        # The level check first: a line below the level costs no timestamp, no redaction.
        processors=[structlog.stdlib.filter_by_level, *shared_processors,
                    structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            *shared_processors[:-2],
            structlog.stdlib.ExtraAdder(),
            *shared_processors[-2:],
        ],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    ))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("aiokafka", "pymongo", "kafka"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(service=service)
    return structlog.get_logger(service)


def bind_event(event_id: str | None = None, tracking_id: str | None = None) -> None:
    """Bind the ids of the message being handled to every line logged while handling it."""
    structlog.contextvars.bind_contextvars(event_id=event_id, tracking_id=tracking_id)


def unbind_event() -> None:
    structlog.contextvars.unbind_contextvars("event_id", "tracking_id")
