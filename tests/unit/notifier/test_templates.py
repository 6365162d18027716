"""Every template in both languages: facts present, values escaped, SMS within budget."""

from __future__ import annotations

import html
from string import Template

import pytest

from services.notifier.domain.sms import sms_encoding, sms_segments
from services.notifier.domain.template_texts import TEXTS
from services.notifier.domain.templates import (
    SPECS,
    MissingContext,
    RenderedNotification,
    TemplateId,
    render,
    substitute,
    tracking_url,
)
from shared.contract import Language

from .samples import (
    BASE_URL,
    IMG,
    LONG_AGENCY,
    REPORTER_FRAGMENTS,
    REPORTER_LEAKS,
    SCRIPT,
    SECRET,
    TRACKING_ID,
    context,
)

LANGS = [Language.ID, Language.EN]
CITIZEN = [t for t in TemplateId if SPECS[t].audience == "citizen"]
AGENCY = [t for t in TemplateId if SPECS[t].audience == "agency"]
WITH_MESSAGE = [t for t in CITIZEN if "message" in SPECS[t].keys]
SMS_WITH_MESSAGE = [t for t in WITH_MESSAGE if t != TemplateId.ASSIGNED]  # SMS omits the note
URL = f"{BASE_URL}/v1/complaints/{TRACKING_ID}"


def sms_of(rendered: RenderedNotification) -> str:
    assert rendered.sms is not None
    return rendered.sms.text


def all_parts(template: TemplateId, lang: Language, ctx: dict[str, object]) -> list[str]:
    r = render(template, lang, ctx)
    return [r.email.subject, r.email.text, r.email.html, *([sms_of(r)] if r.sms else [])]


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("template", list(TemplateId))
def test_every_template_renders_with_tracking_id(template: TemplateId, lang: Language) -> None:
    r = render(template, lang, context(template))
    assert r.template == template and r.language == lang
    for part in all_parts(template, lang, context(template)):
        assert TRACKING_ID in part
    assert "\n" not in r.email.subject and r.email.subject.startswith("[LAPOR!]")
    assert r.email.html.startswith("<!DOCTYPE html>") and f'lang="{lang.value}"' in r.email.html
    assert "$" not in r.email.text  # no placeholder left behind
    assert (r.sms is None) == (template in AGENCY)


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("template", CITIZEN)
def test_citizen_templates_link_the_public_tracking_page(template: TemplateId,
                                                         lang: Language) -> None:
    r = render(template, lang, context(template))
    assert URL in r.email.text and URL in sms_of(r)
    assert f'<a href="{URL}">' in r.email.html
    assert tracking_url(BASE_URL + "/", TRACKING_ID) == URL


@pytest.mark.parametrize("lang", LANGS)
def test_acknowledgement_carries_secret_and_how_to_reply(lang: Language) -> None:
    r = render("acknowledgement", lang, context("acknowledgement"))
    for part in (r.email.text, r.email.html, sms_of(r)):
        assert SECRET in part
    assert SECRET not in r.email.subject  # subjects show up in previews and logs
    assert "Jalan rusak" in r.email.text and "Infrastruktur" in r.email.text
    reply = "kanal tempat Anda melapor" if lang == Language.ID else "channel you used to report"
    assert reply in r.email.text


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("template", [t for t in TemplateId if t != "acknowledgement"])
def test_secret_appears_only_in_the_acknowledgement(template: TemplateId, lang: Language) -> None:
    for part in all_parts(template, lang, context(template, citizen_secret=SECRET)):
        assert SECRET not in part


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("template", ["assigned", "in_progress", "waiting_citizen", "resolved"])
def test_agency_name_is_shown(template: str, lang: Language) -> None:
    for part in all_parts(TemplateId(template), lang, context(template))[1:]:  # not subject
        assert "Dinas PUPR Kutai Timur" in part


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("template", ["in_progress", "waiting_citizen", "resolved", "closed",
                                      "rejected"])
def test_agency_message_is_shown(template: str, lang: Language) -> None:
    message = str(context(template)["message"])
    r = render(template, lang, context(template))
    assert message in r.email.text and message in r.email.html and message in sms_of(r)


