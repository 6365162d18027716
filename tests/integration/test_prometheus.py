"""A real Prometheus server scrapes the four services (as processes) while complaints flow,
and its HTTP API shows the business metrics with the right values. The shipped alert rules
are loaded too and must evaluate without errors against the real series."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.devinfra.launcher import free_port
from shared.devinfra.mailbox import Mailbox
from shared.devinfra.services import ServiceGroup, http_get
from tests.support.kafka import produce

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
PROMETHEUS = Path("/usr/bin/prometheus")
ROUTED = 3  # valid complaints for a rule of kutim-pupr
INVALID = 1


def prometheus_binary() -> Path:
    """The Debian package's server; installed here when missing and we may (CI runs `make
    test`, which installs it first)."""
    if PROMETHEUS.exists():
        return PROMETHEUS
    apt_get = shutil.which("apt-get")
    if os.geteuid() == 0 and apt_get:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run([apt_get, "update", "-qq"], check=False, env=env,
                       capture_output=True, timeout=300)
        subprocess.run([apt_get, "install", "-y", "-qq", "--no-install-recommends",
                        "prometheus"], check=False, env=env, capture_output=True, timeout=600)
    if not PROMETHEUS.exists():
        pytest.skip("/usr/bin/prometheus is absent and the Debian package `prometheus` "
                    "could not be installed (not root, or no apt-get)")
    return PROMETHEUS


class Prometheus:
    """A Prometheus server on a free port, storage in a temporary directory."""

    def __init__(self, binary: Path, workdir: Path, targets: dict[str, int]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        workdir.mkdir(parents=True, exist_ok=True)
        shutil.copy(ALERTS, workdir / "alerts.yml")
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": ["alerts.yml"],
            "scrape_configs": [
                {"job_name": f"lapor-{name}", "static_configs": [
                    {"targets": [f"127.0.0.1:{port}"]}]}
                for name, port in targets.items()],
        }
        (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.log_path = workdir / "prometheus.log"
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(  # noqa: S603
                [str(binary), f"--config.file={workdir / 'prometheus.yml'}",
                 f"--storage.tsdb.path={workdir / 'data'}",
                 f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True)

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"prometheus exited: {self.log_path.read_text()[-2000:]}")
            try:
                if http_get(f"{self.url}/-/ready", timeout=1.0)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("prometheus not ready")

    def api(self, path: str, **params: str) -> Any:
        query = urllib.parse.urlencode(params)
        status, body = http_get(f"{self.url}/api/v1/{path}?{query}", timeout=5.0)
        payload = json.loads(body)
        assert status == 200 and payload["status"] == "success", payload
        return payload["data"]

    def value(self, expr: str) -> float | None:
        """The value of a query that yields one sample (e.g. `sum(...)`), None if none."""
        result = self.api("query", query=expr)["result"]
        return float(result[0]["value"][1]) if result else None

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)


async def eventually(prometheus: Prometheus, expr: str, expected: float,
                     timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    seen = None
    while time.monotonic() < deadline:
        seen = prometheus.value(expr)
        if seen == expected:
            return
        await asyncio.sleep(0.5)
    raise AssertionError(f"{expr}: expected {expected}, Prometheus says {seen}")


def roads_complaint(n: int) -> dict[str, object]:
    return {
        "channel": "web",
        "channel_ref": f"web-prom-{uuid.uuid4()}",
        "submitted_at": datetime.now(UTC).isoformat(),
        "title": f"Jalan rusak nomor {n}",
        "body": "Jalan poros Sangatta–Bengalon berlubang dalam dan tergenang air, "
                "membahayakan pengendara motor.",
        "category": "infrastructure.roads",
        "region_code": "64.08.04",
        "reporter": {"name": "Warga", "email": f"warga{n}.{uuid.uuid4().hex[:6]}@example.id",
                     "language": "id"},
    }


@pytest.fixture
def monitored(tenant_env: dict[str, str], mailbox: Mailbox, logdir: Path,
              tmp_path: Path) -> Iterator[tuple[dict[str, str], ServiceGroup, Prometheus]]:
    binary = prometheus_binary()
    env = {**tenant_env, **mailbox.env, "LAPOR_ROUTER_METRICS_INTERVAL_SECONDS": "0.5"}
    with ServiceGroup(env, logdir) as services:
        prometheus = Prometheus(binary, tmp_path / "prometheus",
                                {name: services[name].port for name in services.names})
        try:
            prometheus.wait_ready()
            yield env, services, prometheus
        finally:
            prometheus.stop()


async def test_prometheus_scrapes_the_business_metrics_of_a_flow(monitored) -> None:
    env, services, prometheus = monitored
    prefix = env["LAPOR_TOPIC_PREFIX"]
    submissions = [roads_complaint(n) for n in range(ROUTED)]
    invalid = {"channel": "sms", "channel_ref": f"sms-{uuid.uuid4()}",
               "submitted_at": datetime.now(UTC).isoformat(), "body": "terlalu"}
    await produce(env["LAPOR_KAFKA_BOOTSTRAP_SERVERS"], prefix + "complaints.submitted",
                  [(f"{s['channel']}:{s['channel_ref']}".encode(), json.dumps(s).encode())
                   for s in [*submissions, invalid]],
                  headers=[("content-type", b"application/json")])

    await eventually(prometheus, 'count(up{job=~"lapor-.+"} == 1)', 4)
    await eventually(prometheus, "sum(lapor_intake_submissions_total)", ROUTED + INVALID)
    await eventually(prometheus, 'sum(lapor_intake_submissions_total{channel="sms"})', INVALID)
    await eventually(prometheus, "sum(lapor_intake_rejections_total) > 0", 1)  # its errors
    await eventually(prometheus, "sum(lapor_intake_complaints_accepted_total)", ROUTED)
    await eventually(prometheus, 'sum(lapor_intake_complaints_accepted_total{channel="web"})',
                     ROUTED)
    await eventually(prometheus, 'sum(lapor_router_routed_total{agency_id="kutim-pupr"})',
                     ROUTED)
    await eventually(prometheus, "sum(lapor_router_routed_total)", ROUTED)
    await eventually(prometheus, 'max(lapor_router_cases{status="assigned"})', ROUTED)
    await eventually(prometheus, "max(lapor_router_triage_backlog)", 0)
    await eventually(prometheus, 'sum(lapor_events_published_total{service="intake"})',
                     ROUTED + INVALID)
    await eventually(prometheus,
                     f'sum(lapor_messages_consumed_total{{service="sla", '
                     f'topic="{prefix}complaints.received"}})', ROUTED)
    await eventually(prometheus, "sum(lapor_messages_dead_lettered_total) or vector(0)", 0)
    # Every citizen gets an acknowledgement e-mail, then one when the case is assigned.
    await eventually(prometheus, 'sum(lapor_notifier_sent_total{channel="email", '
                     'template="acknowledgement"})', ROUTED)
    await eventually(prometheus, 'sum(lapor_notifier_sent_total{template="assigned"})', ROUTED)
    assert prometheus.value("sum(lapor_notifier_failed_total) or vector(0)") == 0
    await eventually(prometheus, "count(lapor_service_ready == 1)", 4)
    await eventually(prometheus, "count(lapor_dependency_up == 1)", 8)  # broker, database

    # Metrics the services add over time: checked as soon as a service exposes them.
    exposed = {name: services[name].metrics() for name in services.names}
    if "lapor_router_routing_latency_seconds" in exposed["router"]:
        await eventually(prometheus, "sum(lapor_router_routing_latency_seconds_count)", ROUTED)
    if "lapor_notifier_acknowledgement_latency_seconds" in exposed["notifier"]:
        await eventually(prometheus,
                         "sum(lapor_notifier_acknowledgement_latency_seconds_count)", ROUTED)
    if "lapor_router_open_cases_by_agency" in exposed["router"]:
        await eventually(prometheus,
                         'max(lapor_router_open_cases_by_agency{agency_id="kutim-pupr"})',
                         ROUTED)
    if "lapor_consumer_lag" in exposed["router"]:
        await eventually(prometheus,
                         f'sum(lapor_consumer_lag{{service="router", '
                         f'topic="{prefix}complaints.received"}})', 0)

    # The shipped rules load and evaluate without errors against the real series.
    groups = prometheus.api("rules")["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    assert len(rules) >= 10
    deadline = time.monotonic() + 10
    while any(r.get("health") != "ok" for r in rules) and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        rules = [r for g in prometheus.api("rules")["groups"] for r in g["rules"]]
    assert [(r["name"], r.get("lastError")) for r in rules if r.get("health") != "ok"] == []
    firing = {a["labels"]["alertname"] for a in prometheus.api("alerts")["alerts"]
              if a["state"] == "firing"}
    assert not firing & {"LaporServiceDown", "LaporServiceMissing", "LaporDeadLetterQueueGrowing"}
