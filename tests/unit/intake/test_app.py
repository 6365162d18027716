"""Intake's wiring: what its handlers look up at run time is loaded at start-up."""

from __future__ import annotations

from services.intake.app import create_app
from shared.regions import official_regions
from shared.settings import Settings


def test_the_region_table_is_loaded_before_the_service_starts() -> None:
    official_regions.cache_clear()
    create_app(Settings.for_service("intake"))
    assert official_regions.cache_info().currsize == 1
