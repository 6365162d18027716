"""One real router process per test module (`python -m services.router`) on the session's
real broker and database, in a tenant of its own (topic prefix, database)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from shared.devinfra import LocalInfra
from shared.devinfra.services import ServiceProcess
from tests.integration.router.driver import Lapor
from tests.support.tenants import tenant_env_for


@pytest.fixture(scope="module")
def router_env(infra: LocalInfra) -> dict[str, str]:
    """A tenant of its own for the module (tenant_env is per test; the router is not)."""
    return tenant_env_for(infra)


@pytest.fixture(scope="module")
def router(router_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[ServiceProcess]:
    log_path = tmp_path_factory.mktemp("router-logs") / "router.log"
    with ServiceProcess("router", router_env, log_path) as process:
        yield process


@pytest.fixture(scope="module")
async def lapor(router_env: dict[str, str], router: ServiceProcess) -> AsyncIterator[Lapor]:
    driver = await Lapor(router_env, router).start()
    try:
        yield driver
    finally:
        await driver.stop()
