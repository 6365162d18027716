"""SMS delivery through the HTTP gateway of CONTRACT.md section 7:
`POST {url}` with `{to, text, reference}`, bearer token when set; 2xx accepted."""

from __future__ import annotations

import httpx

from shared.settings import Settings


class SmsGatewayError(Exception):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"SMS gateway answered {status}")
        self.status = status
        self.body = body[:200]


class SmsGateway:
    def __init__(self, settings: Settings, client: httpx.AsyncClient | None = None) -> None:
        self.url = settings.sms_gateway_url
        self.token = settings.sms_gateway_token
        self.client = client or httpx.AsyncClient(timeout=settings.smtp_timeout_seconds)

    @property
    def enabled(self) -> bool:
        return bool(self.url)

    async def send(self, to: str, text: str, reference: str) -> None:
        assert self.url, "SMS is off (LAPOR_SMS_GATEWAY_URL unset)"
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token.get_secret_value()}"
        response = await self.client.post(
            self.url, json={"to": to, "text": text, "reference": reference}, headers=headers)
        if not 200 <= response.status_code < 300:
            raise SmsGatewayError(response.status_code, response.text)

    async def close(self) -> None:
        await self.client.aclose()
