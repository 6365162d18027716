"""Fixtures shared by the integration and end-to-end suites: the real local servers.

The broker and database are started once per test session (LocalInfra); every test gets
its own topic prefix and database name, so tests never see each other's messages or
documents and no server restart is needed between them.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from pymongo import AsyncMongoClient, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from shared.devinfra import LocalInfra
from shared.devinfra.mailbox import Mailbox
from shared.mongo import database, ensure_indexes, make_client
from shared.settings import Settings
from tests.support.tenants import tenant_env_for


@pytest.fixture(scope="session")
def infra() -> Iterator[LocalInfra]:
    with LocalInfra() as servers:
        yield servers


@pytest.fixture
def tenant_env(infra: LocalInfra) -> dict[str, str]:
    """The `LAPOR_*` settings of an isolated tenant on the shared servers."""
    return tenant_env_for(infra)


@pytest.fixture
def settings_for(tenant_env: dict[str, str], monkeypatch: pytest.MonkeyPatch):
    """Settings for an in-process service of the test's tenant."""
    for key, value in tenant_env.items():
        monkeypatch.setenv(key, value)

    def make(service: str, **overrides: object) -> Settings:
        return Settings.for_service(service, **overrides)

    return make


@pytest.fixture
async def database_for(settings_for: Callable[..., Settings]
                       ) -> AsyncIterator[Callable[..., Awaitable[AsyncDatabase[Any]]]]:
    """A service's database of the test's tenant, with the given indexes made; dropped
    after the test."""
    opened: list[tuple[AsyncMongoClient[Any], str]] = []

    async def make(service: str, indexes: Mapping[str, Sequence[IndexModel]] | None = None
                   ) -> AsyncDatabase[Any]:
        settings = settings_for(service)
        client = make_client(settings)
        opened.append((client, settings.mongodb_database))
        db = database(client, settings)
        await ensure_indexes(db, indexes or {})
        return db

    yield make
    for client, name in opened:
        await client.drop_database(name)
        await client.close()


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
