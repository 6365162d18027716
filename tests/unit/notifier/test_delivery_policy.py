"""Failure classification against the real client exception types, and backoff bounds."""

from __future__ import annotations

import random
import smtplib
import socket
from datetime import UTC, datetime, timedelta

import aiosmtplib
import httpx
import pytest

from services.notifier.domain.delivery_policy import (
    FailureKind,
    classify_http,
    classify_smtp,
    next_attempt_at,
    should_give_up,
)

T, P = FailureKind.TRANSIENT, FailureKind.PERMANENT
NOW = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)
REQUEST = httpx.Request("POST", "https://sms.example/send")


@pytest.mark.parametrize(("code", "kind"), [(421, T), (450, T), (451, T), (452, T),
                                            (500, P), (550, P), (552, P), (553, P), (554, P)])
def test_smtp_reply_codes(code: int, kind: FailureKind) -> None:
    assert classify_smtp(code) is kind
    assert classify_smtp(aiosmtplib.SMTPResponseException(code, "x")) is kind
    assert classify_smtp(smtplib.SMTPDataError(code, b"x")) is kind


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (ConnectionRefusedError(111, "refused"), T),
        (TimeoutError(), T),
        (socket.gaierror(-2, "Name or service not known"), T),
        (aiosmtplib.SMTPConnectError("refused"), T),
        (aiosmtplib.SMTPServerDisconnected("gone"), T),
        (aiosmtplib.SMTPConnectTimeoutError("slow"), T),
        (aiosmtplib.SMTPReadTimeoutError("slow"), T),
        (aiosmtplib.SMTPConnectResponseError(421, "busy"), T),
        (aiosmtplib.SMTPConnectResponseError(554, "no service"), P),
        (aiosmtplib.SMTPSenderRefused(550, "no", "from@x"), P),
        (aiosmtplib.SMTPRecipientsRefused([aiosmtplib.SMTPRecipientRefused(550, "no", "a@x")]), P),
        (aiosmtplib.SMTPRecipientsRefused([aiosmtplib.SMTPRecipientRefused(450, "later", "a@x")]),
         T),
        (smtplib.SMTPRecipientsRefused({"a@x": (550, b"no such user")}), P),
        (smtplib.SMTPRecipientsRefused({"a@x": (451, b"greylisted")}), T),
        (smtplib.SMTPServerDisconnected("gone"), T),
        (aiosmtplib.SMTPAuthenticationError(535, "bad credentials"), P),
        (aiosmtplib.SMTPNotSupported("STARTTLS"), P),
        (ValueError("bad header"), P),
    ],
)
def test_smtp_exceptions(error: BaseException, kind: FailureKind) -> None:
    assert classify_smtp(error) is kind


@pytest.mark.parametrize(("status", "kind"), [
    (500, T), (502, T), (503, T), (504, T), (429, T), (408, T),
    (400, P), (401, P), (403, P), (404, P), (413, P), (422, P), (301, P),
])
def test_http_status(status: int, kind: FailureKind) -> None:
    assert classify_http(status) is kind
    response = httpx.Response(status, request=REQUEST)
    error = httpx.HTTPStatusError("failed", request=REQUEST, response=response)
    assert classify_http(error) is kind


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (httpx.ConnectError("refused", request=REQUEST), T),
        (httpx.ConnectTimeout("slow", request=REQUEST), T),
        (httpx.ReadTimeout("slow", request=REQUEST), T),
        (httpx.PoolTimeout("busy", request=REQUEST), T),
        (httpx.ReadError("reset", request=REQUEST), T),
        (httpx.RemoteProtocolError("closed early", request=REQUEST), T),
        (TimeoutError(), T),
        (ConnectionResetError(), T),
        (httpx.UnsupportedProtocol("ftp://", request=REQUEST), P),
        (httpx.InvalidURL("bad"), P),
        (ValueError("bad json"), P),
    ],
)
def test_http_exceptions(error: BaseException, kind: FailureKind) -> None:
    assert classify_http(error) is kind


def ceiling(lo: float, hi: float) -> float:
    return hi


@pytest.mark.parametrize(("attempts", "seconds"), [
    (1, 2), (2, 4), (3, 8), (4, 16), (8, 256), (9, 512), (10, 600), (50, 600),
])
def test_backoff_ceiling_doubles_up_to_the_cap(attempts: int, seconds: float) -> None:
    assert next_attempt_at(attempts, NOW, jitter=ceiling) == NOW + timedelta(seconds=seconds)


def test_full_jitter_stays_within_zero_and_the_ceiling() -> None:
    rng = random.Random(42)
    for attempts in range(1, 30):
        top = min(600.0, 2.0 * 2 ** (attempts - 1))
        for _ in range(50):
            at = next_attempt_at(attempts, NOW, jitter=rng.uniform)
            assert NOW <= at <= NOW + timedelta(seconds=top)


def test_backoff_survives_huge_attempt_counts_and_bad_jitter() -> None:
    assert next_attempt_at(10**6, NOW, jitter=ceiling) == NOW + timedelta(minutes=10)
    assert next_attempt_at(3, NOW, jitter=lambda lo, hi: 10**9) == NOW + timedelta(seconds=8)
    assert next_attempt_at(3, NOW, jitter=lambda lo, hi: -5) == NOW
    assert next_attempt_at(0, NOW, jitter=ceiling) == NOW + timedelta(seconds=2)


def test_backoff_parameters_and_retry_after() -> None:
    at = next_attempt_at(3, NOW, base=timedelta(seconds=1), factor=3, cap=timedelta(seconds=5),
                         jitter=ceiling)
    assert at == NOW + timedelta(seconds=5)
    floor = next_attempt_at(1, NOW, jitter=lambda lo, hi: lo, retry_after=timedelta(seconds=30))
    assert floor == NOW + timedelta(seconds=30)


def test_should_give_up() -> None:
    assert not should_give_up(1, 5)
    assert not should_give_up(4, 5, FailureKind.TRANSIENT)
    assert should_give_up(5, 5)
    assert should_give_up(1, 5, FailureKind.PERMANENT)
