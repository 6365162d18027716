"""Whether a failed delivery is worth retrying, and when.

Exceptions are recognised by duck typing (`code`/`smtp_code`, `status_code`, class names in
the MRO) so this module stays free of the SMTP and HTTP client libraries; the unit tests
check it against the real aiosmtplib, smtplib and httpx exception types.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta
from enum import StrEnum


class FailureKind(StrEnum):
    TRANSIENT = "transient"  # retry with backoff
    PERMANENT = "permanent"  # give up now: retrying cannot help


# httpx transport failures (no response at all): the gateway may be back in a moment.
_TRANSIENT_HTTP_ERRORS = frozenset(
    {"TimeoutException", "NetworkError", "RemoteProtocolError", "ProxyError"}
)


def _smtp_codes(error: BaseException) -> list[int]:
    """Reply codes carried by an SMTP exception (aiosmtplib `.code`, smtplib `.smtp_code`)."""
    for attr in ("code", "smtp_code"):
        code = getattr(error, attr, None)
        if isinstance(code, int):
            return [code]
    recipients = getattr(error, "recipients", None)  # *RecipientsRefused
    codes: list[int] = []
    if isinstance(recipients, dict):  # smtplib: {address: (code, message)}
        codes = [v[0] for v in recipients.values() if v and isinstance(v[0], int)]
    elif isinstance(recipients, list | tuple):  # aiosmtplib: [SMTPRecipientRefused]
        codes = [c for r in recipients if isinstance(r, BaseException) for c in _smtp_codes(r)]
    return codes


def _by_smtp_code(code: int) -> FailureKind:
    return FailureKind.PERMANENT if 500 <= code <= 599 else FailureKind.TRANSIENT


def classify_smtp(failure: int | BaseException) -> FailureKind:
    """4xx replies, refused connections and timeouts are transient; 5xx replies permanent.

    Anything unrecognised is permanent: a bug retried ten times is still a bug, and the
    failure is reported on `notifications.events` rather than lost.
    """
    if isinstance(failure, int):
        return _by_smtp_code(failure)
    codes = _smtp_codes(failure)
    if codes:  # a server answer beats the exception's base class (421 on connect...)
        kinds = {_by_smtp_code(c) for c in codes}
        return FailureKind.TRANSIENT if FailureKind.TRANSIENT in kinds else FailureKind.PERMANENT
    if isinstance(failure, OSError):  # incl. TimeoutError, ConnectionError
        return FailureKind.TRANSIENT  # refused, reset, DNS, disconnected, timed out
    return FailureKind.PERMANENT


def _by_http_status(status: int) -> FailureKind:
    if status >= 500 or status in (408, 425, 429):
        return FailureKind.TRANSIENT
    return FailureKind.PERMANENT  # other 4xx: our request is wrong; 3xx: misconfigured URL


def classify_http(failure: int | BaseException) -> FailureKind:
    """SMS gateway (CONTRACT 7): 5xx, 429 and timeouts/connection errors retried; 4xx not."""
    if isinstance(failure, int):
        return _by_http_status(failure)
    response = getattr(failure, "response", None)  # httpx.HTTPStatusError
    status = getattr(failure, "status_code", None)
    if status is None:
        status = getattr(response, "status_code", None)
    if isinstance(status, int):
        return _by_http_status(status)
    names = {cls.__name__ for cls in type(failure).__mro__}
    if names & _TRANSIENT_HTTP_ERRORS or isinstance(failure, OSError):
        return FailureKind.TRANSIENT
    return FailureKind.PERMANENT


def next_attempt_at(
    attempts: int,
    now: datetime,
    *,
    base: timedelta = timedelta(seconds=2),
    factor: float = 2.0,
    cap: timedelta = timedelta(minutes=10),
    jitter: Callable[[float, float], float] = random.uniform,
    retry_after: timedelta | None = None,
) -> datetime:
    """When to try again after `attempts` failed attempts (>= 1): exponential, full jitter.

    Full jitter (uniform in [0, ceiling]) spreads a burst of failures over the whole window
    so a recovering SMTP server or gateway is not hit by a synchronised wave. A server's
    Retry-After, when given, is a floor that the jitter never undercuts.
    """
    exponent = min(max(attempts, 1) - 1, 64)  # bounded: no float overflow on huge counts
    ceiling = min(cap.total_seconds(), base.total_seconds() * factor**exponent)
    delay = min(max(jitter(0.0, ceiling), 0.0), ceiling)  # clamp a misbehaving jitter
    if retry_after is not None:
        delay = max(delay, retry_after.total_seconds())
    return now + timedelta(seconds=delay)


def should_give_up(attempts: int, max_attempts: int, kind: FailureKind | None = None) -> bool:
    """True once the attempts are spent, or at once for a permanent failure."""
    return kind is FailureKind.PERMANENT or attempts >= max_attempts


def failure_code(failure: BaseException) -> int | None:
    """The SMTP reply code or HTTP status a failure carries, if any."""
    status = getattr(failure, "status_code", None) or getattr(failure, "status", None)
    if status is None:
        status = getattr(getattr(failure, "response", None), "status_code", None)
    if isinstance(status, int):
        return status
    codes = _smtp_codes(failure)
    return codes[0] if codes else None


def describe_failure(failure: BaseException) -> str:
    """What the ledger and `notification.failed` record about a failure: the exception class
    and reply code only. Never the message text, which may quote the recipient's address."""
    code = failure_code(failure)
    name = type(failure).__name__
    return f"{name} {code}" if code is not None else name
