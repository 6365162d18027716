"""Human-facing formatting of times, durations and SLA stages, in Indonesian and English."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shared.contract import Language

# Indonesian civil time-zone names (agencies file: WIB, WITA or WIT; CONTRACT section 6).
_ZONE_NAMES = {
    "Asia/Jakarta": "WIB",
    "Asia/Pontianak": "WIB",
    "Asia/Makassar": "WITA",
    "Asia/Jayapura": "WIT",
}
_MONTHS = {
    Language.ID: (
        "Januari", "Februari", "Maret", "April", "Mei", "Juni",
        "Juli", "Agustus", "September", "Oktober", "November", "Desember",
    ),
    Language.EN: (
        "January", "February", "March", "April", "May", "June",
        "July", "August", "September", "October", "November", "December",
    ),
}
_STAGES = {
    Language.ID: {
        "routing": "penerusan laporan",
        "response": "respons instansi",
        "resolution": "penyelesaian",
        "auto_close": "penutupan otomatis",
    },
    Language.EN: {
        "routing": "routing",
        "response": "agency response",
        "resolution": "resolution",
        "auto_close": "automatic closing",
    },
}
_UNITS = {
    Language.ID: (("hari", "hari"), ("jam", "jam"), ("menit", "menit"), ("detik", "detik")),
    Language.EN: (("day", "days"), ("hour", "hours"), ("minute", "minutes"),
                  ("second", "seconds")),
}


def parse_moment(value: datetime | str) -> datetime:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    # A naive value can only be UTC in this system (every event timestamp is UTC).
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def format_local_time(value: datetime | str, timezone: str, language: Language) -> str:
    """`7 Januari 2026 pukul 17.00 WITA` / `7 January 2026, 17:00 WITA (UTC+08:00)`."""
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {timezone!r}") from exc
    local = parse_moment(value).astimezone(zone)
    abbrev = _ZONE_NAMES.get(timezone) or local.tzname() or timezone
    offset = local.strftime("%z")
    utc = f"UTC{offset[:3]}:{offset[3:]}"
    month = _MONTHS[language][local.month - 1]
    if language == Language.ID:
        return f"{local.day} {month} {local.year} pukul {local:%H.%M} {abbrev} ({utc})"
    return f"{local.day} {month} {local.year}, {local:%H:%M} {abbrev} ({utc})"


def format_duration(seconds: float, language: Language) -> str:
    """The two largest units, e.g. `2 hari 3 jam`, `45 minutes`, `30 detik`."""
    remaining = max(int(seconds), 0)
    parts: list[str] = []
    for size, (one, many) in zip((86400, 3600, 60, 1), _UNITS[language], strict=True):
        count, remaining = divmod(remaining, size)
        if count and len(parts) < 2:
            parts.append(f"{count} {one if count == 1 else many}")
        elif parts:
            break  # keep the units adjacent: "1 day 5 seconds" would mislead
    return " ".join(parts) or f"0 {_UNITS[language][3][1]}"


def stage_label(stage: str, language: Language) -> str:
    return _STAGES[language].get(stage, stage)


def percent(threshold: float | str) -> str:
    """0.75 -> `75`; already-percent values (> 1) are kept."""
    value = float(threshold)
    return f"{round(value * 100 if value <= 1 else value):d}"
