"""Routing precedence (CONTRACT.md section 8): region depth, then category specificity,
then kind, then file order; triage when there is no region or no match."""

from __future__ import annotations

import random

import pytest

from services.router.domain.reasons import TriageReason
from services.router.domain.routing import (
    RoutingDecision,
    RoutingFields,
    RuleBook,
    TriageDecision,
    candidates,
    route,
)
from services.router.domain.rules import RoutingRule
from shared import regions
from shared.contract import ComplaintSummary, Kind

INFO, ASPIRATION = Kind.INFORMATION_REQUEST, Kind.ASPIRATION

# A small hand-made rule set over province 64 > regency 64.08 > district 64.08.04.
RULES = [
    RoutingRule("any-infra", "national-pu", None, "infrastructure.*"),
    RoutingRule("p64", "prov", "64"),
    RoutingRule("p64-infra", "prov-pu", "64", "infrastructure.*"),
    RoutingRule("p64-roads", "prov-roads", "64", "infrastructure.roads"),
    RoutingRule("p64-roads-deep", "prov-toll", "64", "infrastructure.roads.*"),
    RoutingRule("p64-hospital", "prov-hospital", "64", "health.hospital"),
    RoutingRule("r6408", "regency", "64.08"),
    RoutingRule("r6408-infra", "regency-pu", "64.08", "infrastructure.*"),
    RoutingRule("r6408-info", "regency-info", "64.08", None, INFO),
    RoutingRule("r6408-infra-aspiration", "regency-aspiration", "64.08", "infrastructure.*",
                ASPIRATION),
    RoutingRule("d640804-lighting", "district", "64.08.04", "infrastructure.street_lighting"),
    RoutingRule("d640809-funds-a", "district-a", "64.08.09", "governance.*"),
    RoutingRule("d640809-funds-b", "district-b", "64.08.09", "governance.*"),
]


@pytest.mark.parametrize(("region", "category", "kind", "expected_rule"), [
    # region depth first
    pytest.param("64.08.04", "infrastructure.street_lighting", "complaint", "d640804-lighting",
                 id="district-exact-beats-regency-prefix"),
    pytest.param("64.08.04", "infrastructure.roads", "complaint", "r6408-infra",
                 id="district-complaint-falls-back-to-regency"),
    pytest.param("64.08.12", "health.hospital", "complaint", "r6408",
                 id="regency-without-category-beats-province-exact"),
    pytest.param("64.08", "infrastructure.street_lighting", "complaint", "r6408-infra",
                 id="district-rule-never-covers-whole-regency"),
    pytest.param("64.72", "infrastructure.roads", "complaint", "p64-roads",
                 id="other-regency-uses-province"),
    pytest.param("64", "health.puskesmas", "complaint", "p64",
                 id="province-only-complaint"),
    pytest.param("31.71", "infrastructure.roads", "complaint", "any-infra",
                 id="outside-province-uses-national"),
    pytest.param("31.71.01", "infrastructure.drainage", "complaint", "any-infra",
                 id="outside-district-uses-national"),
    # category specificity within one region depth
    pytest.param("64.72", "infrastructure.drainage", "complaint", "p64-infra",
                 id="prefix-beats-none"),
    pytest.param("64.72.01", "infrastructure.roads", "complaint", "p64-roads",
                 id="exact-beats-prefix"),
    pytest.param("64.72", "infrastructure.roads.toll", "complaint", "p64-roads-deep",
                 id="longest-prefix-wins"),
    pytest.param("64.72", "infrastructure", "complaint", "p64-infra",
                 id="prefix-covers-its-parent-code"),
    pytest.param("64.72", "infrastructures.roads", "complaint", "p64",
                 id="prefix-needs-dot-boundary"),
    pytest.param("64.72", None, "complaint", "p64", id="no-category-matches-only-any"),
    # kind
    pytest.param("64.08.04", None, "information_request", "r6408-info",
                 id="kind-beats-no-kind"),
    pytest.param("64.08.04", None, "complaint", "r6408", id="kind-rule-filters-other-kinds"),
    pytest.param("64.08.12", "infrastructure.roads", "aspiration", "r6408-infra-aspiration",
                 id="kind-breaks-category-tie"),
    pytest.param("64.08.12", "infrastructure.drainage", "information_request", "r6408-infra",
                 id="category-beats-kind"),
    pytest.param("64.72", "infrastructure.roads", "aspiration", "p64-roads",
                 id="kind-rule-of-other-region-ignored"),
    # full tie: file order
    pytest.param("64.08.09", "governance.village_funds", "complaint", "d640809-funds-a",
                 id="tie-broken-by-file-order"),
])
def test_precedence(region: str, category: str | None, kind: str, expected_rule: str) -> None:
    decision = route(RULES, RoutingFields(region, category, kind))
    assert isinstance(decision, RoutingDecision), decision
    assert decision.rule_id == expected_rule
    assert decision.agency_id == {r.id: r.agency_id for r in RULES}[expected_rule]
    assert decision.reason == "rule"
    assert repr(expected_rule) in decision.explanation and region in decision.explanation


