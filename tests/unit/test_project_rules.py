"""Rules the project keeps everywhere: no motor (end-of-life), no in-memory fakes in the
integration and end-to-end suites, and nothing read from ../shared at run or test time."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [p for d in ("shared", "services", "tests", "benchmarks") if (ROOT / d).exists()
           for p in (ROOT / d).rglob("*.py")]


def test_motor_is_never_imported() -> None:
    offenders = [p for p in SOURCES
                 if re.search(r"^\s*(import motor|from motor)", p.read_text(), re.M)]
    assert offenders == []


def test_integration_and_e2e_suites_use_no_fakes() -> None:
    real_suites = [p for p in SOURCES if p.parts[-3:-1][0] == "tests"
                   and p.parent.name in ("integration", "e2e")
                   or "tests/integration/" in str(p) or "tests/e2e/" in str(p)]
    offenders = [p for p in real_suites
                 if re.search(r"TestKafkaBroker|mongomock|TestApp\b", p.read_text())]
    assert real_suites and offenders == []


def test_nothing_reads_the_documents_beside_the_checkout() -> None:
    offenders = [p for p in SOURCES if p != Path(__file__)
                 and re.search(r"\.\./shared|parent\.parent\.parent / \"shared\"",
                               p.read_text())]
    assert offenders == []
