"""The SLA policy file (CONTRACT.md sections 6 and 8) and how a stage's target is chosen.

Overrides are tried in file order; for a given stage the first override that
matches the complaint *and sets that stage* wins, else the default applies.
A category pattern is an exact code or a prefix ending in ".*"; the prefix
matches the parent code itself and all its descendants ("infrastructure.*"
matches "infrastructure" and "infrastructure.roads").
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from shared.categories import CODE_FORMAT
from shared.config_files import DATA_DIR, ConfigFileError, load_yaml
from shared.contract import Kind

from .durations import Duration, parse_iso_duration

DEFAULT_POLICY_FILE = DATA_DIR / "sla_policy.yaml"
TOP_LEVEL = "top level"


class Stage(StrEnum):
    ROUTING = "routing"
    RESPONSE = "response"
    RESOLUTION = "resolution"
    AUTO_CLOSE = "auto_close"


@dataclass(frozen=True)
class Override:
    stages: Mapping[Stage, Duration]
    category: str | None = None
    kind: Kind | None = None

    def matches(self, kind: str | None, category: str | None) -> bool:
        if self.kind is not None and kind != self.kind:
            return False
        if self.category is None:
            return True
        if category is None:
            return False
        if self.category.endswith(".*"):
            parent = self.category[:-2]
            return category == parent or category.startswith(parent + ".")
        return category == self.category


@dataclass(frozen=True)
class SlaPolicy:
    national_coordinator: str
    warnings: tuple[float, ...]
    escalation_interval: Duration
    stages: Mapping[Stage, Duration]
    overrides: tuple[Override, ...] = ()
    extra_closed_days: frozenset[dt.date] = field(default_factory=frozenset)
    source: str = ""

    def target(self, stage: Stage, kind: str | None = None, category: str | None = None
               ) -> Duration:
        for override in self.overrides:
            if stage in override.stages and override.matches(kind, category):
                return override.stages[stage]
        return self.stages[stage]


def load_policy(path: str | Path = DEFAULT_POLICY_FILE) -> SlaPolicy:
    """Read and check the policy; any mistake raises ConfigFileError naming entry and field."""
    return _PolicyReader(path).read()


class _PolicyReader:
    KEYS = ("national_coordinator", "warnings", "escalation_interval", "stages", "overrides",
            "extra_closed_days")

    def __init__(self, path: str | Path) -> None:
        self.path = path

    def fail(self, problem: str, entry: str, field_name: str) -> ConfigFileError:
        return ConfigFileError(self.path, problem, entry, field_name)

    def read(self) -> SlaPolicy:
        try:
            data = load_yaml(self.path)
        except ConfigFileError:
            raise
        except ValueError as exc:  # PyYAML lets e.g. an impossible date (2026-02-30) through
            raise ConfigFileError(self.path, f"not valid YAML: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigFileError(self.path, "expected a mapping (CONTRACT.md section 8)")
        for key in data:
            if key not in self.KEYS:
                raise self.fail("unknown key", TOP_LEVEL, str(key))
        return SlaPolicy(
            national_coordinator=self.coordinator(data.get("national_coordinator")),
            warnings=self.warnings(data.get("warnings", [0.5, 0.75])),
            escalation_interval=self.duration(
                data.get("escalation_interval"), "escalation_interval", ""),
            stages=self.default_stages(data.get("stages")),
            overrides=self.overrides(data.get("overrides") or []),
            extra_closed_days=self.closed_days(data.get("extra_closed_days") or []),
            source=str(self.path),
        )

    def coordinator(self, value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail("an agency id is required", TOP_LEVEL, "national_coordinator")
        return value.strip()

    def warnings(self, value: Any) -> tuple[float, ...]:
        if not isinstance(value, list):
            raise self.fail("expected a list of fractions", TOP_LEVEL, "warnings")
        for item in value:
            if isinstance(item, bool) or not isinstance(item, int | float) or not 0 < item < 1:
                raise self.fail(f"{item!r} is not a fraction strictly between 0 and 1",
                                TOP_LEVEL, "warnings")
        if len(set(value)) != len(value):
            raise self.fail("a threshold is listed twice", TOP_LEVEL, "warnings")
        return tuple(sorted(float(item) for item in value))

    def duration(self, value: Any, entry: str, prefix: str) -> Duration:
        """`{working_days: n}` or `{duration: "PT30S"}`; `prefix` qualifies the field name."""
        if value is None:
            raise self.fail("missing: give {working_days: N} or {duration: ISO 8601}", entry,
                            f"{prefix}working_days")
        if not isinstance(value, dict):
            raise self.fail("expected {working_days: N} or {duration: ISO 8601}", entry,
                            f"{prefix}working_days")
        unknown = set(value) - {"working_days", "duration"}
        if unknown:
            raise self.fail("unknown key", entry, f"{prefix}{sorted(map(str, unknown))[0]}")
        if len(value) != 1:
            raise self.fail("give exactly one of 'working_days' and 'duration'", entry,
                            f"{prefix}working_days")
        if "working_days" in value:
            days = value["working_days"]
            if isinstance(days, bool) or not isinstance(days, int) or days < 0:
                raise self.fail(f"{days!r} is not a whole number >= 0", entry,
                                f"{prefix}working_days")
            return Duration.of_working_days(days)
        try:
            return Duration.of_calendar_time(parse_iso_duration(value["duration"]))
        except ValueError as exc:
            raise self.fail(str(exc), entry, f"{prefix}duration") from None

    def stage_durations(self, value: Any, entry: str | None) -> dict[Stage, Duration]:
        """Defaults (`entry` None) report "stages.<stage>"; an override reports its own entry."""
        if not isinstance(value, dict) or not value:
            raise self.fail("expected a mapping of stage to duration", entry or TOP_LEVEL,
                            "stages")
        result: dict[Stage, Duration] = {}
        for name, spec in value.items():
            if name not in Stage.__members__.values():
                raise self.fail(f"unknown stage (one of {', '.join(Stage)})",
                                entry or "stages", f"stages.{name}" if entry else str(name))
            if entry is None:
                result[Stage(name)] = self.duration(spec, f"stages.{name}", "")
            else:
                result[Stage(name)] = self.duration(spec, entry, f"stages.{name}.")
        return result

    def default_stages(self, value: Any) -> dict[Stage, Duration]:
        stages = self.stage_durations(value, None)
        for stage in Stage:
            if stage not in stages:
                raise self.fail("every stage needs a default duration", "stages", stage.value)
        return stages

    def overrides(self, value: Any) -> tuple[Override, ...]:
        if not isinstance(value, list):
            raise self.fail("expected a list", TOP_LEVEL, "overrides")
        return tuple(self.override(item, f"overrides #{i + 1}") for i, item in enumerate(value))

    def override(self, item: Any, entry: str) -> Override:
        if not isinstance(item, dict):
            raise self.fail("expected {match: ..., stages: ...}", entry, "match")
        for key in item:
            if key not in ("match", "stages"):
                raise self.fail("unknown key", entry, str(key))
        match = item.get("match")
        if not isinstance(match, dict) or not match:
            raise self.fail("expected {category: ...} and/or {kind: ...}", entry, "match")
        for key in match:
            if key not in ("category", "kind"):
                raise self.fail("unknown key", entry, f"match.{key}")
        category = match.get("category")
        if category is not None and not _is_category_pattern(category):
            raise self.fail(f"{category!r} is not a category code or a 'prefix.*'", entry,
                            "match.category")
        kind = match.get("kind")
        if kind is not None and kind not in Kind.__members__.values():
            raise self.fail(f"{kind!r} is not a kind ({', '.join(Kind)})", entry, "match.kind")
        stages = self.stage_durations(item.get("stages"), entry)
        return Override(stages=stages, category=category,
                        kind=Kind(kind) if kind is not None else None)

    def closed_days(self, value: Any) -> frozenset[dt.date]:
        if not isinstance(value, list):
            raise self.fail("expected a list of ISO dates", TOP_LEVEL, "extra_closed_days")
        days: set[dt.date] = set()
        for index, item in enumerate(value):
            # YAML already turns an unquoted 2025-12-31 into a date.
            if isinstance(item, dt.date) and not isinstance(item, dt.datetime):
                days.add(item)
                continue
            try:
                days.add(dt.date.fromisoformat(str(item)))
            except ValueError:
                raise self.fail(f"{item!r} is not an ISO date (YYYY-MM-DD)",
                                f"extra_closed_days #{index + 1}", "extra_closed_days") from None
        return frozenset(days)


def _is_category_pattern(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    return bool(CODE_FORMAT.match(value[:-2] if value.endswith(".*") else value))
