"""Shared fixtures for intake's domain tests: the shipped taxonomy and a valid submission."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from shared.categories import Taxonomy, load_taxonomy

VALID_SUBMISSION: dict[str, Any] = {
    "channel": "web",
    "channel_ref": "web-2026-000123",
    "submitted_at": "2026-01-05T09:30:00+07:00",
    "kind": "complaint",
    "title": "Jalan rusak di Sangatta Utara",
    "body": "Jalan di depan SDN 012 Sangatta Utara rusak parah dan berlubang sejak tiga bulan.",
    "category": "infrastructure.roads",
    "region_code": "64.08.04",
    "location": {"lat": 0.51, "lon": 117.6, "address": "Jl. Yos Sudarso No. 1"},
    "reporter": {
        "name": "Siti Aminah",
        "email": "siti.aminah@example.co.id",
        "phone": "0812-3456-7890",
        "language": "id",
        "anonymous": False,
        "confidential": False,
    },
    "attachments": [
        {"url": "https://files.example.id/foto/1.jpg", "content_type": "image/jpeg",
         "size_bytes": 204_800},
    ],
}


@pytest.fixture(scope="session")
def taxonomy() -> Taxonomy:
    return load_taxonomy()


@pytest.fixture
def valid() -> dict[str, Any]:
    return copy.deepcopy(VALID_SUBMISSION)