@pytest.mark.parametrize("lang", LANGS)
def test_waiting_citizen_and_resolved_explain_how_to_answer(lang: Language) -> None:
    for template in ("waiting_citizen", "resolved"):
        r = render(template, lang, context(template))
        assert ("kode rahasia" if lang == Language.ID else "secret code") in r.email.text
        assert ("kode rahasia" if lang == Language.ID else "secret code") in sms_of(r)
    resolved = render("resolved", lang, context("resolved")).email.text
    assert ("buka kembali" if lang == Language.ID else "reopen") in resolved


@pytest.mark.parametrize("lang", LANGS)
def test_escalated_names_the_target_agency(lang: Language) -> None:
    for part in all_parts(TemplateId.ESCALATED, lang, context("escalated")):
        assert "Pemerintah Kabupaten Kutai Timur" in part
    assert "Dinas PUPR" in render("escalated", lang, context("escalated")).email.text


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("template", WITH_MESSAGE)
def test_optional_message_may_be_absent(template: TemplateId, lang: Language) -> None:
    r = render(template, lang, context(template, message=None))
    assert "None" not in r.email.text and "$" not in sms_of(r)
    assert "<blockquote" not in r.email.html


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("template", CITIZEN)
def test_sms_fixed_wording_is_gsm7(template: TemplateId, lang: Language) -> None:
    r = render(template, lang, context(template))
    assert sms_encoding(sms_of(r)) == "GSM-7", sms_of(r)
    assert sms_segments(sms_of(r)) <= 3


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("template", WITH_MESSAGE)
@pytest.mark.parametrize("hostile", ["Mohon maaf. " * 834, "\u201cJalan\u201d \U0001f600 " * 1000])
def test_sms_fits_three_segments_with_hostile_message(template: TemplateId, lang: Language,
                                                      hostile: str) -> None:
    assert len(hostile) >= 10_000
    ctx = context(template, message=hostile, agency_name=LONG_AGENCY,
                  escalated_to_agency_name=LONG_AGENCY)
    sms = sms_of(render(template, lang, ctx))
    assert sms_segments(sms) <= 3
    assert TRACKING_ID in sms and URL in sms
    assert ("..." in sms or "\u2026" in sms) == (template in SMS_WITH_MESSAGE)
    email = render(template, lang, ctx).email.text
    assert hostile in email  # email keeps the full text


@pytest.mark.parametrize("lang", LANGS)
def test_acknowledgement_sms_keeps_id_and_secret_with_long_values(lang: Language) -> None:
    ctx = context("acknowledgement", title="T" * 10_000, body="B" * 10_000)
    sms = sms_of(render("acknowledgement", lang, ctx))
    assert TRACKING_ID in sms and SECRET in sms and sms_segments(sms) <= 3
    assert "TTT" not in sms and "BBB" not in sms


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("template", CITIZEN)
@pytest.mark.parametrize("payload", [SCRIPT, IMG])
def test_hostile_input_is_escaped_in_html_and_verbatim_in_text(template: TemplateId,
                                                              lang: Language,
                                                              payload: str) -> None:
    ctx = context(template, title=f"Judul {payload}", body=f"Isi laporan {payload}",
                  message=f"Pesan {payload}")
    r = render(template, lang, ctx)
    assert "<script" not in r.email.html and "<img" not in r.email.html
    assert "onerror=alert(1)>" not in r.email.html
    assert "&lt;" in r.email.html
    assert payload in r.email.text  # plain text stays plain
    assert "<" not in r.email.subject


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("template", AGENCY)
def test_agency_alerts_never_show_reporter_identity(template: TemplateId, lang: Language) -> None:
    ctx = context(template, **REPORTER_LEAKS)
    for part in all_parts(template, lang, ctx):
        for fragment in REPORTER_FRAGMENTS:
            assert fragment not in part
    assert not {"name", "email", "phone", "title", "body", "message"} & SPECS[template].keys
    assert not any(k.startswith("reporter") for k in SPECS[template].keys)


def test_sla_warning_shows_stage_threshold_and_local_due_time() -> None:
    r = render("agency_sla_warning", Language.ID, context("agency_sla_warning"))
    assert "75%" in r.email.subject and "75%" in r.email.text
    assert "7 Januari 2026 pukul 17.00 WITA" in r.email.text
    assert "respons instansi" in r.email.text
    en = render("agency_sla_warning", "en", context("agency_sla_warning"))
    assert "7 January 2026, 17:00 WITA (UTC+08:00)" in en.email.text


