"""The project's own copy of the contract (docs/CONTRACT.md) and the README stay true to
the code: settings, topics and event types named there exist, and the other way round."""

from __future__ import annotations

import re
from pathlib import Path

from shared import topics
from shared.contract import EVENT_TYPES
from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = (ROOT / "docs" / "CONTRACT.md").read_text()
README = (ROOT / "README.md").read_text()
SETTING_NAMES = {f"LAPOR_{name.upper()}" for name in Settings.model_fields}


def documented_variables(text: str) -> set[str]:
    return set(re.findall(r"LAPOR_[A-Z0-9_]+", text))


TEST_HOOKS = {"LAPOR_INTAKE_CRASH_AFTER_STORE"}  # environment switches for tests, not settings


def test_every_documented_setting_exists() -> None:
    assert documented_variables(CONTRACT) - SETTING_NAMES == set()
    assert documented_variables(README) - SETTING_NAMES - TEST_HOOKS == set()


def test_every_setting_is_documented_in_the_readme() -> None:
    internal = {"LAPOR_SERVICE_NAME"}
    assert SETTING_NAMES - internal - documented_variables(README) == set()


def test_contract_topics_and_event_types_match_the_code() -> None:
    table = re.findall(r"^\| `([a-z.]+)` \| (.+) \|$", CONTRACT, re.M)
    documented = {topic: re.findall(r"`([a-z_.]+)`", types) for topic, types in table
                  if topic.startswith(("complaints.", "notifications."))}
    assert set(documented) == set(topics.ALL)
    event_types = {t for types in documented.values() for t in types}
    assert event_types == set(EVENT_TYPES)