@pytest.mark.parametrize(("fields", "reason"), [
    pytest.param(RoutingFields(None, "infrastructure.roads"), TriageReason.NO_REGION,
                 id="no-region-even-with-national-rule"),
    pytest.param(RoutingFields("", "infrastructure.roads"), TriageReason.NO_REGION,
                 id="empty-region"),
    pytest.param(RoutingFields("31.71", "health.hospital"), TriageReason.NO_MATCHING_RULE,
                 id="no-rule"),
    pytest.param(RoutingFields("31.71", None, "information_request"),
                 TriageReason.NO_MATCHING_RULE, id="kind-rule-elsewhere"),
])
def test_triage(fields: RoutingFields, reason: TriageReason) -> None:
    decision = route(RULES, fields)
    assert isinstance(decision, TriageDecision)
    assert decision.reason == reason and decision.explanation


def test_candidates_are_ordered_by_precedence() -> None:
    ordered = candidates(RULES, RoutingFields("64.08.04", "infrastructure.roads", "complaint"))
    assert [r.id for r in ordered] == [
        "r6408-infra", "r6408", "p64-roads", "p64-roads-deep", "p64-infra", "p64", "any-infra"]
    assert candidates(RULES, RoutingFields(None, "infrastructure.roads")) == []


def test_exclusion_skips_every_rule_of_an_excluded_agency() -> None:
    fields = RoutingFields("64.08.09", "governance.village_funds")
    assert route(RULES, fields, {"district-a"}).rule_id == "d640809-funds-b"  # type: ignore[union-attr]
    decision = route(RULES, fields, {"district-a", "district-b"})
    assert isinstance(decision, RoutingDecision) and decision.rule_id == "r6408"
    assert "district-a" in decision.explanation  # says whom it skipped
    everyone = {"district-a", "district-b", "regency", "prov"}
    declined = route(RULES, fields, everyone)
    assert isinstance(declined, TriageDecision)
    assert declined.reason == TriageReason.DECLINED_BY_ALL


def test_no_match_stays_no_match_with_exclusions() -> None:
    decision = route(RULES, RoutingFields("31.71", "health.hospital"), {"prov"})
    assert isinstance(decision, TriageDecision)
    assert decision.reason == TriageReason.NO_MATCHING_RULE


def test_contract_models_are_routable() -> None:
    summary = ComplaintSummary(kind=INFO, region_code="64.08.04", body="Minta data APBD 2025")
    assert route(RULES, summary).rule_id == "r6408-info"  # type: ignore[union-attr]


