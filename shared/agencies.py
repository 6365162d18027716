"""The agency registry (CONTRACT.md section 8): who complaints are routed to, escalated to
and who gets told. Shared by router (routing targets), sla (escalation to parents, time
zones) and notifier (contacts).

File format: a list of `{id, name, level, region_code, parent_id, timezone,
contacts: {email, phone}}`. A bad file raises ConfigFileError naming file, entry and field,
so a service stops at start instead of misrouting later.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shared import regions
from shared.config_files import DATA_DIR, ConfigFileError, entry_label, load_list

DEFAULT_FILE = DATA_DIR / "agencies.yaml"

LEVELS = ("national", "province", "regency", "city", "district", "unit")

# How many parts ("PP", "PP.KK", "PP.KK.CC") the region code of each level has.
# National agencies cover the whole country (no region); a unit may sit anywhere.
_REGION_DEPTH: dict[str, int | None] = {
    "national": 0,
    "province": 1,
    "regency": 2,
    "city": 2,
    "district": 3,
}

# Agency ids travel as actor ids and target_agency_id (<= 100 chars) in actions.
ID_FORMAT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$")
EMAIL_FORMAT = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
E164_FORMAT = re.compile(r"^\+[1-9]\d{6,14}$")


@dataclass(frozen=True)
class Contacts:
    email: str | None = None
    phone: str | None = None  # E.164


@dataclass(frozen=True)
class Agency:
    id: str
    name: str
    level: str  # one of LEVELS
    region_code: str | None
    parent_id: str | None
    timezone: str  # IANA name: Asia/Jakarta (WIB), Asia/Makassar (WITA), Asia/Jayapura (WIT)
    contacts: Contacts

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class AgencyRegistry:
    """Agencies by id, in file order, with their parent chain (acyclic, checked at load)."""

    def __init__(self, agencies: list[Agency]) -> None:
        self._by_id = {a.id: a for a in agencies}

    def __contains__(self, agency_id: object) -> bool:
        return agency_id in self._by_id

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Iterator[Agency]:
        return iter(self._by_id.values())

    def get(self, agency_id: str | None) -> Agency | None:
        return self._by_id.get(agency_id) if agency_id else None

    def require(self, agency_id: str) -> Agency:
        """The agency, or KeyError: for ids that must exist (validated rules, assignees)."""
        try:
            return self._by_id[agency_id]
        except KeyError:
            raise KeyError(f"unknown agency {agency_id!r}") from None

    def parent(self, agency_id: str) -> Agency | None:
        return self.get(self.require(agency_id).parent_id)

    def ancestors(self, agency_id: str) -> list[Agency]:
        """Parents of the agency, nearest first (the SLA escalation chain)."""
        chain: list[Agency] = []
        current = self.parent(agency_id)
        while current is not None:
            chain.append(current)
            current = self.get(current.parent_id)
        return chain

    def all(self) -> list[Agency]:
        return list(self._by_id.values())


def load_agencies(path: str | Path = DEFAULT_FILE) -> AgencyRegistry:
    items = load_list(path)
    agencies: list[Agency] = []
    labels: dict[str, str] = {}
    for index, item in enumerate(items):
        label = entry_label(index, item)
        agency = _parse_agency(path, label, item)
        if agency.id in labels:
            raise ConfigFileError(path, f"duplicate id (first at entry {labels[agency.id]})",
                                  label, "id")
        labels[agency.id] = label
        agencies.append(agency)

    by_id = {a.id: a for a in agencies}
    for agency in agencies:
        if agency.parent_id is not None and agency.parent_id not in by_id:
            raise ConfigFileError(path, f"unknown parent {agency.parent_id!r}",
                                  labels[agency.id], "parent_id")
    _check_acyclic(path, agencies, by_id, labels)
    return AgencyRegistry(agencies)


def _check_acyclic(path: str | Path, agencies: list[Agency], by_id: dict[str, Agency],
                   labels: dict[str, str]) -> None:
    # A cycle would make escalation (ancestors) loop forever: reject it at start.
    done: set[str] = set()
    for agency in agencies:
        trail: list[str] = []
        current: Agency | None = agency
        while current is not None and current.id not in done:
            if current.id in trail:
                cycle = trail[trail.index(current.id):] + [current.id]
                raise ConfigFileError(path, "parent chain forms a cycle: " + " -> ".join(cycle),
                                      labels[current.id], "parent_id")
            trail.append(current.id)
            current = by_id.get(current.parent_id) if current.parent_id else None
        done.update(trail)


def _text(path: str | Path, label: str, item: dict[str, Any], field: str) -> str:
    value = item.get(field)
    if not isinstance(value, str) or not value.strip():
        raise ConfigFileError(path, "required text missing", label, field)
    return value.strip()


def _optional_text(path: str | Path, label: str, item: dict[str, Any],
                   field: str) -> str | None:
    value = item.get(field)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigFileError(path, "must be text or null", label, field)
    return value.strip()


def _parse_agency(path: str | Path, label: str, item: dict[str, Any]) -> Agency:
    agency_id = _text(path, label, item, "id")
    if not ID_FORMAT.match(agency_id):
        raise ConfigFileError(path, "id must be 1..100 letters, digits, '_', '.', ':' or '-'",
                              label, "id")
    name = _text(path, label, item, "name")

    level = _text(path, label, item, "level")
    if level not in LEVELS:
        raise ConfigFileError(path, f"unknown level {level!r}, expected one of {', '.join(LEVELS)}",
                              label, "level")

    region_code = _optional_text(path, label, item, "region_code")
    if region_code is not None:
        if not regions.is_well_formed(region_code):
            raise ConfigFileError(path, f"region code {region_code!r} is not PP, PP.KK or PP.KK.CC",
                                  label, "region_code")
        if not regions.is_known(region_code):
            raise ConfigFileError(path, f"unknown region code {region_code!r}",
                                  label, "region_code")
    depth = _REGION_DEPTH.get(level)
    actual = len(region_code.split(".")) if region_code else 0
    if depth is not None and actual != depth:
        expected = "no region code" if depth == 0 else f"a region code of {depth} part(s)"
        raise ConfigFileError(path, f"a {level} agency needs {expected}", label, "region_code")

    parent_id = _optional_text(path, label, item, "parent_id")
    if parent_id == agency_id:
        raise ConfigFileError(path, "parent chain forms a cycle: an agency is its own parent",
                              label, "parent_id")

    timezone = _text(path, label, item, "timezone")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigFileError(path, f"unknown IANA time zone {timezone!r}",
                              label, "timezone") from None

    return Agency(agency_id, name, level, region_code, parent_id, timezone,
                  _parse_contacts(path, label, item))


def _parse_contacts(path: str | Path, label: str, item: dict[str, Any]) -> Contacts:
    contacts = item.get("contacts")
    if not isinstance(contacts, dict):
        raise ConfigFileError(path, "expected a mapping {email, phone}", label, "contacts")
    found: dict[str, str | None] = {}
    for key, pattern, what in (("email", EMAIL_FORMAT, "an email address"),
                               ("phone", E164_FORMAT, "a quoted E.164 phone number")):
        value = contacts.get(key)
        if value is not None and (not isinstance(value, str) or not pattern.match(value)):
            # An unquoted +62... in YAML becomes an int and loses its "+": caught here too.
            raise ConfigFileError(path, f"not {what}: {value!r}", label, f"contacts.{key}")
        found[key] = value
    if found["email"] is None and found["phone"] is None:
        raise ConfigFileError(path, "an agency needs an email or a phone", label, "contacts")
    return Contacts(found["email"], found["phone"])
