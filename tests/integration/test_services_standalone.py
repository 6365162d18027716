"""Each service started alone with `python -m services.<name>` against env-configured
servers answers /health/live, /health/ready and /metrics."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from shared.devinfra.services import SERVICES, ServiceProcess, http_get

SERVICE_METRIC = {
    "intake": "lapor_intake_submissions_total",
    "router": "lapor_router_routed_total",
    "sla": "lapor_sla_emission_lateness_seconds",
    "notifier": "lapor_notifier_delivery_latency_seconds",
}


@pytest.mark.parametrize("name", SERVICES)
def test_service_alone_is_ready_and_exposes_metrics(name: str, tenant_env: dict[str, str],
                                                    tmp_path: Path) -> None:
    service = ServiceProcess(name, tenant_env, tmp_path / f"{name}.log")
    service.start()
    try:
        service.wait_ready(60)
        live, _ = http_get(f"{service.url}/health/live")
        assert live == 200
        status, body = service.get_json("/health/ready")
        assert status == 200
        assert body == {"ready": True, "started": True, "broker": True, "database": True}
        metrics = service.metrics()
        assert SERVICE_METRIC[name] in metrics
        assert f'lapor_dependency_up{{dependency="database",service="{name}"}} 1.0' in metrics
        missing, _ = http_get(f"{service.url}/no-such-path")
        assert missing == 404
    finally:
        assert service.stop() == 0, service.tail()


def test_a_service_whose_port_was_taken_starts_again_on_another(
        tenant_env: dict[str, str], tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        service = ServiceProcess("intake", tenant_env, tmp_path / "intake.log", port=taken)
        service.start()
        try:
            service.wait_ready(60)
            assert service.port != taken
            assert http_get(f"{service.url}/health/live")[0] == 200
            assert service.log_path.read_text().count("address already in use") == 1
        finally:
            assert service.stop() == 0, service.tail()
