"""Fixtures shared by the integration and end-to-end suites: the real local servers.

The broker and database are started once per test session (LocalInfra); every test gets
its own topic prefix and database name, so tests never see each other's messages or
documents and no server restart is needed between them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.devinfra import LocalInfra
from shared.devinfra.mailbox import Mailbox
from shared.settings import Settings


@pytest.fixture(scope="session")
def infra() -> Iterator[LocalInfra]:
    with LocalInfra() as servers:
        yield servers


@pytest.fixture
def tenant_env(infra: LocalInfra) -> dict[str, str]:
    """The `LAPOR_*` settings of an isolated tenant on the shared servers."""
    tenant = uuid.uuid4().hex[:10]
    return {
        **infra.env,
        "LAPOR_TOPIC_PREFIX": f"t{tenant}.",
        "LAPOR_MONGODB_DATABASE": f"lapor_{tenant}",
        "LAPOR_KAFKA_PARTITIONS": "3",
        "LAPOR_LOG_FORMAT": "json",
        "LAPOR_LOG_LEVEL": "INFO",
        "LAPOR_RETRY_BACKOFF_SECONDS": "0.05",
    }


@pytest.fixture
def settings_for(tenant_env: dict[str, str], monkeypatch: pytest.MonkeyPatch):
    """Settings for an in-process service of the test's tenant."""
    for key, value in tenant_env.items():
        monkeypatch.setenv(key, value)

    def make(service: str, **overrides: object) -> Settings:
        return Settings.for_service(service, **overrides)

    return make


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    with Mailbox() as box:
        yield box


@pytest.fixture
def logdir(tmp_path: Path) -> Path:
    path = tmp_path / "logs"
    path.mkdir()
    return path


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        path = str(item.fspath)
        if f"{os.sep}integration{os.sep}" in path:
            item.add_marker(pytest.mark.integration)
        elif f"{os.sep}e2e{os.sep}" in path:
            item.add_marker(pytest.mark.e2e)
