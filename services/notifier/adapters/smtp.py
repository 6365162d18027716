"""E-mail delivery over SMTP (aiosmtplib): optional STARTTLS and authentication, the
envelope pipelined where the relay offers it (`smtp_pipelining.py`)."""

from __future__ import annotations

import asyncio
import binascii
import contextlib
import random
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.header import Header
from email.utils import formataddr, formatdate, parseaddr
from functools import lru_cache

import aiosmtplib

from services.notifier.adapters.smtp_pipelining import BARE_ADDRESS, PipelinedConnection
from shared.settings import Settings

_CRLF = "\r\n"


@dataclass(frozen=True)
class OutgoingEmail:
    """A message ready for the SMTP DATA command, with its envelope."""

    sender: str  # envelope sender (address only)
    recipients: tuple[str, ...]
    data: bytes
    crlf: bool = False  # `data` has CRLF line ends only (build_email's): not checked again

    @property
    def needs_smtputf8(self) -> bool:
        return not all(a.isascii() for a in (self.sender, *self.recipients))


def _header(name: str, value: str) -> str:
    """One header line: CR/LF in a value never start a new header; a non-ASCII or long
    value is RFC 2047 encoded and folded."""
    value = " ".join(value.split())
    if value.isascii():
        return _folded(name, value) if len(name) + len(value) >= 76 else \
            f"{name}: {value}{_CRLF}"
    encoded = Header(value, "utf-8", header_name=name).encode(linesep=_CRLF)
    return f"{name}: {encoded}{_CRLF}"


def _folded(name: str, value: str) -> str:
    """A long ASCII header folded at spaces (RFC 5322 2.2.3) into lines of at most 78
    characters where the words allow (the email package's Header did the same at several
    times the cost: a tenth of an e-mail's CPU went into one long subject)."""
    lines: list[str] = []
    line = f"{name}:"
    for word in value.split(" "):
        if len(line) + 1 + len(word) > 78 and line.strip() and not line.endswith(":"):
            lines.append(line)
            line = f" {word}"
        else:
            line = f"{line} {word}"
    lines.append(line)
    return _CRLF.join(lines) + _CRLF


@lru_cache(maxsize=64)  # the sender is the same for every message
def _mailbox(value: str) -> tuple[str, str]:
    """`(header form, envelope address)` of an address, with or without display name."""
    if BARE_ADDRESS.fullmatch(value):  # most recipients: no parsing needed
        return value, value
    name, address = parseaddr(value)
    if not address.isascii():  # an internationalised mailbox: sent with SMTPUTF8
        return address, address
    return formataddr((name, address), charset="utf-8"), address


