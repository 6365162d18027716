"""Phone numbers, e-mail addresses and free text as citizens type them."""

from __future__ import annotations

import pytest

from services.intake.domain.normalise import (
    clean_line,
    clean_text,
    is_valid_email,
    normalise_email,
    normalise_phone,
)

MOBILE = "+6281234567890"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("081234567890", MOBILE),
        ("6281234567890", MOBILE),
        ("+6281234567890", MOBILE),
        ("+62 812-3456-7890", MOBILE),
        ("+62-812-3456-7890", MOBILE),
        ("(0812) 3456 7890", MOBILE),
        ("0812.3456.7890", MOBILE),
        ("  0812 3456 7890  ", MOBILE),
        ("0812\u00a03456\u00a07890", MOBILE),  # non-breaking spaces from copy and paste
        ("+62 (0)812 3456 7890", MOBILE),
        ("+62 0812 3456 7890", MOBILE),
        ("0062 812 3456 7890", MOBILE),
        ("62-812-3456-7890", MOBILE),
        ("812-3456-7890", MOBILE),
        ("0811123456", "+62811123456"),
        ("081212345", "+6281212345"),  # shortest mobile: 9 digits
        ("0812345678901", "+62812345678901"),  # longest mobile: 13 digits
        ("0549-21001", "+6254921001"),  # Sangatta, Kutai Timur
        ("(0549) 21001", "+6254921001"),
        ("(021) 555-1234", "+62215551234"),
        ("021 5551 2345", "+622155512345"),
        ("+62 21 5551234", "+62215551234"),
        ("+1 (650) 253-0000", "+16502530000"),
        ("+44 20 7946 0958", "+442079460958"),
        ("+60 12-345 6789", "+60123456789"),
    ],
)
def test_phone_forms(raw: str, expected: str) -> None:
    assert normalise_phone(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "abc",
        "0812-ABCD-7890",
        "12345",
        "08123456",  # 8 digits: too short for a mobile
        "08123456789012",  # 14 digits: too long
        "0212345",  # landline too short
        "02123456789012",  # landline too long
        "08001234567",  # toll-free, not a reachable contact
        "112",
        "+",
        "+62",
        "++6281234567890",
        "+0123456789",
        "+1234567",  # foreign: fewer than 8 digits
        "+1234567890123456",  # foreign: more than 15 digits
        "\u0660\u0668\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669\u0660",  # Arabic-Indic
        "0812)3456(7890",
        "((0812)) 3456 7890",
        "0812 3456 7890 ext 12",
        "0812/3456/7890",
        "9" * 1000,
    ],
)
def test_phone_garbage(raw: str) -> None:
    assert normalise_phone(raw) is None


@pytest.mark.parametrize("raw", [None, 81234567890, 8.1e10, ["0812"], {"$ne": None}, True])
def test_phone_not_text(raw: object) -> None:
    assert normalise_phone(raw) is None


@pytest.mark.parametrize(
    "address",
    [
        "siti@example.co.id",
        "siti.aminah+lapor@example.id",
        "a@b.co",
        "BUDI@GMAIL.COM",
        "user_name-1@sub.domain-x.go.id",
        "warga@desa.id",
        "pak.rt@xn--80ak6aa92e.com",
        "ibu@contoh.indonesia",
        "o'brien@example.com",
        "x" * 64 + "@example.com",
        "a@" + ("d" * 60 + ".") * 3 + "com",
    ],
)
def test_valid_emails(address: str) -> None:
    assert is_valid_email(address)


@pytest.mark.parametrize(
    "address",
    [
        "",
        "siti",
        "siti@",
        "@example.id",
        "siti@example",
        "siti@@example.id",
        "siti@aminah@example.id",
        "siti aminah@example.id",
        "siti@example .id",
        " siti@example.id",
        "siti@example.id\n",
        ".siti@example.id",
        "siti.@example.id",
        "si..ti@example.id",
        "siti@-example.id",
        "siti@example-.id",
        "siti@example..id",
        "siti@example.id.",
        "siti@example.c",
        "siti@1.2.3.4",
        "siti@[127.0.0.1]",
        "siti(x)@example.id",
        "si\"ti@example.id",
        "siti\x00@example.id",
        "siti\u200b@example.id",  # zero-width space
        "x" * 65 + "@example.com",
        "a@" + ("d" * 64) + ".com",
        "a@" + ("d" * 62 + ".") * 4 + "com",  # longer than 254
    ],
)
def test_invalid_emails(address: str) -> None:
    assert not is_valid_email(address)


@pytest.mark.parametrize("value", [None, 1, ["a@b.id"], {"$ne": 1}])
def test_email_not_text(value: object) -> None:
    assert not is_valid_email(value) and normalise_email(value) is None


def test_normalise_email_lowers_only_the_domain() -> None:
    assert normalise_email("  Siti.Aminah@Example.CO.ID ") == "Siti.Aminah@example.co.id"
    assert normalise_email("not an address") is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Jalan rusak  ", "Jalan rusak"),
        ("baris satu\r\nbaris dua\rbaris tiga", "baris satu\nbaris dua\nbaris tiga"),
        ("kolom\tdua", "kolom\tdua"),
        ("nul\x00 bel\x07 esc\x1b del\x7f c1\x85", "nul bel esc del c1"),
        ("Cafe\u0301", "Caf\u00e9"),  # NFC
        ("surrogate \ud800 removed", "surrogate  removed"),
        ("bidi \u202etxt.exe\u202c trick", "bidi txt.exe trick"),
        ("emoji \U0001f44d\U0001f3fd tetap", "emoji \U0001f44d\U0001f3fd tetap"),
        ("\n\n  teks  \n\n", "teks"),
        ("\x00\x01", ""),
        ("", ""),
    ],
)
def test_clean_text(raw: str, expected: str) -> None:
    assert clean_text(raw) == expected


def test_clean_line_puts_text_on_one_line() -> None:
    assert clean_line("  Jalan\r\nrusak\t\tparah  ") == "Jalan rusak parah"
