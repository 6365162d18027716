"""E-mail delivery over SMTP (aiosmtplib): optional STARTTLS and authentication."""

from __future__ import annotations

import socket
from email import charset
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formataddr, formatdate, parseaddr

import aiosmtplib

from shared.settings import Settings

_UTF8_QP = charset.Charset("utf-8")
_UTF8_QP.body_encoding = charset.QP  # readable bodies, 7-bit safe


def _text_part(body: str, subtype: str) -> MIMEText:
    return MIMEText(body, subtype, _UTF8_QP)  # type: ignore[arg-type]


def _encoded(value: str) -> str | Header:
    """A header value, RFC 2047 encoded (folded by the generator) if not plain ASCII."""
    return value if value.isascii() else Header(value, "utf-8")


def _address(value: str) -> str:
    return formataddr(parseaddr(value), charset="utf-8")


def build_email(*, sender: str, to: str, subject: str, text: str, html: str | None,
                message_id: str, tracking_id: str, language: str) -> Message:
    """The message, built with the email package's classic (compat32) classes: the modern
    header objects parse every header they set, which cost more CPU than the SMTP
    conversation itself. Non-ASCII headers are RFC 2047 encoded, bodies quoted-printable."""
    message: Message
    if html:
        message = MIMEMultipart("alternative")
        message.attach(_text_part(text, "plain"))
        message.attach(_text_part(html, "html"))
    else:
        message = _text_part(text, "plain")
    message["From"] = _address(sender)
    message["To"] = _address(to)
    message["Subject"] = _encoded(subject)  # type: ignore[assignment]
    message["Message-ID"] = message_id
    message["Date"] = formatdate(usegmt=True)
    message["X-Lapor-Tracking-Id"] = tracking_id
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to this
    message["Content-Language"] = language
    return message


class SmtpSender:
    """Sends over a pool of kept-open SMTP connections (a new connection per message costs
    more than the message). A connection that failed in any way is closed, never reused."""

    def __init__(self, settings: Settings, max_idle: int | None = None) -> None:
        self.settings = settings
        self._idle: list[aiosmtplib.SMTP] = []
        # One kept connection per send in flight: fewer means a new connection (and EHLO)
        # for most messages under load.
        self._max_idle = max_idle or settings.notify_concurrency
        self._local_hostname: str | None = None

    def _client(self) -> aiosmtplib.SMTP:
        s = self.settings
        if self._local_hostname is None:  # EHLO name, looked up once (not per connection)
            self._local_hostname = socket.getfqdn()
        return aiosmtplib.SMTP(
            hostname=s.smtp_host, port=s.smtp_port, username=s.smtp_username,
            password=s.smtp_password.get_secret_value() if s.smtp_password else None,
            start_tls=s.smtp_starttls, use_tls=False, timeout=s.smtp_timeout_seconds,
            local_hostname=self._local_hostname)

    async def send(self, message: Message) -> None:
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
