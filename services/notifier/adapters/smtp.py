"""E-mail delivery over SMTP (aiosmtplib): optional STARTTLS and authentication."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate

import aiosmtplib

from shared.settings import Settings


def build_email(*, sender: str, to: str, subject: str, text: str, html: str | None,
                message_id: str, tracking_id: str, language: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = message_id
    message["Date"] = formatdate(usegmt=True)
    message["X-Lapor-Tracking-Id"] = tracking_id
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to this
    message.set_content(text)
    if html:
        message.add_alternative(html, subtype="html")
    # After the body: set_content() drops every Content-* header set before it.
    message["Content-Language"] = language
    return message


class SmtpSender:
    """Sends over a pool of kept-open SMTP connections (a new connection per message costs
    more than the message). A connection that failed in any way is closed, never reused."""

    def __init__(self, settings: Settings, max_idle: int = 32) -> None:
        self.settings = settings
        self._idle: list[aiosmtplib.SMTP] = []
        self._max_idle = max_idle

    def _client(self) -> aiosmtplib.SMTP:
        s = self.settings
        return aiosmtplib.SMTP(
            hostname=s.smtp_host, port=s.smtp_port, username=s.smtp_username,
            password=s.smtp_password.get_secret_value() if s.smtp_password else None,
            start_tls=s.smtp_starttls, use_tls=False, timeout=s.smtp_timeout_seconds)

    async def send(self, message: EmailMessage) -> None:
        """Raises aiosmtplib errors (with SMTP codes) or OSError/TimeoutError on failure;
        the delivery policy decides whether that is transient or permanent."""
        while self._idle:  # a kept connection may have been closed by the server meanwhile
            client = self._idle.pop()
            try:
                await client.send_message(message)
            except aiosmtplib.SMTPServerDisconnected:
                await self._discard(client)
                continue
            except BaseException:
                await self._discard(client)
                raise
            self._keep(client)
            return
        client = self._client()
        try:
            await client.connect()
            await client.send_message(message)
        except BaseException:
            await self._discard(client)
            raise
        self._keep(client)

    def _keep(self, client: aiosmtplib.SMTP) -> None:
        if len(self._idle) < self._max_idle:
            self._idle.append(client)
        else:
            client.close()

    @staticmethod
    async def _discard(client: aiosmtplib.SMTP) -> None:
        try:
            client.close()
        except Exception:  # noqa: S110 - closing a broken connection: nothing left to do
            pass

    async def close(self) -> None:
        while self._idle:
            client = self._idle.pop()
            try:
                await client.quit()
            except Exception:
                client.close()
