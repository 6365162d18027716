"""Local times, durations and stage labels shown to agencies."""

from datetime import UTC, datetime

import pytest

from services.notifier.domain.formatting import (
    format_duration,
    format_local_time,
    percent,
    stage_label,
)
from shared.contract import Language

MOMENT = datetime(2026, 8, 17, 1, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        ("Asia/Jakarta", "17 Agustus 2026 pukul 08.05 WIB (UTC+07:00)"),
        ("Asia/Pontianak", "17 Agustus 2026 pukul 08.05 WIB (UTC+07:00)"),
        ("Asia/Makassar", "17 Agustus 2026 pukul 09.05 WITA (UTC+08:00)"),
        ("Asia/Jayapura", "17 Agustus 2026 pukul 10.05 WIT (UTC+09:00)"),
        ("UTC", "17 Agustus 2026 pukul 01.05 UTC (UTC+00:00)"),
    ],
)
def test_local_time_indonesian(zone: str, expected: str) -> None:
    assert format_local_time(MOMENT, zone, Language.ID) == expected


def test_local_time_english_and_iso_input() -> None:
    assert (format_local_time("2026-08-16T23:30:00Z", "Asia/Makassar", Language.EN)
            == "17 August 2026, 07:30 WITA (UTC+08:00)")
    naive = datetime(2026, 8, 17, 1, 5)  # treated as UTC
    assert "08.05 WIB" in format_local_time(naive, "Asia/Jakarta", Language.ID)


def test_unknown_time_zone_is_an_error() -> None:
    with pytest.raises(ValueError, match="Mars/Olympus"):
        format_local_time(MOMENT, "Mars/Olympus", Language.ID)


@pytest.mark.parametrize(
    ("seconds", "lang", "expected"),
    [
        (30, Language.ID, "30 detik"),
        (45 * 60, Language.EN, "45 minutes"),
        (3600, Language.EN, "1 hour"),
        (2 * 86400 + 3 * 3600 + 59, Language.ID, "2 hari 3 jam"),
        (86400 + 5, Language.EN, "1 day"),
        (0, Language.EN, "0 seconds"),
        (-10, Language.ID, "0 detik"),
    ],
)
def test_duration(seconds: float, lang: Language, expected: str) -> None:
    assert format_duration(seconds, lang) == expected


def test_stage_labels_and_percent() -> None:
    assert stage_label("resolution", Language.ID) == "penyelesaian"
    assert stage_label("custom_stage", Language.EN) == "custom_stage"
    assert percent(0.5) == "50" and percent(0.75) == "75" and percent(75) == "75"
