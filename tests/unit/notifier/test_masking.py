"""Masked recipients: recognisable, never the full address or number."""

import pytest

from services.notifier.domain.masking import mask_email, mask_phone, mask_recipient


@pytest.mark.parametrize(
    ("address", "masked"),
    [
        ("budi.santoso@example.com", "b***o@e***.com"),
        ("Siti@Mail.Kutaitimurkab.go.id", "S***i@M***.id"),
        ("ab@x.co", "a***@***.co"),
        ("a@b.id", "***@***.id"),
        ("user@localhost", "u***r@***"),
        ("not-an-email", "***"),
        ("", "***"),
    ],
)
def test_mask_email(address: str, masked: str) -> None:
    assert mask_email(address) == masked


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("+6281234567890", "+62812*****890"),
        ("+62217398381", "+6221****381"),
        ("081234567890", "0812*****890"),
        ("+1234", "+***4"),
        ("7", "*"),
        ("", "***"),
    ],
)
def test_mask_phone(number: str, masked: str) -> None:
    assert mask_phone(number) == masked


@pytest.mark.parametrize("number", ["+6281234567890", "12", "123", "1234567", "+628123456789012"])
def test_masked_phone_never_reveals_every_digit(number: str) -> None:
    masked = mask_phone(number)
    assert "*" in masked
    assert sum(ch.isdigit() for ch in masked) < sum(ch.isdigit() for ch in number)


def test_mask_recipient_by_channel() -> None:
    assert mask_recipient("sms", "+6281234567890") == "+62812*****890"
    assert mask_recipient("email", "budi.santoso@example.com") == "b***o@e***.com"
