"""`lapor` against the real broker and services: topics, submit, track, dead letters."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.cli import main
from shared.devinfra.services import ServiceProcess
from tests.support.kafka import produce_sync


@pytest.fixture
def cli_env(tenant_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for key, value in tenant_env.items():
        monkeypatch.setenv(key, value)
    return tenant_env


@pytest.fixture
def pipeline(cli_env: dict[str, str], tmp_path: Path) -> Iterator[dict[str, ServiceProcess]]:
    services = {name: ServiceProcess(name, cli_env, tmp_path / f"{name}.log")
                for name in ("intake", "router")}
    for service in services.values():
        service.start()
    try:
        for service in services.values():
            service.wait_ready(60)
        yield services
    finally:
        for service in services.values():
            service.stop()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


def test_topics_create_is_idempotent(cli_env: dict[str, str],
                                     capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(capsys, "topics", "create")
    assert code == 0 and "created 15 topic(s)" in out
    code, out = run(capsys, "topics", "create")
    assert code == 0 and "created 0 topic(s): none missing" in out


def test_submit_track_and_dead_letters(pipeline: dict[str, ServiceProcess],
                                       cli_env: dict[str, str],
                                       capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(capsys, "submit", "--channel", "call_center", "--ref", "cc-0001",
                    "--body", "Lampu jalan di depan SDN 001 Sangatta Utara padam dua minggu.",
                    "--category", "infrastructure.street_lighting", "--region", "64.08.04",
                    "--phone", "0812-3456-7890")
    assert (code, out.strip()) == (0, "submitted call_center:cc-0001")

    router = pipeline["router"]
    tracking_id = None
    for _ in range(300):
        status, body = router.get_json("/v1/complaints/does-not-exist")
        assert status == 404
        cases = _tracking_ids(cli_env)
        if cases:
            tracking_id = cases[0]
            break
    assert tracking_id, "the complaint never reached the router"
    code, out = run(capsys, "track", tracking_id, "--url", router.url)
    assert code == 0
    assert re.match(rf"{tracking_id}  assigned  Kecamatan Sangatta Utara", out)
    code, out = run(capsys, "track", "ZZZZ-ZZZZ-Z", "--url", router.url)
    assert code == 1

    prefix = cli_env["LAPOR_TOPIC_PREFIX"]
    produce_sync(cli_env["LAPOR_KAFKA_BOOTSTRAP_SERVERS"], prefix + "complaints.submitted",
                 [(b"sms:broken", b"{not json")])
    dlq_topic = prefix + "complaints.submitted.dlq"
    for _ in range(100):
        code, out = run(capsys, "dlq", "list", dlq_topic)
        if "1 dead letter(s)" in out:
            break
    assert "1 dead letter(s)" in out and "not_json_object" in out
    partition, offset = re.search(r"p(\d+)@(\d+)", out).groups()  # type: ignore[union-attr]
    code, out = run(capsys, "dlq", "show", dlq_topic, partition, offset)
    assert code == 0 and '"lapor-service": "intake"' in out and "{not json" in out

    code, out = run(capsys, "dlq", "replay", dlq_topic, "--all")
    first = f"{dlq_topic}[{partition}]@{offset}"
    assert code == 0 and out.strip() == f"replayed {first} -> {prefix}complaints.submitted"
    for _ in range(100):  # the replayed bytes are still not JSON: dead-lettered again
        code, out = run(capsys, "dlq", "list", dlq_topic)
        if "2 dead letter(s)" in out:
            break
    assert "2 dead letter(s)" in out
    # The replay group remembers: only the new dead letter is replayed, never the first.
    code, out = run(capsys, "dlq", "replay", dlq_topic, "--all")
    assert code == 0 and out.count("replayed ") == 1 and first not in out

def _tracking_ids(env: dict[str, str]) -> list[str]:
    from pymongo import MongoClient

    with MongoClient(env["LAPOR_MONGODB_URI"]) as client:
        return [doc["_id"] for doc in client[env["LAPOR_MONGODB_DATABASE"]]["cases"].find()]
