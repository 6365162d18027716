"""SMS delivery through the HTTP gateway of CONTRACT.md section 7:
`POST {url}` with `{to, text, reference}`, bearer token when set; 2xx accepted, 4xx permanent,
5xx or timeout retried. `reference` is the notification id, so a gateway can drop a repeat."""

from __future__ import annotations

import logging
from datetime import timedelta

import httpx

from shared.settings import Settings

# httpx logs every request URL at INFO; a gateway URL may carry an API key in its query.
logging.getLogger("httpx").setLevel(logging.WARNING)


class SmsGatewayError(Exception):
    """A non-2xx answer. Only the status is kept: the body may echo the number."""

    def __init__(self, status: int, retry_after: timedelta | None = None) -> None:
        super().__init__(f"SMS gateway answered {status}")
        self.status = status
        self.status_code = status
        self.retry_after = retry_after


def parse_retry_after(value: str | None) -> timedelta | None:
    """Retry-After in seconds (the HTTP-date form is ignored: the backoff applies)."""
    if value and value.strip().isdigit():
        return timedelta(seconds=int(value.strip()))
    return None


class SmsGateway:
    def __init__(self, settings: Settings, client: httpx.AsyncClient | None = None) -> None:
        self.url = settings.sms_gateway_url
        self.token = settings.sms_gateway_token
        self.client = client or httpx.AsyncClient(timeout=settings.smtp_timeout_seconds)

    @property
    def enabled(self) -> bool:
        return bool(self.url)

    async def send(self, to: str, text: str, reference: str) -> None:
        """Raises SmsGatewayError (an answer other than 2xx) or httpx transport errors."""
        assert self.url, "SMS is off (LAPOR_SMS_GATEWAY_URL unset)"
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token.get_secret_value()}"
        response = await self.client.post(
            self.url, json={"to": to, "text": text, "reference": reference}, headers=headers)
        if not 200 <= response.status_code < 300:
            raise SmsGatewayError(response.status_code,
                                  parse_retry_after(response.headers.get("Retry-After")))

    async def close(self) -> None:
        await self.client.aclose()