# The shipped sample data (shared/data/routing_rules.yaml).
@pytest.mark.parametrize(("region", "category", "kind", "expected_agency"), [
    pytest.param("64.08.04", "infrastructure.roads", "complaint", "kutim-pupr", id="roads-kutim"),
    pytest.param("64.08.04", "infrastructure.street_lighting", "complaint",
                 "kec-sangatta-utara", id="lighting-sangatta-utara"),
    pytest.param("64.08.12", "infrastructure.street_lighting", "complaint", "kutim-pupr",
                 id="lighting-elsewhere-in-kutim"),
    pytest.param("64.72", "infrastructure.roads", "complaint", "kaltim-dpupr",
                 id="roads-samarinda"),
    pytest.param("31.71", "infrastructure.roads", "complaint", "kemenpu", id="roads-jakarta"),
    pytest.param("64.08.09", "governance.village_funds", "complaint", "kec-bengalon",
                 id="village-funds-bengalon"),
    pytest.param("64.08.04", "governance.village_funds", "complaint", "pemkab-kutim",
                 id="village-funds-without-district-rule"),
    pytest.param("64.08.12", "public_order.illegal_levies", "complaint",
                 "kec-sangatta-selatan", id="pungli-sangatta-selatan"),
    pytest.param("64.08.04", None, "information_request", "kutim-diskominfo",
                 id="information-request-kutim"),
    pytest.param("64.72", "health.hospital", "complaint", "kaltim-dinkes", id="health-samarinda"),
    pytest.param("64.72", "governance.public_service", "complaint", "pemprov-kaltim",
                 id="general-samarinda"),
])
def test_shipped_rules(shipped_rules: list[RoutingRule], region: str, category: str | None,
                       kind: str, expected_agency: str) -> None:
    decision = route(shipped_rules, RoutingFields(region, category, kind))
    assert isinstance(decision, RoutingDecision), decision
    assert decision.agency_id == expected_agency


@pytest.mark.parametrize(("fields", "reason"), [
    pytest.param(RoutingFields(None, "infrastructure.roads"), TriageReason.NO_REGION,
                 id="no-region"),
    pytest.param(RoutingFields("31.71", "other"), TriageReason.NO_MATCHING_RULE,
                 id="other-in-jakarta"),
])
def test_shipped_rules_triage(shipped_rules: list[RoutingRule], fields: RoutingFields,
                              reason: TriageReason) -> None:
    decision = route(shipped_rules, fields)
    assert isinstance(decision, TriageDecision) and decision.reason == reason


def _scanned(rules: list[RoutingRule], complaint: RoutingFields) -> list[str]:
    """The precedence by a scan of every rule: what the region index must give."""
    assert complaint.region_code is not None
    lineage = regions.lineage(complaint.region_code)
    matching = [(p, r) for p, r in enumerate(rules) if r.matches_region(lineage)
                and r.matches_category(complaint.category) and r.matches_kind(complaint.kind)]
    ranked = sorted(matching, key=lambda pr: (-pr[1].region_specificity,
                                              -pr[1].category_specificity[0],
                                              -pr[1].category_specificity[1],
                                              -int(pr[1].kind is not None), pr[0]))
    return [r.id for _, r in ranked]


def test_the_region_index_ranks_a_national_rule_set_as_a_scan_of_every_rule_would() -> None:
    rng = random.Random(7)
    codes = sorted(regions.official_regions())
    categories = [None, "infrastructure.*", "infrastructure.roads", "infrastructure.roads.*",
                  "health.*", "health.hospital", "governance.*"]
    kinds = [None, None, Kind.COMPLAINT, INFO, ASPIRATION]
    rules = [RoutingRule(f"r{i}", f"agency-{i % 97}", rng.choice([None, *codes[:: 7]]),
                         rng.choice(categories), rng.choice(kinds)) for i in range(4000)]
    rules += [RoutingRule(f"same-{i}", f"twin-{i}", "64.08", "infrastructure.*")
              for i in range(3)]  # equal precedence: file order decides
    book = RuleBook(rules)
    assert list(book) == rules
    for _ in range(300):
        complaint = RoutingFields(rng.choice([*codes, "64.08.04"]),
                                  rng.choice(["infrastructure.roads", "health.hospital",
                                              "governance.village_funds", None]),
                                  rng.choice([Kind.COMPLAINT, INFO, ASPIRATION]))
        expected = _scanned(rules, complaint)
        assert [r.id for r in candidates(book, complaint)] == expected
        assert [r.id for r in candidates(rules, complaint)] == expected  # a plain list too
    east_kutai = candidates(book, RoutingFields("64.08.04", "infrastructure.roads"))
    assert [r.id for r in east_kutai if r.id.startswith("same-")] == ["same-0", "same-1",
                                                                      "same-2"]
