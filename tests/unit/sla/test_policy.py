"""Loading the SLA policy file: the shipped file, every error, and override matching."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from services.sla.domain.durations import Duration
from services.sla.domain.policy import DEFAULT_POLICY_FILE, Stage, load_policy
from shared.config_files import ConfigFileError

GOOD = """\
national_coordinator: kemenpanrb
warnings: [0.75, 0.5]
escalation_interval: {working_days: 2}
stages:
  routing: {working_days: 3}
  response: {working_days: 5}
  resolution: {working_days: 14}
  auto_close: {working_days: 10}
overrides: []
extra_closed_days: []
"""


def test_the_shipped_policy_follows_lapor_practice() -> None:
    policy = load_policy()
    assert policy.source == str(DEFAULT_POLICY_FILE)
    assert policy.national_coordinator == "kemenpanrb"
    assert policy.warnings == (0.5, 0.75)
    assert policy.escalation_interval == Duration.of_working_days(2)
    assert {stage: d.working_days for stage, d in policy.stages.items()} == {
        Stage.ROUTING: 3, Stage.RESPONSE: 5, Stage.RESOLUTION: 14, Stage.AUTO_CLOSE: 10}
    assert policy.target(Stage.RESOLUTION, "complaint", "infrastructure.roads").working_days == 60
    assert policy.target(Stage.RESOLUTION, "complaint", "environment.mining").working_days == 60
    assert policy.target(Stage.RESOLUTION, "complaint", "health.bpjs").working_days == 14
    assert policy.target(Stage.RESOLUTION, None, None).working_days == 14
    assert policy.target(Stage.RESPONSE, "complaint", "infrastructure.roads").working_days == 5
    assert policy.extra_closed_days == frozenset()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sla_policy.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_warnings_are_sorted_and_closed_days_parsed(tmp_path: Path) -> None:
    text = GOOD.replace("extra_closed_days: []",
                        "extra_closed_days: [2026-03-03, '2026-08-18']")
    policy = load_policy(write(tmp_path, text))
    assert policy.warnings == (0.5, 0.75)
    assert policy.extra_closed_days == {date(2026, 3, 3), date(2026, 8, 18)}


def test_iso_durations_are_accepted(tmp_path: Path) -> None:
    text = GOOD.replace("routing: {working_days: 3}", "routing: {duration: PT30S}")
    policy = load_policy(write(tmp_path, text))
    assert policy.stages[Stage.ROUTING] == Duration.of_calendar_time("PT30S")


def with_overrides(body: str) -> str:
    return GOOD.replace("overrides: []", "overrides:\n" + body)


BAD_OVERRIDE = with_overrides(
    "  - match: {kind: aspiration}\n    stages: {response: {working_days: 7}}\n"
    "  - match: {category: health.*}\n    stages: {resolution: {working_days: -1}}\n")

ERRORS = [
    # (file text, entry, field, words in the message)
    ("national_coordinator: x\n- a list inside a mapping", None, None, "not valid YAML"),
    ("- just\n- a list\n", None, None, "expected a mapping"),
    (GOOD + "colour: blue\n", "top level", "colour", "unknown key"),
    (GOOD.replace("national_coordinator: kemenpanrb", "national_coordinator: ''"),
     "top level", "national_coordinator", "agency id is required"),
    (GOOD.replace("[0.75, 0.5]", "[0.5, 1.2]"), "top level", "warnings", "between 0 and 1"),
    (GOOD.replace("[0.75, 0.5]", "0.5"), "top level", "warnings", "list of fractions"),
    (GOOD.replace("[0.75, 0.5]", "[0.5, 0.5]"), "top level", "warnings", "listed twice"),
    (GOOD.replace("escalation_interval: {working_days: 2}", "escalation_interval: 2"),
     "escalation_interval", "working_days", "expected {working_days"),
    (GOOD.replace("escalation_interval: {working_days: 2}\n", ""),
     "escalation_interval", "working_days", "missing"),
    (GOOD.replace("{working_days: 2}", "{working_days: 2.5}"),
     "escalation_interval", "working_days", "whole number"),
    (GOOD.split("stages:\n")[0] + "stages: 14\n", "top level", "stages", "mapping"),
    (GOOD.replace("  auto_close: {working_days: 10}\n", ""),
     "stages", "auto_close", "every stage needs a default"),
    (GOOD.replace("  routing:", "  triage: {working_days: 1}\n  routing:"),
     "stages", "triage", "unknown stage"),
    (GOOD.replace("resolution: {working_days: 14}", "resolution: {working_days: -3}"),
     "stages.resolution", "working_days", "whole number >= 0"),
    (GOOD.replace("resolution: {working_days: 14}", "resolution: {weeks: 2}"),
     "stages.resolution", "weeks", "unknown key"),
    (GOOD.replace("resolution: {working_days: 14}",
                  "resolution: {working_days: 14, duration: P14D}"),
     "stages.resolution", "working_days", "exactly one"),
    (GOOD.replace("routing: {working_days: 3}", "routing: {duration: P1M}"),
     "stages.routing", "duration", "months and years"),
    (GOOD.replace("routing: {working_days: 3}", "routing: {duration: thirty seconds}"),
     "stages.routing", "duration", "not an ISO 8601 duration"),
    (GOOD.replace("overrides: []", "overrides: {category: x}"), "top level", "overrides",
     "expected a list"),
    (with_overrides("  - stages: {resolution: {working_days: 60}}\n"),
     "overrides #1", "match", "category"),
    (with_overrides("  - match: {region: '64'}\n    stages: {resolution: {working_days: 60}}\n"),
     "overrides #1", "match.region", "unknown key"),
    (with_overrides("  - match: {category: Infra*}\n    stages: {resolution: {working_days: 1}}\n"),
     "overrides #1", "match.category", "not a category code"),
    (with_overrides("  - match: {kind: praise}\n    stages: {resolution: {working_days: 1}}\n"),
     "overrides #1", "match.kind", "not a kind"),
    (with_overrides("  - match: {kind: aspiration}\n"), "overrides #1", "stages", "mapping"),
    (with_overrides("  - match: {kind: aspiration}\n    stages: {triage: {working_days: 1}}\n"),
     "overrides #1", "stages.triage", "unknown stage"),
    (BAD_OVERRIDE, "overrides #2", "stages.resolution.working_days", "whole number"),
    (with_overrides("  - match: {kind: aspiration}\n    stages: {response: {duration: P1Y}}\n"),
     "overrides #1", "stages.response.duration", "months and years"),
    (with_overrides("  - match: {kind: aspiration}\n    stage: {response: {duration: P1D}}\n"),
     "overrides #1", "stage", "unknown key"),
    (GOOD.replace("extra_closed_days: []", "extra_closed_days: [2026-03-03, '2026-02-30']"),
     "extra_closed_days #2", "extra_closed_days", "not an ISO date"),
    # PyYAML itself chokes on an impossible unquoted date: still a named, file-level error.
    (GOOD.replace("extra_closed_days: []", "extra_closed_days: [2026-02-30]"),
     None, None, "not valid YAML"),
    (GOOD.replace("extra_closed_days: []", "extra_closed_days: 2026-03-03"),
     "top level", "extra_closed_days", "list of ISO dates"),
]


@pytest.mark.parametrize(("text", "entry", "field", "words"), ERRORS)
def test_each_mistake_names_file_entry_and_field(tmp_path: Path, text: str, entry: str | None,
                                                 field: str | None, words: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigFileError) as caught:
        load_policy(path)
    error = caught.value
    message = str(error)
    assert str(path) in message and words in message
    assert (error.entry, error.field) == (entry, field)
    if entry is not None:
        assert f"entry {entry}" in message and f"field {field!r}" in message


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigFileError, match="file not found") as caught:
        load_policy(tmp_path / "nope.yaml")
    assert "nope.yaml" in str(caught.value)


OVERRIDES = with_overrides("""\
  - match: {category: infrastructure.roads}
    stages: {resolution: {working_days: 30}}
  - match: {category: "infrastructure.*"}
    stages: {resolution: {working_days: 60}}
  - match: {kind: aspiration}
    stages: {response: {working_days: 10}}
  - match: {kind: information_request, category: "health.*"}
    stages: {resolution: {duration: P7D}}
  - match: {kind: aspiration}
    stages: {resolution: {working_days: 20}, response: {working_days: 99}}
