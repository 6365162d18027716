"""A bad agencies or routing-rules file stops `python -m services.router` at start, quickly
and with a non-zero exit, naming the file, the entry and the field (CONTRACT.md section 8).

The processes run against an address where no broker listens: a router that did start
could not become ready, so only the configuration check can end it in time."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.devinfra.launcher import free_port
from shared.devinfra.services import ServiceProcess


def agency(ident: str, parent: str | None = None, timezone: str = "Asia/Makassar",
           level: str = "national") -> str:
    return (f"- {{id: {ident}, name: Dinas {ident}, level: {level}, region_code: null, "
            f"parent_id: {parent or 'null'}, timezone: {timezone}, "
            f"contacts: {{email: {ident}@example.go.id}}}}\n")


GOOD_AGENCIES = agency("pusat") + agency("dinas-a", "pusat")
GOOD_RULES = "- {id: r1, agency_id: dinas-a}\n"

# name: (agencies file, rules file, expected entry, expected field, words of the problem)
CASES: dict[str, tuple[str, str, str, str, str]] = {
    "unknown-parent": (agency("pusat") + agency("dinas-a", "dinas-hantu"), GOOD_RULES,
                       "#2 (dinas-a)", "parent_id", "unknown parent"),
    "cycle": (agency("dinas-a", "dinas-b") + agency("dinas-b", "dinas-a"), GOOD_RULES,
              "#1 (dinas-a)", "parent_id", "cycle"),
    "duplicate-agency": (GOOD_AGENCIES + agency("pusat"), GOOD_RULES,
                         "#3 (pusat)", "id", "duplicate id"),
    "invalid-time-zone": (GOOD_AGENCIES + agency("dinas-b", timezone="Asia/Samarinda"),
                          GOOD_RULES, "#3 (dinas-b)", "timezone", "time zone"),
    "rule-unknown-agency": (GOOD_AGENCIES, GOOD_RULES + "- {id: r2, agency_id: dinas-hantu}\n",
                            "#2 (r2)", "agency_id", "unknown agency"),
    "rule-invalid-region": (GOOD_AGENCIES,
                            GOOD_RULES + '- {id: r2, agency_id: dinas-a, region_code: "99.99"}\n',
                            "#2 (r2)", "region_code", "region code"),
    "duplicate-rule": (GOOD_AGENCIES, GOOD_RULES + GOOD_RULES, "#2 (r1)", "id", "duplicate id"),
}


@pytest.fixture(scope="module")
def started(tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[dict[str, tuple[ServiceProcess, Path, float]]]:
    """Every bad configuration's router, started at once (they fail in parallel)."""
    root = tmp_path_factory.mktemp("bad-config")
    processes: dict[str, tuple[ServiceProcess, Path, float]] = {}
    for name, (agencies, rules, *_rest) in CASES.items():
        folder = root / name
        folder.mkdir()
        (folder / "agencies.yaml").write_text(agencies)
        (folder / "rules.yaml").write_text(rules)
        bad = folder / ("rules.yaml" if name.startswith("rule") or name == "duplicate-rule"
                        else "agencies.yaml")
        env = {"LAPOR_AGENCIES_FILE": str(folder / "agencies.yaml"),
               "LAPOR_ROUTING_RULES_FILE": str(folder / "rules.yaml"),
               "LAPOR_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
               "LAPOR_MONGODB_URI": f"mongodb://127.0.0.1:{free_port()}/",
               "LAPOR_LOG_FORMAT": "json"}
        process = ServiceProcess("router", env, folder / "router.log")
        process.start()
        processes[name] = (process, bad, time.monotonic())
    yield processes
    for process, _, _ in processes.values():
        process.stop(timeout=2)


@pytest.mark.parametrize("name", list(CASES))
def test_bad_file_stops_the_router_naming_file_entry_and_field(
        started: dict[str, tuple[ServiceProcess, Path, float]], name: str) -> None:
    process, bad_file, began = started[name]
    _, _, entry, field, problem = CASES[name]
    assert process.process is not None
    try:
        code = process.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        pytest.fail(f"router still running with a bad {bad_file.name}:\n{process.tail()}")
    assert code != 0
    assert time.monotonic() - began < 20
    output = process.log_path.read_text()
    assert "invalid configuration" in output, output
    line = next(text for text in output.splitlines() if text.startswith("router: invalid"))
    assert str(bad_file) in line, line
    assert f"entry {entry}" in line and f"field '{field}'" in line, line
    assert problem in line, line
