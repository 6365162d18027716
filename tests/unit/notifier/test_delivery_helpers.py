"""Pure helpers of the delivery side: failure descriptions, the e-mail built for SMTP,
Message-ID domain, Retry-After, and the outcome events published for the ledger."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.utils import parsedate_to_datetime

import aiosmtplib
import httpx
import pytest

from services.notifier.adapters.sms_gateway import SmsGatewayError, parse_retry_after
from services.notifier.adapters.smtp import DateHeader, build_email
from services.notifier.adapters.smtp_pipelining import crlf_form
from services.notifier.delivery import message_id_domain, outcome_event
from services.notifier.domain.delivery_policy import (
    FailureKind,
    classify_http,
    describe_failure,
    failure_code,
)

REQUEST = httpx.Request("POST", "https://sms.example/send")


@pytest.mark.parametrize(
    ("error", "described"),
    [
        (aiosmtplib.SMTPRecipientsRefused(
            [aiosmtplib.SMTPRecipientRefused(451, "budi@example.com full", "budi@example.com")]),
         "SMTPRecipientsRefused 451"),
        (aiosmtplib.SMTPDataError(554, "rejected for budi@example.com"), "SMTPDataError 554"),
        (ConnectionRefusedError(111, "refused"), "ConnectionRefusedError"),
        (SmsGatewayError(503), "SmsGatewayError 503"),
        (httpx.ConnectTimeout("slow", request=REQUEST), "ConnectTimeout"),
    ],
)
def test_failures_are_described_by_class_and_code_never_by_text(error: Exception,
                                                                 described: str) -> None:
    assert describe_failure(error) == described
    assert "budi" not in describe_failure(error)


def test_failure_code_reads_http_responses() -> None:
    response = httpx.Response(429, request=REQUEST)
    error = httpx.HTTPStatusError("too many", request=REQUEST, response=response)
    assert failure_code(error) == 429
    assert failure_code(ValueError("x")) is None


@pytest.mark.parametrize(("status", "kind"), [(500, FailureKind.TRANSIENT),
                                              (503, FailureKind.TRANSIENT),
                                              (429, FailureKind.TRANSIENT),
                                              (400, FailureKind.PERMANENT),
                                              (401, FailureKind.PERMANENT)])
def test_gateway_errors_classify_by_status(status: int, kind: FailureKind) -> None:
    assert classify_http(SmsGatewayError(status)) is kind


@pytest.mark.parametrize(("header", "delay"), [("30", timedelta(seconds=30)), (" 5 ", timedelta(
    seconds=5)), ("Wed, 21 Oct 2026 07:28:00 GMT", None), (None, None), ("-1", None)])
def test_retry_after_seconds_only(header: str | None, delay: timedelta | None) -> None:
    assert parse_retry_after(header) == delay


@pytest.mark.parametrize(("sender", "domain"), [
    ("LAPOR! <noreply@lapor.go.id>", "lapor.go.id"),
    ("noreply@Kutaitimurkab.go.id", "kutaitimurkab.go.id"),
    ("LAPOR", "lapor.local"),
    ("", "lapor.local"),
])
def test_message_id_domain_from_the_sender(sender: str, domain: str) -> None:
    assert message_id_domain(sender) == domain


def test_email_keeps_its_headers_and_both_parts() -> None:
    message = build_email(sender="LAPOR! <noreply@lapor.go.id>", to="siti@example.id",
                          subject="[LAPOR!] Laporan Anda telah diterima - 7KQ2-M9XD-4",
                          text="Halo", html="<p>Halo</p>", message_id="<n1@lapor.go.id>",
                          tracking_id="7KQ2-M9XD-4", language="id")
    parsed = message_from_bytes(message.data, policy=policy.default)
    assert parsed["Message-ID"] == "<n1@lapor.go.id>"
    assert parsed["X-Lapor-Tracking-Id"] == "7KQ2-M9XD-4"
    assert parsed["Content-Language"] == "id"  # set_content() would have dropped it
    assert parsed["Auto-Submitted"] == "auto-generated"
    assert parsed.get_content_type() == "multipart/alternative"
    assert parsed.get_body(("plain",)).get_content().strip() == "Halo"
    assert parsed.get_body(("html",)).get_content().strip() == "<p>Halo</p>"


def test_non_ascii_headers_and_bodies_survive_the_round_trip() -> None:
    subject = "[LAPOR!] Laporan Anda — diterima: jalan rusak di Sangatta"
    message = build_email(sender="LAPOR! Kutai Timur — Layanan <noreply@lapor.go.id>",
                          to="siti@example.id", subject=subject,
                          text="Terima kasih, Bu Siti — laporan Anda kami terima. Ñ é",
                          html=None, message_id="<n2@lapor.go.id>",
                          tracking_id="7KQ2-M9XD-4", language="id")
    raw = message.data
    assert max(raw) < 128  # 7-bit on the wire: encoded words and quoted-printable
    parsed = message_from_bytes(raw, policy=policy.default)
    assert parsed["Subject"] == subject
    assert parsed["From"].addresses[0].display_name == "LAPOR! Kutai Timur — Layanan"
    assert parsed["From"].addresses[0].addr_spec == "noreply@lapor.go.id"
    assert parsed.get_content_type() == "text/plain"
    assert parsed.get_content().strip() == "Terima kasih, Bu Siti — laporan Anda kami terima. Ñ é"
    assert parsed["Content-Language"] == "id"


def test_the_wire_form_is_7bit_crlf_with_short_lines_and_bodies_that_round_trip() -> None:
    long_line = "Jalan rusak di depan SDN 001 Sangatta Utara — " * 6 + "  "
    text = f"Baris biasa.\n.baris berawal titik\n{long_line}\nakhir\ttab "
    subject = "Pembaruan laporan Anda: jalan rusak di Kecamatan Sangatta Utara, " * 2
    message = build_email(sender="LAPOR! <noreply@lapor.go.id>", to="Siti <siti@example.id>",
                          subject=subject, text=text, html=f"<p>{long_line}</p>",
                          message_id="<n3@lapor.go.id>", tracking_id="7KQ2-M9XD-4",
                          language="en")
    assert (message.sender, message.recipients) == ("noreply@lapor.go.id", ("siti@example.id",))
    assert not message.needs_smtputf8
    raw = message.data
    assert max(raw) < 128 and b"\n" not in raw.replace(b"\r\n", b"")  # CRLF only
    assert message.crlf and crlf_form(raw) == raw  # marked so: sent without another look
    assert all(len(line) <= 78 for line in raw.split(b"\r\n"))
    parsed = message_from_bytes(raw, policy=policy.default)
    assert parsed["Subject"] == " ".join(subject.split())
    assert parsed["Content-Language"] == "en"
    plain = parsed.get_body(("plain",)).get_content()
    assert plain.replace("\r\n", "\n") == text  # exactly, trailing blanks included
    assert long_line in parsed.get_body(("html",)).get_content()


def test_line_breaks_in_a_subject_never_start_a_header() -> None:
    message = build_email(sender="noreply@lapor.go.id", to="siti@example.id",
                          subject="Laporan\r\nBcc: semua@example.id\nX-Evil: 1",
                          text="Halo", html=None, message_id="<n4@lapor.go.id>",
                          tracking_id="7KQ2-M9XD-4", language="id")
    parsed = message_from_bytes(message.data, policy=policy.default)
    assert parsed["Bcc"] is None and parsed["X-Evil"] is None
    assert parsed["Subject"] == "Laporan Bcc: semua@example.id X-Evil: 1"


def test_an_internationalised_address_asks_for_smtputf8() -> None:
    message = build_email(sender="noreply@lapor.go.id", to="siti@contoh.例え.jp",
                          subject="Halo", text="Halo", html=None, message_id="<n5@x>",
                          tracking_id="7KQ2-M9XD-4", language="id")
    assert message.needs_smtputf8


def test_outcome_event_is_stable_and_masked() -> None:
    doc = {"_id": "n1", "state": "failed", "tracking_id": "7KQ2-M9XD-4",
           "source_event_id": "e1", "channel": "sms", "recipient": "+6281234567890",
           "recipient_masked": "+62812*****890", "template": "assigned", "attempts": 3,
           "last_error": "SmsGatewayError 400", "finished_at": datetime(2026, 1, 5)}
    event = outcome_event(doc)
    assert event.event_type == "notification.failed"
    assert event.event_id == outcome_event(doc).event_id
    assert event.recipient == "+62812*****890"
    assert (event.attempts, event.error) == (3, "SmsGatewayError 400")
    assert event.occurred_at == datetime(2026, 1, 5, tzinfo=UTC)
    assert outcome_event({**doc, "state": "sent"}).event_id != event.event_id


@pytest.mark.parametrize("value", [
    "siti@example.id", "Siti <siti@example.id>", "LAPOR! Kutai Timur — Layanan <noreply@lapor.go.id>",
    '"Aduan, Warga" <warga@example.id>', "siti.rahma+lapor@sub.example.co.id"])
def test_the_bare_address_fast_path_agrees_with_the_full_parser(value: str) -> None:
    from email.utils import formataddr, parseaddr

    from services.notifier.adapters.smtp import _mailbox

    name, address = parseaddr(value)
    assert _mailbox(value) == (formataddr((name, address), charset="utf-8"), address)


@pytest.mark.parametrize("value", [
    "Laporan 5QGP-3MPT-R diteruskan ke Dinas Pekerjaan Umum dan Penataan Ruang Kabupaten",
    "Pembaruan laporan Anda: jalan rusak di Kecamatan Sangatta Utara, " * 3,
    "https://lapor.kutaitimurkab.go.id/" + "x" * 90 + " lalu kata biasa",  # an unbreakable word
])
def test_a_long_ascii_header_is_folded_at_spaces_and_unfolds_to_itself(value: str) -> None:
    from email.parser import HeaderParser

    from services.notifier.adapters.smtp import _header

    value = " ".join(value.split())
    folded = _header("Subject", value)
    lines = folded.removesuffix("\r\n").split("\r\n")
    assert len(lines) > 1
    assert all(line.startswith(" ") for line in lines[1:])  # continuations
    words = [line.removeprefix("Subject:").split() for line in lines]
    assert all(len(line) <= 78 or len(w) == 1 for line, w in zip(lines, words, strict=True))
    assert folded.replace("\r\n ", " ") == f"Subject: {value}\r\n"  # RFC 5322 unfolding
    parsed = HeaderParser(policy=policy.default).parsestr(folded + "\r\n")
    assert parsed["Subject"] == value


def test_the_date_header_follows_the_clock_by_the_second() -> None:
    now = [1_796_112_000.2]  # 2026-12-01 08:00:00.2 UTC
    date = DateHeader(lambda: now[0])
    assert date() == "Tue, 01 Dec 2026 08:00:00 GMT"
    now[0] = 1_796_112_000.9
    assert date() == "Tue, 01 Dec 2026 08:00:00 GMT"  # the same second, the same value
    now[0] = 1_796_112_001.0
    assert date() == "Tue, 01 Dec 2026 08:00:01 GMT"
    assert parsedate_to_datetime(date()) == datetime(2026, 12, 1, 8, 0, 1, tzinfo=UTC)


def test_every_message_is_dated_now() -> None:
    message = build_email(sender="noreply@lapor.go.id", to="siti@example.id", subject="x",
                          text="Halo", html=None, message_id="<n3@lapor.go.id>",
                          tracking_id="7KQ2-M9XD-4", language="id")
    dated = parsedate_to_datetime(message_from_bytes(message.data, policy=policy.default)["Date"])
    assert abs(dated.timestamp() - time.time()) < 5