class DateHeader:
    """The Date header's value, formatted once per second: it has a second's resolution,
    and formatting it cost 1.6 % of the notifier's CPU at full load, one call a message."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._second = -1
        self._value = ""

    def __call__(self) -> str:
        second = int(self.clock())
        if second != self._second:
            self._second, self._value = second, formatdate(second, usegmt=True)
        return self._value


_date = DateHeader()


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
        _header("Date", _date()),
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
    return OutgoingEmail(sender_address, (to_address,), (headers + body).encode("utf-8"),
                         crlf=True)


class _Plain:
    """A kept aiosmtplib connection to a relay that does not pipeline: four round trips
    per message."""

    def __init__(self, client: aiosmtplib.SMTP) -> None:
        self.client = client

    async def send(self, message: OutgoingEmail) -> None:
        options = ["SMTPUTF8"] if message.needs_smtputf8 else None
        await self.client.sendmail(message.sender, list(message.recipients), message.data,
                                   mail_options=options)

    def close(self) -> None:
        try:
            self.client.close()
        except Exception:  # noqa: S110 - closing a broken connection: nothing left to do
            pass

    async def quit(self) -> None:
        await self.client.quit()


Connection = _Plain | PipelinedConnection


class SmtpSender:
    """Sends over a pool of kept-open SMTP connections (a new connection per message costs
    more than the message), pipelining the envelope where the relay offers it (RFC 2920:
    two round trips per message instead of four). A connection that failed in any way is
    closed, never reused.

    With `LAPOR_SMTP_MESSAGES_PER_CONNECTION` above 1 and a relay offering CHUNKING, up to
    that many messages share one connection (`shared`), so messages ready together go in
    one write: as many connections as the sends in flight need, at most
    `notify_concurrency / messages_per_connection` (rounded up). A refusal leaves a shared
    connection in use; one that broke is dropped. A relay without CHUNKING gets one
    message at a time on each connection, as with the setting at 1."""

    def __init__(self, settings: Settings, max_idle: int | None = None) -> None:
        self.settings = settings
        self._idle: list[Connection] = []
        # One kept connection per send in flight: fewer means a new connection (and EHLO)
        # for most messages under load.
        self._max_idle = max_idle or settings.notify_concurrency
        self._local_hostname: str | None = None
        self._per_connection = settings.smtp_messages_per_connection
        self._max_shared = -(-settings.notify_concurrency // self._per_connection)
        self.shared: list[PipelinedConnection] = []
        self._opening: asyncio.Future[None] | None = None  # a shared connection opening
        self._relay_chunks = True  # until a connection shows otherwise

    def _client(self) -> aiosmtplib.SMTP:
        s = self.settings
        if self._local_hostname is None:  # EHLO name, looked up once (not per connection)
            self._local_hostname = socket.getfqdn()
        return aiosmtplib.SMTP(
            hostname=s.smtp_host, port=s.smtp_port, username=s.smtp_username,
            password=s.smtp_password.get_secret_value() if s.smtp_password else None,
            start_tls=s.smtp_starttls, use_tls=False, timeout=s.smtp_timeout_seconds,
            local_hostname=self._local_hostname)

    async def _open(self) -> Connection:
        """A new connection: greeted, EHLO, STARTTLS and AUTH as configured (aiosmtplib),
        then pipelined if the relay offers it."""
        client = self._client()
        try:
            await client.connect()  # EHLO only when STARTTLS or AUTH needed it
            if client.is_ehlo_or_helo_needed:
                with contextlib.suppress(aiosmtplib.SMTPHeloError):  # no ESMTP: HELO later
                    await client.ehlo()
        except BaseException:
            _Plain(client).close()
            raise
        if client.supports_extension("pipelining"):
            return PipelinedConnection.take_over(client, self.settings.smtp_timeout_seconds)
        return _Plain(client)

    async def send(self, message: OutgoingEmail) -> None:
        """Raises aiosmtplib errors (with SMTP codes) or OSError/TimeoutError on failure;
        the delivery policy decides whether that is transient or permanent."""
        if self._per_connection > 1 and self._relay_chunks:
            shared = await self._shared_connection()
            if shared is not None:  # one that breaks is left out at the next pick
                await shared.send(message)
                return
        while self._idle:  # a kept connection may have been closed by the server meanwhile
            connection = self._idle.pop()
            try:
                await connection.send(message)
            except aiosmtplib.SMTPServerDisconnected:
                connection.close()
                continue
            except BaseException:
                connection.close()
                raise
            self._keep(connection)
            return
        connection = await self._open()
        try:
            await connection.send(message)
        except BaseException:
            connection.close()
            raise
        self._keep(connection)

    def _least_busy(self) -> PipelinedConnection | None:
        """The shared connection with the fewest messages in flight, if one has room."""
        self.shared = [c for c in self.shared if c.usable]
        best = min(self.shared, key=lambda c: c.in_flight, default=None)
        return best if best is not None and best.in_flight < self._per_connection else None

    async def _shared_connection(self) -> PipelinedConnection | None:
        """A connection to share, opened if every one is full; None when the relay does
        not offer CHUNKING (the connection it opened is then kept for one at a time).
        Senders that find every connection full while one is being opened wait for it
        together, so they write together."""
        while self._relay_chunks:
            if (connection := self._least_busy()) is not None:
                return connection
            if self._opening is not None:
                await asyncio.shield(self._opening)
                continue
            if len(self.shared) >= self._max_shared:  # more senders than settings allow
                return min(self.shared, key=lambda c: c.in_flight)
            self._opening = asyncio.get_running_loop().create_future()
            try:
                opened = await self._open()
            finally:
                self._opening.set_result(None)
                self._opening = None
            if isinstance(opened, PipelinedConnection) and opened.chunking:
                self.shared.append(opened)
                return opened
            self._relay_chunks = False  # one message at a time on each connection
            self._keep(opened)
        return None

    def _keep(self, connection: Connection) -> None:
        if len(self._idle) < self._max_idle:
            self._idle.append(connection)
        else:
            connection.close()

    async def close(self) -> None:
        self._idle += self.shared
        self.shared = []
        while self._idle:
            connection = self._idle.pop()
            try:
                await connection.quit()
            except Exception:
                connection.close()
