"""Fixtures of the router's unit tests: the shipped sample data, loaded once."""

from __future__ import annotations

import pytest

from services.router.domain.rules import DEFAULT_FILE as RULES_FILE
from services.router.domain.rules import RoutingRule, load_rules
from shared.agencies import AgencyRegistry, load_agencies
from shared.categories import load_taxonomy


@pytest.fixture(scope="session")
def shipped_agencies() -> AgencyRegistry:
    return load_agencies()


@pytest.fixture(scope="session")
def shipped_rules(shipped_agencies: AgencyRegistry) -> list[RoutingRule]:
    return load_rules(RULES_FILE, shipped_agencies, taxonomy=load_taxonomy())
