"""SMS segment counting (GSM 03.38 / UCS-2) and fitting text into a segment budget."""

import pytest

from services.notifier.domain.sms import (
    SmsTooLong,
    fit_sms,
    sms_encoding,
    sms_friendly,
    sms_length,
    sms_segments,
)

CJK = "\u4f60"  # one UTF-16 code unit, outside GSM-7
EMOJI = "\U0001f600"  # two UTF-16 code units (a surrogate pair)


@pytest.mark.parametrize(
    ("length", "segments"),
    [(1, 1), (160, 1), (161, 2), (306, 2), (307, 3), (459, 3), (460, 4)],
)
def test_gsm7_boundaries(length: int, segments: int) -> None:
    text = "a" * length
    assert sms_encoding(text) == "GSM-7"
    assert sms_segments(text) == segments


def test_empty_text_is_still_one_message() -> None:
    assert sms_segments("") == 1


def test_gsm7_basic_specials_stay_single_septet() -> None:
    text = "@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ!\"#¤%&'()*+,-./:;<=>?¡ÄÖÑÜ§¿äöñüà\n\r"
    assert sms_encoding(text) == "GSM-7"
    assert sms_length(text) == len(text)


@pytest.mark.parametrize("char", list("^{}\\[~]|€\f"))
def test_extension_chars_count_double(char: str) -> None:
    assert sms_encoding(char) == "GSM-7"
    assert sms_length(char) == 2
    assert sms_segments(char * 80) == 1  # 160 septets
    assert sms_segments(char * 80 + "a") == 2  # 161 septets


def test_extension_char_is_not_split_across_segments() -> None:
    # 152 + 2 + 151 = 305 septets; the euro cannot start in part 1's last septet,
    # so part 1 carries 152, part 2 carries 2 + 151 = 153: still 2 segments.
    assert sms_segments("a" * 152 + "€" + "a" * 151) == 2
    # 306 septets would be 2 segments by naive division, but the escape pair moves
    # whole to part 2 and pushes the last character into part 3.
    text = "a" * 152 + "€" + "a" * 152
    assert sms_length(text) == 306
    assert sms_segments(text) == 3


@pytest.mark.parametrize(
    ("length", "segments"),
    [(70, 1), (71, 2), (134, 2), (135, 3), (201, 3), (202, 4)],
)
def test_ucs2_boundaries(length: int, segments: int) -> None:
    text = CJK * length
    assert sms_encoding(text) == "UCS-2"
    assert sms_segments(text) == segments


def test_one_non_gsm_char_switches_the_whole_message_to_ucs2() -> None:
    text = "a" * 69 + CJK
    assert sms_segments(text) == 1
    assert sms_segments("a" * 70 + CJK) == 2


def test_emoji_counts_as_two_code_units() -> None:
    assert sms_length(EMOJI) == 2
    assert sms_segments(EMOJI * 35) == 1  # 70 units
    assert sms_segments(EMOJI * 35 + "a") == 2  # 71 units


def test_surrogate_pair_is_not_split_across_segments() -> None:
    assert sms_segments(CJK * 66 + EMOJI + CJK * 65) == 2  # 66 | 2 + 65
    text = CJK * 66 + EMOJI + CJK * 66
    assert sms_length(text) == 134
    assert sms_segments(text) == 3  # 66 | 2 + 65 | 1


def test_indonesian_smart_quotes_switch_to_ucs2() -> None:
    plain = 'Warga bilang "jalan di Sangatta rusak parah" sejak Januari.'
    smart = "Warga bilang \u201cjalan di Sangatta rusak parah\u201d sejak Januari."
    assert sms_encoding(plain) == "GSM-7"
    assert sms_encoding(smart) == "UCS-2"
    assert sms_encoding("Jum\u2019at \u2013 pukul 10.00\u2026") == "UCS-2"
    assert sms_segments(smart * 2) == 2 and sms_segments(plain * 2) == 1


def test_sms_friendly_maps_typography_to_gsm7_and_collapses_whitespace() -> None:
    text = "Jum\u2019at \u201cpagi\u201d \u2013 selesai\u2026\n\n  Terima\u00a0kasih"
    friendly = sms_friendly(text)
    assert friendly == "Jum'at \"pagi\" - selesai... Terima kasih"
    assert sms_encoding(friendly) == "GSM-7"
    assert sms_friendly("Arabic \u0627 and emoji " + EMOJI) == "Arabic \u0627 and emoji " + EMOJI


def test_escape_char_alone_is_not_gsm_text() -> None:
    assert sms_encoding("\x1b") == "UCS-2"


def test_fit_sms_keeps_text_that_already_fits() -> None:
    assert fit_sms("Kode: ", "abc", " end") == "Kode: abc end"


@pytest.mark.parametrize(
    "hostile",
    ["x" * 10_000, "€" * 10_000, CJK * 10_000, EMOJI * 10_000, ("a" * 66 + EMOJI) * 200],
)
def test_fit_sms_truncates_only_the_variable_part(hostile: str) -> None:
    before, after = "LAPOR! No LPR-2026-ABCD1234 kode k7Q2-xP9m: ", "\nPantau: https://x.id/a"
    text = fit_sms(before, hostile, after, max_segments=3)
    assert text.startswith(before) and text.endswith(after)
    assert sms_segments(text) <= 3
    middle = text[len(before):-len(after)]
    assert middle.endswith(("...", "\u2026"))
    assert len(middle) > 1  # something of the message survives
    text.encode("utf-16")  # no lone surrogate anywhere
    # Tight: one more character of the message would no longer fit.
    kept = middle.rstrip(".\u2026")
    longer = before + hostile[: len(kept) + 1] + middle[len(kept):] + after
    assert sms_segments(longer) > 3 or len(kept) + 1 > len(hostile)


def test_fit_sms_uses_gsm_ellipsis_when_the_result_is_gsm7() -> None:
    text = fit_sms("A: ", "b" * 1000, "", max_segments=1)
    assert text.endswith("...") and sms_encoding(text) == "GSM-7" and sms_segments(text) == 1


def test_fit_sms_never_cuts_fixed_parts() -> None:
    with pytest.raises(SmsTooLong):
        fit_sms("x" * 500, "message", "", max_segments=3)
