"""Intake's wiring: what its handlers look up at run time is loaded at start-up."""

from __future__ import annotations

from services.intake.app import build_intake, create_app
from shared.regions import official_regions
from shared.service import ServiceRuntime
from shared.settings import Settings


def test_the_region_table_is_loaded_before_the_service_starts() -> None:
    official_regions.cache_clear()
    create_app(Settings.for_service("intake"))
    assert official_regions.cache_info().currsize == 1


def test_the_flood_guards_window_holds_at_most_the_configured_marks() -> None:
    settings = Settings.for_service("intake").model_copy(
        update={"intake_flood_guard_max_marks": 7})
    assert build_intake(ServiceRuntime("intake", settings)).marks.max_marks == 7
