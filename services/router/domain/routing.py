"""Choosing the agency for a complaint (CONTRACT.md section 8), as a pure function.

Precedence among matching rules:
1. the longest region prefix (district > regency/city > province > anywhere);
2. the most specific category (exact > longest "prefix.*" > none);
3. a rule with a kind over one without;
4. the earlier rule in the file.

No region on the complaint goes to triage (`no_region`) even when region-less national
rules exist: the contract says "No match, or no region: complaint.needs_triage", and a
national ministry is the wrong first stop for a local problem whose place is unknown.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from shared import regions

from .reasons import TriageReason
from .rules import RoutingRule


class Routable(Protocol):
    """What routing looks at: ComplaintSummary, ComplaintReceived and RoutingFields fit."""

    @property
    def region_code(self) -> str | None: ...

    @property
    def category(self) -> str | None: ...

    @property
    def kind(self) -> str | None: ...


@dataclass(frozen=True)
class RoutingFields:
    region_code: str | None = None
    category: str | None = None
    kind: str | None = "complaint"


@dataclass(frozen=True)
class RoutingDecision:
    """Assign to `agency_id`. `reason` is the contract's complaint.routed reason."""

    agency_id: str
    rule_id: str | None
    reason: Literal["rule", "transfer", "manual"]
    explanation: str  # human-readable: which rule and why (logs, audit notes)


@dataclass(frozen=True)
class TriageDecision:
    """Send to triage. `reason` is the contract's complaint.needs_triage reason."""

    reason: TriageReason
    explanation: str


def _kind_value(kind: str | None) -> str | None:
    return None if kind is None else str(kind)  # Kind is a StrEnum: str() is its value


def _precedence(indexed: tuple[int, RoutingRule]) -> tuple[int, int, int, int, int]:
    position, rule = indexed
    category_rank, category_depth = rule.category_specificity
    return (-rule.region_specificity, -category_rank, -category_depth,
            -int(rule.kind is not None), position)


class RuleBook(tuple[RoutingRule, ...]):
    """Routing rules in file order, indexed by their region: a complaint is matched only
    against the rules of its region's lineage and the region-less ones. A national
    deployment holds thousands of rules (a few per regency and category), of which one
    complaint's lineage holds a handful; a scan of them all cost every complaint the
    whole file."""

    _by_region: dict[str | None, list[tuple[int, RoutingRule]]]

    def __new__(cls, rules: Iterable[RoutingRule] = ()) -> RuleBook:
        book = super().__new__(cls, rules)
        book._by_region = {}
        for position, rule in enumerate(book):
            book._by_region.setdefault(rule.region_code, []).append((position, rule))
        return book

    def of_lineage(self, lineage: Sequence[str]) -> list[tuple[int, RoutingRule]]:
        """`(position in the file, rule)` of every rule whose region is in `lineage` or
        that has none."""
        found: list[tuple[int, RoutingRule]] = []
        for code in (*lineage, None):
            found += self._by_region.get(code, ())
        return found


def candidates(rules: Sequence[RoutingRule], complaint: Routable) -> list[RoutingRule]:
    """Every rule matching the complaint, best first. Empty when the complaint has no region.
    A `RuleBook` is looked up by region; any other sequence is scanned rule by rule."""
    if not complaint.region_code:
        return []
    kind = _kind_value(complaint.kind)
    lineage = regions.lineage(complaint.region_code)
    in_region = rules.of_lineage(lineage) if isinstance(rules, RuleBook) else [
        (position, rule) for position, rule in enumerate(rules)
        if rule.matches_region(lineage)]
    matching = [
        (position, rule) for position, rule in in_region
        if rule.matches_category(complaint.category) and rule.matches_kind(kind)
    ]
    return [rule for _, rule in sorted(matching, key=_precedence)]


def route(rules: Sequence[RoutingRule], complaint: Routable,
          exclude_agencies: Iterable[str] = frozenset()) -> RoutingDecision | TriageDecision:
    """The best matching rule whose agency is not excluded (agencies that declined), or triage."""
    if not complaint.region_code:
        return TriageDecision(TriageReason.NO_REGION, "the complaint has no region code")
    what = (f"region {complaint.region_code}, category {complaint.category or 'none'}, "
            f"kind {_kind_value(complaint.kind) or 'none'}")
    matching = candidates(rules, complaint)
    if not matching:
        return TriageDecision(TriageReason.NO_MATCHING_RULE, f"no routing rule matches {what}")
    excluded = frozenset(exclude_agencies)
    for rule in matching:
        if rule.agency_id not in excluded:
            skipped = sorted({r.agency_id for r in matching} & excluded)
            note = f", skipping agencies that declined: {', '.join(skipped)}" if skipped else ""
            return RoutingDecision(rule.agency_id, rule.id, "rule",
                                   f"{rule.describe()} is the best match for {what}{note}")
    return TriageDecision(
        TriageReason.DECLINED_BY_ALL,
        f"every agency matching {what} declined: "
        f"{', '.join(sorted({r.agency_id for r in matching}))}")
