"""Name-based ids are stored and published: they must be exactly uuid5's."""

from __future__ import annotations

import uuid

import pytest

from services.notifier.domain.planning import NOTIFICATION_NAMESPACE
from shared.name_ids import name_based_id

NAMES = ["", "a", "lapor.complaints/0/12345/routed", "Kutai Timur — Sangatta é ü 日本",
         "\x1f".join(("9f0e", "email", "siti@example.id", "acknowledgement")), "x" * 5000]


@pytest.mark.parametrize("namespace", [uuid.NAMESPACE_URL, NOTIFICATION_NAMESPACE,
                                       uuid.UUID("0b8f6f1e-93a6-4c1c-8d0a-2f4f8f7c0c11")])
@pytest.mark.parametrize("name", NAMES)
def test_the_id_is_uuid5_in_its_canonical_form(namespace: uuid.UUID, name: str) -> None:
    assert name_based_id(namespace, name) == str(uuid.uuid5(namespace, name))


def test_many_names_agree_with_uuid5() -> None:
    names = [f"{i}/{i * 7919 % 104729}/sent" for i in range(2000)]
    assert [name_based_id(uuid.NAMESPACE_DNS, n) for n in names] == \
        [str(uuid.uuid5(uuid.NAMESPACE_DNS, n)) for n in names]
