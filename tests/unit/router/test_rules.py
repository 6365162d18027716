"""Routing rules: matching semantics and every kind of bad rules file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from services.router.domain.rules import DEFAULT_FILE, RoutingRule, load_rules
from shared.agencies import AgencyRegistry
from shared.categories import load_taxonomy
from shared.config_files import ConfigFileError
from shared.contract import Kind


def write(tmp_path: Path, entries: Any) -> Path:
    path = tmp_path / "routing_rules.yaml"
    path.write_text(yaml.safe_dump(entries, sort_keys=False), encoding="utf-8")
    return path


GOOD = [
    {"id": "anywhere-roads", "agency_id": "kemenpu", "category": "infrastructure.*"},
    {"id": "kutim", "agency_id": "pemkab-kutim", "region_code": "64.08"},
    {"id": "kutim-info", "agency_id": "kutim-diskominfo", "region_code": "64.08",
     "kind": "information_request", "description": "PPID requests"},
    {"id": "lighting", "agency_id": "kec-sangatta-utara", "region_code": "64.08.04",
     "category": "infrastructure.street_lighting"},
]


def test_valid_rules_load_in_file_order(tmp_path: Path, shipped_agencies: AgencyRegistry) -> None:
    rules = load_rules(write(tmp_path, GOOD), shipped_agencies)
    assert [r.id for r in rules] == ["anywhere-roads", "kutim", "kutim-info", "lighting"]
    assert rules[0] == RoutingRule("anywhere-roads", "kemenpu", None, "infrastructure.*", None)
    assert rules[2].kind is Kind.INFORMATION_REQUEST


def with_entry(index: int, **changes: Any) -> list[dict[str, Any]]:
    entries = [dict(e) for e in GOOD]
    entries[index].update(changes)
    return entries


BAD = [
    pytest.param(GOOD + [{"id": "kutim", "agency_id": "kemenpu"}], "#5 (kutim)", "id",
                 "duplicate id", id="duplicate-id"),
    pytest.param(with_entry(1, agency_id="dinas-hantu"), "#2 (kutim)", "agency_id",
                 "unknown agency 'dinas-hantu'", id="unknown-agency"),
    pytest.param(with_entry(1, agency_id=None), "#2 (kutim)", "agency_id", "required",
                 id="missing-agency"),
    pytest.param(with_entry(1, id=None), "#2", "id", "required", id="missing-id"),
    pytest.param(with_entry(1, region_code="6408"), "#2 (kutim)", "region_code",
                 "not PP, PP.KK", id="malformed-region"),
    pytest.param(with_entry(1, region_code=64), "#2 (kutim)", "region_code", "quote it",
                 id="unquoted-region"),
    pytest.param(with_entry(1, region_code="64.99.99"), "#2 (kutim)", "region_code",
                 "unknown region code", id="unknown-region"),
    pytest.param(with_entry(0, category="infrastructure*"), "#1 (anywhere-roads)", "category",
                 "malformed category pattern", id="category-star-without-dot"),
    pytest.param(with_entry(0, category="*"), "#1 (anywhere-roads)", "category",
                 "malformed category pattern", id="category-bare-star"),
    pytest.param(with_entry(0, category="infrastructure.*.*"), "#1 (anywhere-roads)",
                 "category", "malformed category pattern", id="category-double-star"),
    pytest.param(with_entry(0, category="Infrastructure.Roads"), "#1 (anywhere-roads)",
                 "category", "malformed category pattern", id="category-upper-case"),
    pytest.param(with_entry(0, category=["infrastructure"]), "#1 (anywhere-roads)",
                 "category", "must be text", id="category-not-text"),
    pytest.param(with_entry(2, kind="petition"), "#3 (kutim-info)", "kind", "unknown kind",
                 id="invalid-kind"),
    pytest.param(with_entry(1, categroy="health.*"), "#2 (kutim)", "categroy",
                 "unknown field", id="misspelled-field"),
]


@pytest.mark.parametrize(("entries", "entry", "field", "problem"), BAD)
def test_bad_rules_name_file_entry_and_field(tmp_path: Path, shipped_agencies: AgencyRegistry,
                                             entries: Any, entry: str, field: str,
                                             problem: str) -> None:
    path = write(tmp_path, entries)
    with pytest.raises(ConfigFileError) as caught:
        load_rules(path, shipped_agencies)
    error = caught.value
    assert (error.path, error.entry, error.field) == (str(path), entry, field)
    message = str(error)
    assert str(path) in message and f"entry {entry}" in message and repr(field) in message
    assert problem in message


@pytest.mark.parametrize("category", ["infrastructure.potholes", "nonsense.*"])
def test_categories_checked_against_taxonomy_when_given(
        tmp_path: Path, shipped_agencies: AgencyRegistry, category: str) -> None:
    path = write(tmp_path, with_entry(0, category=category))
    assert load_rules(path, shipped_agencies)  # without a taxonomy only the form counts
    with pytest.raises(ConfigFileError) as caught:
        load_rules(path, shipped_agencies, taxonomy=load_taxonomy())
    assert caught.value.field == "category" and "not in the taxonomy" in str(caught.value)


def test_shipped_rules_load_cleanly(shipped_rules: list[RoutingRule],
                                    shipped_agencies: AgencyRegistry) -> None:
    assert len(shipped_rules) >= 20
    assert len({r.id for r in shipped_rules}) == len(shipped_rules)
    # Data sanity: a rule for a region routes to an agency of that very region.
    for rule in shipped_rules:
        assert shipped_agencies.require(rule.agency_id).region_code == rule.region_code, rule.id
    assert load_rules(DEFAULT_FILE, shipped_agencies) == shipped_rules


@pytest.mark.parametrize(("pattern", "category", "matches"), [
    ("infrastructure.*", "infrastructure.roads", True),
    ("infrastructure.*", "infrastructure", True),  # the prefix covers its own parent code
    ("infrastructure.*", "infrastructures.roads", False),
    ("infrastructure.*", None, False),
    ("infrastructure.roads", "infrastructure.roads", True),
    ("infrastructure.roads", "infrastructure.roads_x", False),
    ("infrastructure.roads", "infrastructure", False),
    (None, None, True),
    (None, "health.bpjs", True),
])
def test_category_matching(pattern: str | None, category: str | None, matches: bool) -> None:
    assert RoutingRule("r", "a", category=pattern).matches_category(category) is matches


@pytest.mark.parametrize(("rule_region", "lineage", "matches"), [
    ("64", ["64.08.04", "64.08", "64"], True),
    ("64.08", ["64.08.04", "64.08", "64"], True),
    ("64.08.04", ["64.08", "64"], False),  # a district rule never covers the whole regency
    ("64.08", ["64.80.01", "64.80", "64"], False),
    ("6", ["64", ], False),
    (None, ["31.71"], True),
])
def test_region_matching(rule_region: str | None, lineage: list[str], matches: bool) -> None:
    assert RoutingRule("r", "a", region_code=rule_region).matches_region(lineage) is matches
