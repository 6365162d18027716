"""The agency registry: loading, hierarchy queries and every kind of bad file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.agencies import DEFAULT_FILE, LEVELS, Agency, AgencyRegistry, Contacts, load_agencies
from shared.config_files import ConfigFileError


def agency(id: str, **overrides: Any) -> dict[str, Any]:
    entry = {"id": id, "name": f"Agency {id}", "level": "national", "region_code": None,
             "parent_id": None, "timezone": "Asia/Jakarta",
             "contacts": {"email": f"{id}@example.go.id", "phone": "+62211234567"}}
    entry.update(overrides)
    return entry


_DELETE = object()  # marks a key to remove in _bad_cases


def base() -> list[dict[str, Any]]:
    return [
        agency("national"),
        agency("prov", level="province", region_code="64", parent_id="national",
               timezone="Asia/Makassar"),
        agency("regency", level="regency", region_code="64.08", parent_id="prov"),
        agency("district", level="district", region_code="64.08.04", parent_id="regency"),
    ]


def write(tmp_path: Path, entries: Any) -> Path:
    path = tmp_path / "agencies.yaml"
    path.write_text(yaml.safe_dump(entries, sort_keys=False), encoding="utf-8")
    return path


def test_valid_file_loads(tmp_path: Path) -> None:
    registry = load_agencies(write(tmp_path, base()))
    assert len(registry) == 4
    assert [a.id for a in registry.all()] == ["national", "prov", "regency", "district"]
    district = registry.get("district")
    assert district == Agency("district", "Agency district", "district", "64.08.04", "regency",
                              "Asia/Jakarta", Contacts("district@example.go.id", "+62211234567"))


def test_registry_queries(tmp_path: Path) -> None:
    registry = load_agencies(write(tmp_path, base()))
    assert "regency" in registry and "nope" not in registry and None not in registry
    assert registry.get("nope") is None and registry.get(None) is None
    assert registry.parent("district").id == "regency"  # type: ignore[union-attr]
    assert registry.parent("national") is None
    assert [a.id for a in registry.ancestors("district")] == ["regency", "prov", "national"]
    assert registry.ancestors("national") == []
    assert registry.require("prov").tz.key == "Asia/Makassar"
    with pytest.raises(KeyError):
        registry.require("nope")
    with pytest.raises(KeyError):
        registry.ancestors("nope")


def test_contacts_may_have_only_one_channel(tmp_path: Path) -> None:
    entries = base()
    entries[0]["contacts"] = {"email": "only@example.go.id"}
    assert load_agencies(write(tmp_path, entries)).require("national").contacts.phone is None


def test_missing_region_and_parent_keys_mean_null(tmp_path: Path) -> None:
    entries = base()
    del entries[0]["region_code"], entries[0]["parent_id"]
    assert load_agencies(write(tmp_path, entries)).require("national").region_code is None


def _bad_cases() -> list[Any]:
    def edit(index: int, **changes: Any) -> list[dict[str, Any]]:
        entries = base()
        for key, value in changes.items():
            if value is _DELETE:
                del entries[index][key]
            else:
                entries[index][key] = value
        return entries

    duplicate = base() + [agency("prov", level="province", region_code="64")]
    cycle = base()
    cycle[1]["parent_id"] = "district"  # prov -> district -> regency -> prov
    return [
        pytest.param(edit(1, name=_DELETE), "#2 (prov)", "name", "required", id="missing-name"),
        pytest.param(edit(1, name="  "), "#2 (prov)", "name", "required", id="blank-name"),
        pytest.param(edit(0, id=None), "#1", "id", "required", id="missing-id"),
        pytest.param(edit(0, id="has space"), "#1 (has space)", "id", "id must",
                     id="invalid-id"),
        pytest.param(duplicate, "#5 (prov)", "id", "duplicate id", id="duplicate-id"),
        pytest.param(edit(2, parent_id="ghost"), "#3 (regency)", "parent_id",
                     "unknown parent 'ghost'", id="unknown-parent"),
        pytest.param(cycle, "#2 (prov)", "parent_id", "prov -> district -> regency -> prov",
                     id="cycle"),
        pytest.param(edit(3, parent_id="district"), "#4 (district)", "parent_id", "cycle",
                     id="self-parent"),
        pytest.param(edit(1, timezone="Asia/Borneo"), "#2 (prov)", "timezone",
                     "IANA time zone", id="invalid-timezone"),
        pytest.param(edit(1, timezone=_DELETE), "#2 (prov)", "timezone", "required",
                     id="missing-timezone"),
        pytest.param(edit(2, region_code="64-08"), "#3 (regency)", "region_code",
                     "not PP, PP.KK", id="malformed-region"),
        pytest.param(edit(2, region_code="64.99"), "#3 (regency)", "region_code",
                     "unknown region code", id="unknown-region"),
        pytest.param(edit(1, level="ministry"), "#2 (prov)", "level", "unknown level",
                     id="invalid-level"),
        pytest.param(edit(2, level="district"), "#3 (regency)", "region_code",
                     "district agency needs", id="level-region-mismatch"),
        pytest.param(edit(0, region_code="64"), "#1 (national)", "region_code",
                     "national agency needs no region", id="national-with-region"),
        pytest.param(edit(0, contacts=_DELETE), "#1 (national)", "contacts", "mapping",
                     id="missing-contacts"),
        pytest.param(edit(0, contacts={}), "#1 (national)", "contacts", "email or a phone",
                     id="empty-contacts"),
        pytest.param(edit(0, contacts={"email": "not-an-email"}), "#1 (national)",
                     "contacts.email", "email", id="invalid-email"),
        pytest.param(edit(0, contacts={"phone": 62211234567}), "#1 (national)",
                     "contacts.phone", "E.164", id="unquoted-phone"),
    ]



@pytest.mark.parametrize(("entries", "entry", "field", "problem"), _bad_cases())
def test_bad_file_names_file_entry_and_field(tmp_path: Path, entries: Any, entry: str,
                                             field: str, problem: str) -> None:
    path = write(tmp_path, entries)
    with pytest.raises(ConfigFileError) as caught:
        load_agencies(path)
    error = caught.value
    assert error.path == str(path) and error.field == field
    assert entry in (error.entry or "")
    message = str(error)
    assert str(path) in message and f"entry {error.entry}" in message and repr(field) in message
    assert problem in message


@pytest.mark.parametrize("content", ["{id: x}", "- just a string", "[unclosed"])
def test_not_a_list_of_mappings(tmp_path: Path, content: str) -> None:
    path = tmp_path / "agencies.yaml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigFileError, match=str(path)):
        load_agencies(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigFileError, match="file not found"):
        load_agencies(tmp_path / "absent.yaml")


def test_shipped_agencies_load_cleanly() -> None:
    registry = load_agencies(DEFAULT_FILE)
    assert len(registry) >= 20
    assert {a.level for a in registry} <= set(LEVELS)
    # Every escalation chain ends at the national coordinator of the SLA policy.
    for a in registry:
        if a.id != "kemenpanrb":
            assert registry.ancestors(a.id)[-1].id == "kemenpanrb", a.id
    kutim = registry.require("kutim-pupr")
    assert kutim.timezone == "Asia/Makassar" and kutim.region_code == "64.08"
    assert [a.id for a in registry.ancestors("kec-sangatta-utara")] == [
        "pemkab-kutim", "pemprov-kaltim", "kemendagri", "kemenpanrb"]


def test_registry_can_be_built_directly() -> None:
    contacts = Contacts(email="a@b.go.id")
    registry = AgencyRegistry([Agency("a", "A", "unit", None, None, "Asia/Jayapura", contacts)])
    assert registry.require("a").tz.key == "Asia/Jayapura"
