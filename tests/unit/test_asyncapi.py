"""The committed AsyncAPI documents (docs/asyncapi/) are what the code generates, and they
show the topics CONTRACT.md section 1 gives each service, with the contract's models."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from shared.asyncapi import DOCS_DIR, SERVICES

ROOT = Path(__file__).resolve().parents[2]

# CONTRACT.md section 1: what each service consumes and produces.
CONSUMES = {
    "intake": {"complaints.submitted"},
    "router": {"complaints.received", "complaints.actions"},
    "sla": {"complaints.received", "complaints.status"},
    "notifier": {"complaints.received", "complaints.status", "complaints.sla"},
}
PRODUCES = {
    "intake": {"complaints.received": {"ComplaintReceived"},
               "complaints.rejected": {"SubmissionRejected"}},
    "router": {"complaints.routed": {"ComplaintRouted"},
               "complaints.triage": {"ComplaintNeedsTriage"},
               "complaints.status": {"ComplaintStatusChanged"},
               "complaints.actions.rejected": {"ActionRejected"}},
    "sla": {"complaints.sla": {"SlaWarning", "SlaBreached"}, "complaints.actions": {"Action"}},
    "notifier": {"notifications.events": {"NotificationSent", "NotificationFailed",
                                          "NotificationSkipped"}},
}
CONSUMED_MODELS = {"complaints.submitted": {"Submission"},
                   "complaints.received": {"ComplaintReceived"},
                   "complaints.actions": {"Action"},
                   "complaints.status": {"ComplaintStatusChanged"},
                   "complaints.sla": {"SlaWarning", "SlaBreached"}}


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Generate in a separate process: create_app() configures process-wide logging."""
    out = tmp_path_factory.mktemp("asyncapi")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAPOR_")}
    result = subprocess.run([sys.executable, "-m", "shared.asyncapi", "--out", str(out)],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return out


def committed(service: str) -> dict[str, Any]:
    return json.loads((DOCS_DIR / f"{service}.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("service", SERVICES)
def test_committed_document_matches_the_code(generated: Path, service: str) -> None:
    path = DOCS_DIR / f"{service}.json"
    assert path.exists(), f"{path} missing: run `python -m shared.asyncapi` (make asyncapi)"
    fresh = (generated / f"{service}.json").read_text(encoding="utf-8")
    assert path.read_text(encoding="utf-8") == fresh, (
        f"{path} no longer matches the code: run `python -m shared.asyncapi` (make asyncapi) "
        "and commit the result")


def payload_models(spec: dict[str, Any], channel: dict[str, Any]) -> set[str]:
    """The contract model names a channel's messages carry."""
    schemas = spec["components"]["schemas"]
    names: set[str] = set()
    for ref in channel["messages"].values():
        message = spec["components"]["messages"][ref["$ref"].rsplit("/", 1)[-1]]
        schema = schemas[message["payload"]["$ref"].rsplit("/", 1)[-1]]
        options = schema.get("anyOf") or schema.get("oneOf") or [{"title": schema["title"]}]
        for option in options:
            names.add(option["$ref"].rsplit("/", 1)[-1] if "$ref" in option
                      else option["title"])
    return names


@pytest.mark.parametrize("service", SERVICES)
def test_document_shows_the_contract_topics_and_models(service: str) -> None:
    spec = committed(service)
    assert spec["asyncapi"].startswith("3.")
    receive: dict[str, set[str]] = {}
    send: dict[str, set[str]] = {}
    for operation in spec["operations"].values():
        channel = spec["channels"][operation["channel"]["$ref"].rsplit("/", 1)[-1]]
        target = receive if operation["action"] == "receive" else send
        target[channel["address"]] = payload_models(spec, channel)
    assert set(receive) == CONSUMES[service]
    assert receive == {topic: CONSUMED_MODELS[topic] for topic in CONSUMES[service]}
    assert send == PRODUCES[service]


def test_every_event_carries_the_envelope() -> None:
    for service in SERVICES:
        spec = committed(service)
        for name, schema in spec["components"]["schemas"].items():
            if name in {"Submission", "Action"} or "properties" not in schema:
                continue
            if {"event_id", "event_type"} & set(schema["properties"]):
                assert {"event_id", "event_type", "schema_version", "occurred_at"} <= set(
                    schema["properties"]), (service, name)
