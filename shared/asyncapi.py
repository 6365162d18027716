"""The AsyncAPI 3.0 document of each service, generated from the code (FastStream).

    python -m shared.asyncapi            write docs/asyncapi/<service>.json
    python -m shared.asyncapi --check    exit 1 when a committed document is stale
    python -m shared.asyncapi --out DIR  write somewhere else

Subscribers and declared publishers (`ServiceRuntime.declare_publisher`) come from each
service's `create_app()`, which connects to nothing. The documents use the default
settings whatever the environment says, so they never depend on the machine. Consumers
take raw batches (FastStream would call the payload "array of binary"); the wire message
is one JSON object, so each consumed channel gets its contract model here.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path
from typing import Any, Union

from pydantic import BaseModel, TypeAdapter
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from shared import topics
from shared.contract import (
    Action,
    ComplaintReceived,
    ComplaintStatusChanged,
    SlaBreached,
    SlaWarning,
    Submission,
)
from shared.settings import SERVICE_HTTP_PORTS, Settings

SERVICES = tuple(SERVICE_HTTP_PORTS)
DOCS_DIR = Path(__file__).resolve().parents[1] / "docs" / "asyncapi"
REF = "#/components/schemas/{model}"

# What one message on each consumed topic is (CONTRACT.md section 2).
CONSUMED: dict[str, tuple[type[BaseModel], ...]] = {
    topics.SUBMITTED: (Submission,),
    topics.RECEIVED: (ComplaintReceived,),
    topics.ACTIONS: (Action,),
    topics.STATUS: (ComplaintStatusChanged,),
    topics.SLA: (SlaWarning, SlaBreached),
}


class DefaultSettings(Settings):
    """Settings from their defaults only: no environment, no .env file."""

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings],
                                   init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource,
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def _consumed_payloads(spec: dict[str, Any]) -> None:
    """Replace the raw-batch payload of every receive operation by the contract model."""
    components = spec.setdefault("components", {})
    schemas: dict[str, Any] = components.setdefault("schemas", {})
    for operation in spec.get("operations", {}).values():
        if operation["action"] != "receive":
            continue
        channel = spec["channels"][operation["channel"]["$ref"].rsplit("/", 1)[-1]]
        address = channel["address"]
        models = CONSUMED.get(address)
        if models is None:
            raise KeyError(f"no contract model for consumed topic {address!r}: add it to "
                           "shared.asyncapi.CONSUMED")
        payload: Any = models[0] if len(models) == 1 else Union[models]  # noqa: UP007
        adapter: TypeAdapter[Any] = TypeAdapter(payload)
        schema = adapter.json_schema(ref_template=REF)
        for name, definition in schema.pop("$defs", {}).items():
            if schemas.setdefault(name, definition) != definition:
                raise ValueError(f"two different schemas named {name!r}")
        for ref in channel["messages"].values():
            message = components["messages"][ref["$ref"].rsplit("/", 1)[-1]]
            old = message["payload"]["$ref"].rsplit("/", 1)[-1]
            schemas.pop(old, None)
            if len(models) == 1:
                schemas[models[0].__name__] = schema
                message["payload"] = {"$ref": REF.format(model=models[0].__name__)}
            else:
                schemas[old] = {**schema, "title": old}


def specification(service: str) -> dict[str, Any]:
    """The AsyncAPI document of one service, as a JSON-ready dict."""
    app_module = importlib.import_module(f"services.{service}.app")
    runtime, _ = app_module.create_app(DefaultSettings.for_service(service))
    spec: dict[str, Any] = json.loads(runtime.faststream_app.schema.to_specification().to_json())
    _consumed_payloads(spec)
    # FastStream keeps publishers in a set: sort, so the document does not depend on hashing.
    for mapping in (spec, spec.get("components", {})):
        for key in ("channels", "operations", "messages", "schemas"):
            if key in mapping:
                mapping[key] = dict(sorted(mapping[key].items()))
    return spec


def render(service: str) -> str:
    return json.dumps(specification(service), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.asyncapi", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=DOCS_DIR)
    parser.add_argument("--check", action="store_true",
                        help="compare with the files in --out instead of writing them")
    args = parser.parse_args(argv)
    stale = []
    for service in SERVICES:
        path = args.out / f"{service}.json"
        text = render(service)
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(str(path))
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}", file=sys.stderr)
    if stale:
        print("stale AsyncAPI documents (run `python -m shared.asyncapi`): "
              + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