def test_sla_breached_shows_level_overdue_and_target() -> None:
    r = render("agency_sla_breached", Language.ID, context("agency_sla_breached"))
    assert "level 2" in r.email.subject
    assert "2 hari 3 jam" in r.email.text
    assert "Pemerintah Kabupaten Kutai Timur" in r.email.text
    assert "penyelesaian" in r.email.text
    assert "<strong>2 hari 3 jam</strong>" in r.email.html


def test_due_time_accepts_iso_strings() -> None:
    r = render("agency_sla_warning", "id", context("agency_sla_warning",
                                                   due_at="2026-01-07T09:00:00Z",
                                                   timezone="Asia/Jayapura"))
    assert "7 Januari 2026 pukul 18.00 WIT " in r.email.text


def test_missing_required_context_is_an_error() -> None:
    with pytest.raises(MissingContext, match="citizen_secret"):
        render("acknowledgement", "id", {"tracking_id": TRACKING_ID, "public_base_url": BASE_URL})
    with pytest.raises(MissingContext, match="agency_name"):
        render("assigned", "id", context("assigned", agency_name="  "))


def test_unknown_template_or_language_is_an_error() -> None:
    with pytest.raises(ValueError):
        render("birthday", "id", {})
    with pytest.raises(ValueError):
        render("assigned", "jv", context("assigned"))


def test_base_url_must_be_http() -> None:
    with pytest.raises(ValueError, match="public_base_url"):
        render("triage", "id", context("triage", public_base_url="javascript:alert(1)//"))


def test_subject_is_a_single_line_even_with_newlines_in_values() -> None:
    r = render("assigned", "id", context("assigned", agency_name="Dinas\r\nBcc: x@evil.test"))
    assert "\n" not in r.email.subject and "\r" not in r.email.subject


def test_sms_normalises_typography_of_agency_messages() -> None:
    r = render("resolved", "id", context("resolved", message="Jalan \u201csudah\u201d diaspal"))
    assert 'Jalan "sudah" diaspal' in sms_of(r) and sms_encoding(sms_of(r)) == "GSM-7"
    assert "\u201csudah\u201d" in r.email.text  # email keeps the original characters


@pytest.mark.parametrize("lang", LANGS)
def test_an_email_is_rendered_without_its_sms_form_and_otherwise_the_same(lang: Language) -> None:
    both = render("acknowledgement", lang, context("acknowledgement"))
    email_only = render("acknowledgement", lang, context("acknowledgement"),
                        for_channel="email")
    assert both.sms is not None and email_only.sms is None
    assert email_only.email == both.email


ALL_TEXTS = sorted({text for by_language in TEXTS.values() for wording in by_language.values()
                    for text in (wording.subject, wording.sms, wording.sms_without_message,
                                 *(block.text for block in wording.blocks)) if text})


@pytest.mark.parametrize("text", ALL_TEXTS)
def test_every_wording_fills_as_string_template_fills_it(text: str) -> None:
    values = {name: f"{{{name}}} ${name} <{name}>" for name in Template(text).get_identifiers()}
    assert substitute(text, values) == Template(text).substitute(values)


@pytest.mark.parametrize("text", ["Biaya $$5 {tanpa} ${tracking_id}x, $tracking_id.",
                                  "{{}} $title}", "$a$b ${a}"])
def test_compiled_patterns_keep_dollars_braces_and_adjacent_names(text: str) -> None:
    values = {"tracking_id": "7KQ2", "title": "{0} {x.y}", "a": "A", "b": "$b"}
    assert substitute(text, values) == Template(text).substitute(values)


def test_a_missing_value_or_a_stray_dollar_is_an_error_as_with_string_template() -> None:
    with pytest.raises(KeyError, match="title"):
        substitute("Judul: $title", {})
    with pytest.raises(ValueError, match="invalid placeholder"):
        substitute("Biaya $ 5", {})


def test_links_keep_their_address_apart_from_the_text_shown() -> None:
    base = "https://x.test/a?b=1&c=2\nd"  # a line break shows as <br>, never in the address
    r = render("triage", Language.EN, context("triage", public_base_url=base))
    url = html.escape(tracking_url(base, TRACKING_ID), quote=True)
    assert f'<a href="{url}">{url.replace(chr(10), "<br>" + chr(10))}</a>' in r.email.html
    assert "-href" not in r.email.html
