"""Benchmark (not a test): routing one complaint against the shipped rules and against a
national-size rule set, with the rules indexed by region (`RuleBook`, as the router holds
them) and as a plain list (which `candidates` scans rule by rule, as the router did
before it held a `RuleBook`).

    .venv/bin/python -m benchmarks.routing_rules [--n 2000]
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Sequence

from services.router.domain.routing import RoutingFields, RuleBook, route
from services.router.domain.rules import DEFAULT_FILE, RoutingRule, load_rules
from shared import regions
from shared.agencies import load_agencies

CATEGORIES = ["infrastructure.*", "infrastructure.roads", "health.*", "education.*",
              "governance.*", "social.*", "environment.*", None]


def national_rules() -> list[RoutingRule]:
    """One rule per regency or city and category: what a country-wide deployment holds."""
    regencies = [code for code, region in sorted(regions.official_regions().items())
                 if region.level == "regency"]
    return [RoutingRule(f"{code}-{category or 'any'}", f"agency-{code}", code, category)
            for code in regencies for category in CATEGORIES]


def per_route(rules: Sequence[RoutingRule], complaints: list[RoutingFields]) -> float:
    started = time.perf_counter()
    for complaint in complaints:
        route(rules, complaint)
    return (time.perf_counter() - started) / len(complaints) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    args = parser.parse_args()
    rng = random.Random(1)
    districts = [c for c, r in regions.official_regions().items() if r.level == "district"]
    complaints = [RoutingFields(rng.choice(districts), "infrastructure.roads")
                  for _ in range(args.n)]
    shipped = load_rules(DEFAULT_FILE, load_agencies())
    east_kutai = [RoutingFields("64.08.04", "infrastructure.roads")] * args.n
    for label, rules, sample in (("shipped rules (East Kutai)", shipped, east_kutai),
                                 ("national rule set", national_rules(), complaints)):
        indexed = per_route(RuleBook(rules), sample)
        scanned = per_route(list(rules), sample[: max(args.n // 20, 50)])
        print(f"  {label:28s} {len(rules):6,d} rules   indexed {indexed:8.1f} µs"
              f"   every rule looked at {scanned:9.1f} µs per complaint")


if __name__ == "__main__":
    main()
