"""Routing rules (CONTRACT.md section 8): `{id, agency_id, region_code?, category?, kind?}`.

A rule matches a complaint when
- its region_code is the complaint's region or one of its ancestors ("64" covers
  "64.08" and "64.08.04"); no region_code: anywhere;
- its category equals the complaint's category, or is "prefix.*" and the category is
  the prefix itself or below it ("infrastructure.*" covers "infrastructure" and
  "infrastructure.roads"); no category: any, including none;
- its kind equals the complaint's kind; no kind: any kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared import regions
from shared.agencies import AgencyRegistry
from shared.categories import CODE_FORMAT, Taxonomy
from shared.config_files import DATA_DIR as _DATA_DIR
from shared.config_files import ConfigFileError, entry_label, load_list
from shared.contract import Kind

DEFAULT_FILE = _DATA_DIR / "routing_rules.yaml"

# A misspelled key ("categroy") would silently widen a rule to "any": refuse unknown keys.
ALLOWED_FIELDS = frozenset({"id", "agency_id", "region_code", "category", "kind", "description"})

WILDCARD = ".*"


@dataclass(frozen=True)
class RoutingRule:
    id: str
    agency_id: str
    region_code: str | None = None  # prefix in the region hierarchy; None: anywhere
    category: str | None = None  # exact code or "prefix.*"; None: any
    kind: Kind | None = None  # None: any kind

    @property
    def category_prefix(self) -> str | None:
        """"infrastructure" for "infrastructure.*", None for an exact or absent category."""
        if self.category is not None and self.category.endswith(WILDCARD):
            return self.category[: -len(WILDCARD)]
        return None

    def matches_region(self, region_lineage: list[str]) -> bool:
        return self.region_code is None or self.region_code in region_lineage

    def matches_category(self, category: str | None) -> bool:
        if self.category is None:
            return True
        if category is None:
            return False
        prefix = self.category_prefix
        if prefix is None:
            return category == self.category
        return category == prefix or category.startswith(prefix + ".")

    def matches_kind(self, kind: str | None) -> bool:
        return self.kind is None or self.kind == kind

    @property
    def region_specificity(self) -> int:
        """Parts of the region prefix: 0 anywhere, 1 province, 2 regency/city, 3 district."""
        return len(self.region_code.split(".")) if self.region_code else 0

    @property
    def category_specificity(self) -> tuple[int, int]:
        """(2, _) exact, (1, depth of prefix) for "prefix.*", (0, 0) none: bigger wins."""
        if self.category is None:
            return (0, 0)
        prefix = self.category_prefix
        if prefix is None:
            return (2, len(self.category.split(".")))
        return (1, len(prefix.split(".")))

    def describe(self) -> str:
        return (f"rule {self.id!r} (region {self.region_code or 'anywhere'}, "
                f"category {self.category or 'any'}, kind {self.kind or 'any'})")


def load_rules(path: str | Path, agencies: AgencyRegistry, *,
               taxonomy: Taxonomy | None = None) -> list[RoutingRule]:
    """Rules in file order (the final tie-break). With `taxonomy`, categories must exist in it."""
    rules: list[RoutingRule] = []
    labels: dict[str, str] = {}
    for index, item in enumerate(load_list(path)):
        label = entry_label(index, item)
        rule = _parse_rule(path, label, item, agencies, taxonomy)
        if rule.id in labels:
            raise ConfigFileError(path, f"duplicate id (first at entry {labels[rule.id]})",
                                  label, "id")
        labels[rule.id] = label
        rules.append(rule)
    return rules


def _parse_rule(path: str | Path, label: str, item: dict[str, Any], agencies: AgencyRegistry,
                taxonomy: Taxonomy | None) -> RoutingRule:
    for key in item:
        if key not in ALLOWED_FIELDS:
            raise ConfigFileError(path, f"unknown field, expected one of "
                                  f"{', '.join(sorted(ALLOWED_FIELDS))}", label, str(key))
    for field in ("id", "agency_id"):
        if not isinstance(item.get(field), str) or not item[field].strip():
            raise ConfigFileError(path, "required text missing", label, field)
    rule_id, agency_id = item["id"].strip(), item["agency_id"].strip()
    if agency_id not in agencies:
        raise ConfigFileError(path, f"unknown agency {agency_id!r}", label, "agency_id")

    region_code = item.get("region_code")
    if region_code is not None:
        if not isinstance(region_code, str) or not regions.is_well_formed(region_code):
            raise ConfigFileError(path, f"region code {region_code!r} is not PP, PP.KK or "
                                  "PP.KK.CC (quote it in YAML)", label, "region_code")
        if not regions.is_known(region_code):
            raise ConfigFileError(path, f"unknown region code {region_code!r}", label,
                                  "region_code")

    category = item.get("category")
    if category is not None:
        category = _check_category(path, label, category, taxonomy)

    kind = item.get("kind")
    if kind is not None:
        try:
            kind = Kind(kind)
        except ValueError:
            raise ConfigFileError(path, f"unknown kind {kind!r}, expected one of "
                                  f"{', '.join(k.value for k in Kind)}", label, "kind") from None

    return RoutingRule(rule_id, agency_id, region_code, category, kind)


def _check_category(path: str | Path, label: str, category: Any,
                    taxonomy: Taxonomy | None) -> str:
    if not isinstance(category, str):
        raise ConfigFileError(path, "category must be text", label, "category")
    base = category[: -len(WILDCARD)] if category.endswith(WILDCARD) else category
    if not CODE_FORMAT.match(base):
        raise ConfigFileError(path, f"malformed category pattern {category!r}: expected a "
                              "dotted code or a code followed by '.*'", label, "category")
    if taxonomy is not None and base not in taxonomy:
        raise ConfigFileError(path, f"category {base!r} is not in the taxonomy", label,
                              "category")
    return category
