"""E-mail delivery over SMTP (aiosmtplib): optional STARTTLS and authentication."""

from __future__ import annotations

import binascii
import random
import re
import socket
from dataclasses import dataclass
from email.header import Header
from email.utils import formataddr, formatdate, parseaddr
from functools import lru_cache

import aiosmtplib

from shared.settings import Settings

_CRLF = "\r\n"


@dataclass(frozen=True)
class OutgoingEmail:
    """A message ready for the SMTP DATA command, with its envelope."""

    sender: str  # envelope sender (address only)
    recipients: tuple[str, ...]
    data: bytes

    @property
    def needs_smtputf8(self) -> bool:
        return not all(a.isascii() for a in (self.sender, *self.recipients))


def _header(name: str, value: str) -> str:
    """One header line: CR/LF in a value never start a new header; a non-ASCII or long
    value is RFC 2047 encoded and folded."""
    value = " ".join(value.split())
    if value.isascii() and len(name) + len(value) < 76:
        return f"{name}: {value}{_CRLF}"
    charset = "us-ascii" if value.isascii() else "utf-8"
    encoded = Header(value, charset, header_name=name).encode(linesep=_CRLF)
    return f"{name}: {encoded}{_CRLF}"


_BARE_ADDRESS = re.compile(r"[^\s<>()\[\]\\,;:\"@]+@[^\s<>()\[\]\\,;:\"@]+")


@lru_cache(maxsize=64)  # the sender is the same for every message
def _mailbox(value: str) -> tuple[str, str]:
    """`(header form, envelope address)` of an address, with or without display name."""
    if _BARE_ADDRESS.fullmatch(value):  # most recipients: no parsing needed
        return value, value
    name, address = parseaddr(value)
    if not address.isascii():  # an internationalised mailbox: sent with SMTPUTF8
        return address, address
    return formataddr((name, address), charset="utf-8"), address


def _text_part(body: str, subtype: str) -> str:
    """A UTF-8 text part, quoted-printable (readable, 7-bit safe, lines under 77 octets)."""
    lines = body.replace("\r\n", "\n").replace("\r", "\n")
    encoded = binascii.b2a_qp(lines.encode("utf-8"), istext=True).decode("ascii")
    encoded = encoded.replace("\n", _CRLF)  # soft breaks too
    return (f'Content-Type: text/{subtype}; charset="utf-8"{_CRLF}'
            f"Content-Transfer-Encoding: quoted-printable{_CRLF}{_CRLF}{encoded}{_CRLF}")


def build_email(*, sender: str, to: str, subject: str, text: str, html: str | None,
                message_id: str, tracking_id: str, language: str) -> OutgoingEmail:
    """The message as the bytes SMTP sends, written directly: the email package's
    generator cost as much CPU as the whole SMTP conversation. Non-ASCII headers are
    RFC 2047 encoded, bodies quoted-printable, so the message is 7-bit on the wire; the
    boundary cannot occur in a quoted-printable body (it starts with `=_`)."""
    sender_header, sender_address = _mailbox(sender)
    to_header, to_address = _mailbox(to)
    headers = "".join((
        _header("From", sender_header), _header("To", to_header),
        _header("Subject", subject), _header("Message-ID", message_id),
        _header("Date", formatdate(usegmt=True)),
        _header("X-Lapor-Tracking-Id", tracking_id),
        _header("Auto-Submitted", "auto-generated"),  # RFC 3834: no auto-replies to this
        _header("Content-Language", language), f"MIME-Version: 1.0{_CRLF}"))
    if html:
        boundary = f"=_lapor_{random.getrandbits(96):024x}"  # unique enough: no secret
        body = (f"Content-Type: multipart/alternative;{_CRLF}"
                f' boundary="{boundary}"{_CRLF}{_CRLF}'
                f"--{boundary}{_CRLF}{_text_part(text, 'plain')}"
                f"--{boundary}{_CRLF}{_text_part(html, 'html')}"
                f"--{boundary}--{_CRLF}")
    else:
        body = _text_part(text, "plain")
    return OutgoingEmail(sender_address, (to_address,), (headers + body).encode("utf-8"))


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

    async def send(self, message: OutgoingEmail) -> None:
        """Raises aiosmtplib errors (with SMTP codes) or OSError/TimeoutError on failure;
        the delivery policy decides whether that is transient or permanent."""
        while self._idle:  # a kept connection may have been closed by the server meanwhile
            client = self._idle.pop()
            try:
                await self._transmit(client, message)
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
            await self._transmit(client, message)
        except BaseException:
            await self._discard(client)
            raise
        self._keep(client)

    @staticmethod
    async def _transmit(client: aiosmtplib.SMTP, message: OutgoingEmail) -> None:
        options = ["SMTPUTF8"] if message.needs_smtputf8 else None
        await client.sendmail(message.sender, list(message.recipients), message.data,
                              mail_options=options)

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