""")


@pytest.mark.parametrize(
    ("stage", "kind", "category", "expected"),
    [
        (Stage.RESOLUTION, "complaint", "infrastructure.roads", 30),  # first match wins
        (Stage.RESOLUTION, "complaint", "infrastructure.drainage", 60),
        (Stage.RESOLUTION, "complaint", "infrastructure", 60),  # the prefix matches its parent
        (Stage.RESOLUTION, "complaint", "infrastructures", 14),  # but not another word
        (Stage.RESPONSE, "aspiration", "infrastructure.roads", 10),
        (Stage.RESOLUTION, "aspiration", "infrastructure.roads", 30),
        (Stage.RESOLUTION, "aspiration", "health.bpjs", 20),  # 1st aspiration rule: no resolution
        (Stage.RESPONSE, "aspiration", None, 10),  # ...and the later one never wins response
        (Stage.RESOLUTION, "complaint", "health.bpjs", 14),
        (Stage.RESOLUTION, "information_request", "social.aid", 14),  # kind and category both
    ],
)
def test_overrides_first_match_wins(tmp_path: Path, stage: Stage, kind: str,
                                    category: str | None, expected: int) -> None:
    policy = load_policy(write(tmp_path, OVERRIDES))
    assert policy.target(stage, kind, category).working_days == expected


def test_override_with_kind_and_category_needs_both(tmp_path: Path) -> None:
    policy = load_policy(write(tmp_path, OVERRIDES))
    target = policy.target(Stage.RESOLUTION, "information_request", "health.bpjs")
    assert target == Duration.of_calendar_time("P7D")
    assert policy.target(Stage.RESOLUTION, "complaint", "health.bpjs").working_days == 14
