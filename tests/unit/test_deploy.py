"""Deployment material (deploy/) checked without a container engine or a cluster: every file
parses, every LAPOR_* variable is a real setting, ports and probes follow CONTRACT.md
section 7 (9101-9104, /health/live, /health/ready), and the alerts and the dashboard only
use metrics the services export."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import SecretStr

from shared.settings import SERVICE_HTTP_PORTS, Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
COMPOSE = DEPLOY / "compose" / "compose.yaml"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "lapor-operations.json"
ALERTS = DEPLOY / "prometheus" / "alerts.yml"
SERVICES = tuple(SERVICE_HTTP_PORTS)
SETTINGS_VARS = {f"LAPOR_{name.upper()}" for name in Settings.model_fields}
SECRET_VARS = {f"LAPOR_{name.upper()}" for name, field in Settings.model_fields.items()
               if SecretStr in (getattr(field.annotation, "__args__", None)
                                or (field.annotation,))}
# Announced metrics the services will export (names fixed in issue #8); remove a name from
# here once it is defined in shared/metrics.py or services/*/metrics.py.
ANNOUNCED_METRICS: set[str] = set()
TEXT_SUFFIXES = {".yml", ".yaml", ".json", ".js", ".example", ".dockerignore", ""}


def deploy_files() -> list[Path]:
    return sorted(p for p in DEPLOY.rglob("*") if p.is_file())


Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@cache
def yaml_docs(path: Path) -> list[Any]:
    return [doc for doc in yaml.load_all(path.read_text(encoding="utf-8"), Loader=Loader)
            if doc]


@cache
def k8s_objects() -> list[dict[str, Any]]:
    return [doc for path in sorted(K8S.glob("*.yaml")) for doc in yaml_docs(path)]


def by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in k8s_objects() if o["kind"] == kind}


def compose() -> dict[str, Any]:
    [doc] = yaml_docs(COMPOSE)
    return doc  # type: ignore[no-any-return]


# -- every file parses -------------------------------------------------------------------
def test_every_deploy_file_parses() -> None:
    files = deploy_files()
    assert files
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert text.strip(), path
        if path.suffix in (".yml", ".yaml"):
            assert yaml_docs(path), path
        elif path.suffix == ".json":
            json.loads(text)
        elif path.name == "Dockerfile":
            assert re.search(r"^FROM ", text, re.M) and re.search(r"^CMD ", text, re.M)
        else:
            assert path.suffix in TEXT_SUFFIXES, f"no parse rule for {path}"


def test_every_lapor_variable_is_a_setting() -> None:
    unknown = {}
    for path in deploy_files():
        for name in re.findall(r"\bLAPOR_[A-Z0-9_]+\b", path.read_text(encoding="utf-8")):
            if name not in SETTINGS_VARS:
                unknown.setdefault(name, []).append(str(path.relative_to(ROOT)))
    assert unknown == {}, "LAPOR_* variables that are no shared.settings.Settings field"


def test_secret_settings_only_come_from_secrets() -> None:
    assert {"LAPOR_MONGODB_URI", "LAPOR_CITIZEN_SECRET_KEY"} <= SECRET_VARS
    config = by_kind("ConfigMap")["lapor-config"]["data"]
    assert not SECRET_VARS & set(config)
    for name in SERVICES:
        env = compose()["services"][name]["environment"]
        for key in SECRET_VARS & set(env):
            assert "${" in env[key], f"compose {name}: {key} must come from .env"


# -- Kubernetes ----------------------------------------------------------------------------
def pod_labels(deployment: dict[str, Any]) -> dict[str, str]:
    return deployment["spec"]["template"]["metadata"]["labels"]


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


@pytest.mark.parametrize("name", SERVICES)
def test_k8s_deployment_ports_and_probes_follow_the_contract(name: str) -> None:
    port = SERVICE_HTTP_PORTS[name]
    deployment = by_kind("Deployment")[name]
    c = container(deployment)
    assert c["command"] == ["python", "-m", f"services.{name}"]
    assert [p["containerPort"] for p in c["ports"]] == [port]
    named = {p.get("name") for p in c["ports"]}
    env = {e["name"]: e for e in c["env"]}
    assert env["LAPOR_HTTP_PORT"]["value"] == str(port)
    for probe, path in (("livenessProbe", "/health/live"), ("readinessProbe", "/health/ready")):
        get = c[probe]["httpGet"]
        assert get["path"] == path, (name, probe)
        assert get["port"] == port or get["port"] in named, (name, probe)
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(port)
    assert annotations["prometheus.io/path"] == "/metrics"
    assert {"configMapRef": {"name": "lapor-config"}} in c["envFrom"]

    service = by_kind("Service")[name]
    assert matches(service["spec"]["selector"], pod_labels(deployment))
    [service_port] = service["spec"]["ports"]
    assert service_port["port"] == port
    assert service_port["targetPort"] in (port, *named)

    pdb = by_kind("PodDisruptionBudget")[name]
    assert matches(pdb["spec"]["selector"]["matchLabels"], pod_labels(deployment))
    assert matches(deployment["spec"]["selector"]["matchLabels"], pod_labels(deployment))


def test_k8s_secret_references_are_documented() -> None:
    secrets = {}
    for doc in yaml_docs(K8S / "secret.example.yaml"):
        secrets[doc["metadata"]["name"]] = set(doc["stringData"])
    for deployment in by_kind("Deployment").values():
        c = container(deployment)
        for e in c["env"]:
            ref = e.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                assert ref["key"] in secrets[ref["name"]], ref
                assert e["name"] == ref["key"]
        for volume in deployment["spec"]["template"]["spec"].get("volumes", []):
            if "secret" in volume:
                assert volume["secret"]["secretName"] in secrets


def test_k8s_autoscaling_stays_within_the_partitions() -> None:
    partitions = int(by_kind("ConfigMap")["lapor-config"]["data"]["LAPOR_KAFKA_PARTITIONS"])
    hpas = by_kind("HorizontalPodAutoscaler")
    deployments = by_kind("Deployment")
    assert hpas
    for name, hpa in hpas.items():
        target = hpa["spec"]["scaleTargetRef"]
        assert target["kind"] == "Deployment" and target["name"] in deployments, name
        assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"] <= partitions
    for deployment in deployments.values():
        assert deployment["spec"]["replicas"] <= partitions


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    resources = kustomization["resources"]
    for resource in resources:
        assert (K8S / resource).exists(), resource
    manifests = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml",
                                                         "secret.example.yaml"}
    assert set(resources) == manifests
    images = {image["name"] for image in kustomization["images"]}
    for deployment in by_kind("Deployment").values():
        assert container(deployment)["image"] in images


def test_kustomize_builds() -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl not installed: kustomize build not checked")
    result = subprocess.run([kubectl, "kustomize", str(K8S)], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    kinds = [doc["kind"] for doc in yaml.safe_load_all(result.stdout) if doc]
    assert kinds.count("Deployment") == 4 and kinds.count("PodDisruptionBudget") == 4
    assert all(doc["metadata"].get("namespace", "lapor") == "lapor"
               for doc in yaml.safe_load_all(result.stdout) if doc)


# -- compose -------------------------------------------------------------------------------
@pytest.mark.parametrize("name", SERVICES)
def test_compose_service_follows_the_contract(name: str) -> None:
    port = SERVICE_HTTP_PORTS[name]
    service = compose()["services"][name]
    assert service["command"] == ["python", "-m", f"services.{name}"]
    build = service["build"]
    assert (COMPOSE.parent / build["context"] / build["dockerfile"]).resolve() == (
        DEPLOY / "Dockerfile")
    assert service["environment"]["LAPOR_HTTP_PORT"] == str(port)
    assert str(port) in service["expose"]
    assert "/health/ready" in " ".join(service["healthcheck"]["test"])
    assert {"kafka-1", "mongo-init"} <= set(service["depends_on"])


def test_compose_has_the_whole_production_stack() -> None:
    services = compose()["services"]
    assert {"kafka-1", "kafka-2", "kafka-3", "mongo-1", "mongo-2", "mongo-3", "mongo-init",
            "prometheus", "grafana", "mailpit", *SERVICES} <= set(services)
    kafka = services["kafka-1"]["environment"]
    assert kafka["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft, no ZooKeeper
    assert "--replSet" in services["mongo-1"]["command"]
    images = {services[name].get("image") for name in SERVICES}
    assert len(images) == 1  # one image for the four services
    for name in ("prometheus", "grafana", "mongo-init"):
        for volume in services[name].get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                assert (COMPOSE.parent / source).exists(), (name, source)
    mount = next(v for v in services["grafana"]["volumes"] if "dashboards" in v)
    provider = yaml.safe_load((DEPLOY / "grafana/provisioning/dashboards/lapor.yml").read_text())
    assert mount.split(":")[1] == provider["providers"][0]["options"]["path"]
    env = {**services["notifier"]["environment"]}
    assert env["LAPOR_SMTP_HOST"] == "mailpit"


def test_dockerfile_serves_every_port() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    exposed = {int(p) for line in re.findall(r"^EXPOSE (.+)$", text, re.M)
               for p in line.split()}
    assert exposed == set(SERVICE_HTTP_PORTS.values())
    assert "python:3.11" in text


# -- Prometheus, alerts, Grafana -------------------------------------------------------------
def test_prometheus_scrapes_the_four_services_on_their_ports() -> None:
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    for name, port in SERVICE_HTTP_PORTS.items():
        job = jobs[f"lapor-{name}"]
        assert job.get("metrics_path", "/metrics") == "/metrics"
        ports = [sd["port"] for sd in job.get("dns_sd_configs", [])]
        ports += [int(t.rsplit(":", 1)[1]) for sc in job.get("static_configs", [])
                  for t in sc["targets"]]
        assert ports and set(ports) == {port}, name
    assert (DEPLOY / "prometheus" / config["rule_files"][0]).exists()


def exported_metrics() -> set[str]:
    sources = [ROOT / "shared" / "metrics.py", *sorted(ROOT.glob("services/*/metrics.py"))]
    names = {n for p in sources for n in re.findall(r'"(lapor_[a-z0-9_]+)"', p.read_text())}
    names |= ANNOUNCED_METRICS
    series = set(names)
    for name in names:
        series |= {f"{name}_bucket", f"{name}_count", f"{name}_sum"}
    return series


def dashboard_exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]


def alert_exprs() -> list[str]:
    rules = yaml.safe_load(ALERTS.read_text())
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


def metric_names(expr: str) -> set[str]:
    return set(re.findall(r"(?<![:\w])lapor_[a-z0-9_]+(?![:\w])", expr))


def test_alerts_and_dashboard_use_only_exported_metrics() -> None:
    exported = exported_metrics()
    used = {n for expr in [*alert_exprs(), *dashboard_exprs()] for n in metric_names(expr)}
    assert used - exported == set()
    # the issue's must-haves are on the dashboard
    on_dashboard = {n for expr in dashboard_exprs() for n in metric_names(expr)}
    assert {"lapor_consumer_lag", "lapor_router_routing_latency_seconds_bucket",
            "lapor_notifier_acknowledgement_latency_seconds_bucket", "lapor_router_cases",
            "lapor_router_open_cases_by_agency", "lapor_router_triage_backlog",
            "lapor_sla_breaches_total", "lapor_router_resolved_total",
            "lapor_notifier_sent_total", "lapor_notifier_failed_total",
            "lapor_messages_dead_lettered_total"} <= on_dashboard
    alerts = {rule.get("alert") for group in yaml.safe_load(ALERTS.read_text())["groups"]
              for rule in group["rules"]}
    assert {"LaporServiceDown", "LaporConsumerLagGrowing", "LaporDeadLetterQueueGrowing",
            "LaporTriageBacklogHigh", "LaporSlaBreachRateHigh",
            "LaporNotificationFailureRateHigh"} <= alerts


def test_dashboard_is_provisioned_against_the_provisioned_datasource() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    datasources = yaml.safe_load(
        (DEPLOY / "grafana/provisioning/datasources/prometheus.yml").read_text())["datasources"]
    [variable] = [v for v in dashboard["templating"]["list"] if v["type"] == "datasource"]
    assert variable["current"]["value"] == datasources[0]["uid"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        for target in panel.get("targets", []):
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]


def test_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (`make test` installs it)")
    rules = [{"record": f"lapor:dashboard_query:{i}",
              "expr": expr.replace("$__rate_interval", "1m").replace("$__range", "1d")}
             for i, expr in enumerate(dashboard_exprs())]
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_readme_catalogues_every_metric() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    if "## Metrics" not in readme:
        pytest.skip("README.md has no Metrics section yet")
    names = {n for n in exported_metrics() if not n.endswith(("_bucket", "_count", "_sum"))}
    assert {n for n in names if f"`{n}`" not in readme} == set()
