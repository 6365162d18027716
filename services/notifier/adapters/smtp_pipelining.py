"""SMTP command pipelining (RFC 2920) on a connection that aiosmtplib opened.

Without pipelining a message costs four round trips: MAIL, RCPT, DATA, then the content.
A relay that advertises PIPELINING takes MAIL, RCPT and DATA in one write and answers
them in order, so a message costs two. One that also advertises CHUNKING (RFC 3030, as
Postfix and Exchange do) takes the content as `BDAT <size> LAST` right behind the
envelope, without dot-stuffing: one write and one round trip per message; a relay
consumes a BDAT chunk even when it refuses the transaction, so the connection stays in
step. aiosmtplib reads one reply per command written, so once it has done the greeting,
EHLO, STARTTLS and AUTH, the connection is taken over by the small reply reader below.
Failures raise the same aiosmtplib exceptions, with the server's codes, as the
unpipelined path, so the delivery policy treats both alike; a connection that failed in
any way is closed by its owner, never reused.
"""

from __future__ import annotations

import asyncio
import re
from collections import deque
from typing import TYPE_CHECKING, cast

import aiosmtplib
from aiosmtplib.email import quote_address
from aiosmtplib.response import SMTPResponse

if TYPE_CHECKING:
    from services.notifier.adapters.smtp import OutgoingEmail

BARE_ADDRESS = re.compile(r"[^\s<>()\[\]\\,;:\"@]+@[^\s<>()\[\]\\,;:\"@]+")
"""An address with nothing to parse or quote (most addresses)."""
_LINE_ENDINGS = re.compile(rb"(?:\r\n|\n|\r(?!\n))")
_LEADING_PERIOD = re.compile(rb"(?m)^\.")
_MAX_REPLY = 64 * 1024
ACCEPTED = (250, 251)  # RCPT: accepted, or accepted for forwarding
START_INPUT = 354


def data_payload(data: bytes) -> bytes:
    """The message as DATA sends it: CRLF line endings, leading periods doubled, and the
    terminating line. The notifier's own messages have CRLF line endings and no leading
    period already: three counts and a search find that at a quarter of the cost of the
    regular expressions, which then run only when there is something to change."""
    data = crlf_form(data)
    if data.startswith(b".") or b"\n." in data:
        data = _LEADING_PERIOD.sub(b"..", data)
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data + b".\r\n"


def _address(address: str, encoding: str) -> bytes:
    if any(c in address for c in "\r\n\0"):
        raise ValueError("address contains a line break")
    if BARE_ADDRESS.fullmatch(address):  # what quote_address would give, without parsing
        return b"<" + address.encode(encoding) + b">"
    return quote_address(address).encode(encoding)


def envelope_commands(message: OutgoingEmail, size: bool, payload: bytes | None = None,
                      *, chunk: bytes | None = None) -> bytes:
    """MAIL, one RCPT per recipient and DATA, as one write. `payload`: the message's
    `data_payload`, if the caller has it already (for SIZE). With `chunk` (the message
    in CRLF form), `BDAT <size> LAST` and the chunk itself instead of DATA."""
    encoding = "utf-8" if message.needs_smtputf8 else "ascii"
    sent = chunk if chunk is not None else payload  # what follows the envelope, if known
    options = b""
    if size:
        options += b" SIZE=%d" % len(sent if sent is not None else data_payload(message.data))
    if message.needs_smtputf8:
        options += b" SMTPUTF8"
    lines = [b"MAIL FROM:" + _address(message.sender, encoding) + options]
    lines += [b"RCPT TO:" + _address(r, encoding) for r in message.recipients]
    if chunk is not None:
        lines.append(b"BDAT %d LAST" % len(chunk))
        return b"".join(line + b"\r\n" for line in lines) + chunk
    lines.append(b"DATA")
    return b"".join(line + b"\r\n" for line in lines)


def crlf_form(data: bytes) -> bytes:
    """The message with CRLF line endings, as BDAT sends it (no dot-stuffing, no
    terminating line): the notifier's own messages are in this form already."""
    crlf = data.count(b"\r\n")
    if data.count(b"\n") != crlf or data.count(b"\r") != crlf:
        data = _LINE_ENDINGS.sub(b"\r\n", data)
    return data


class _Replies(asyncio.Protocol):
    """The server's replies, parsed as they arrive and handed out in order."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.replies: deque[SMTPResponse] = deque()
        self.lost: Exception | None = None
        self.arrived = asyncio.Event()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            reply = self._one_reply()
            if reply is None:
                break
            self.replies.append(reply)
        if len(self.buffer) > _MAX_REPLY:
            self.lost = aiosmtplib.SMTPResponseException(500, "Response too long")
        self.arrived.set()

    def _one_reply(self) -> SMTPResponse | None:
        offset, lines = 0, []
        while (end := self.buffer.find(b"\n", offset)) != -1:
            line = bytes(self.buffer[offset:end + 1])
            offset = end + 1
            lines.append(line[4:].strip(b" \t\r\n"))
            if line[3:4] != b"-":
                try:
                    code = int(line[:3])
                except ValueError:
                    self.lost = aiosmtplib.SMTPResponseException(
                        500, "Malformed SMTP response line")
                    return None
                del self.buffer[:offset]
                return SMTPResponse(code, b"\n".join(lines).decode("utf-8", "replace"))
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = self.lost or aiosmtplib.SMTPServerDisconnected("Connection lost")
        self.arrived.set()

    def eof_received(self) -> bool:
        self.lost = self.lost or aiosmtplib.SMTPServerDisconnected(
            "Unexpected EOF received")
        self.arrived.set()
        return False

    async def next(self, within: float) -> SMTPResponse:
        while not self.replies:
            if self.lost is not None:
                raise self.lost
            self.arrived.clear()
            try:  # a timeout scope, not wait_for: no task per reply
                async with asyncio.timeout(within):
                    await self.arrived.wait()
            except TimeoutError as exc:
                raise aiosmtplib.SMTPReadTimeoutError(
                    "Timed out waiting for server response") from exc
        return self.replies.popleft()


class PipelinedConnection:
    """An open, greeted (and authenticated) SMTP connection that pipelines its envelopes."""

    def __init__(self, transport: asyncio.WriteTransport, *, timeout: float,
                 size: bool, chunking: bool = False) -> None:
        self.transport = transport
        self.timeout = timeout
        self.size = size
        self.chunking = chunking
        self.replies = _Replies()
        transport.set_protocol(self.replies)

    @classmethod
    def take_over(cls, client: aiosmtplib.SMTP, timeout: float) -> PipelinedConnection:
        """The connection `client` opened; `client` must not be used afterwards. Its
        transport is taken as what it does, not by its class: uvloop's transports (an event
        loop uvicorn picks when it is installed) are not `asyncio.WriteTransport`s."""
        transport = client.transport
        if transport is None or transport.is_closing():
            raise aiosmtplib.SMTPServerDisconnected("Connection lost")
        return cls(cast(asyncio.WriteTransport, transport), timeout=timeout,
                   size=client.supports_extension("size"),
                   chunking=client.supports_extension("chunking"))

    def _write(self, data: bytes) -> None:
        if self.transport.is_closing():
            raise aiosmtplib.SMTPServerDisconnected("Connection lost")
        self.transport.write(data)

    async def send(self, message: OutgoingEmail) -> None:
        if self.chunking:
            return await self._send_chunked(message)
        payload = data_payload(message.data)
        self._write(envelope_commands(message, self.size, payload))
        mail = await self.replies.next(self.timeout)
        rcpts = [await self.replies.next(self.timeout) for _ in message.recipients]
        data = await self.replies.next(self.timeout)
        self._check_envelope(message, mail, rcpts)
        if data.code != START_INPUT:
            raise aiosmtplib.SMTPDataError(data.code, data.message)
        self._write(payload)
        done = await self.replies.next(self.timeout)
        if done.code != 250:
            raise aiosmtplib.SMTPDataError(done.code, done.message)

    async def _send_chunked(self, message: OutgoingEmail) -> None:
        self._write(envelope_commands(message, self.size, chunk=crlf_form(message.data)))
        mail = await self.replies.next(self.timeout)
        rcpts = [await self.replies.next(self.timeout) for _ in message.recipients]
        done = await self.replies.next(self.timeout)
        self._check_envelope(message, mail, rcpts)
        if done.code != 250:
            raise aiosmtplib.SMTPDataError(done.code, done.message)

    @staticmethod
    def _check_envelope(message: OutgoingEmail, mail: SMTPResponse,
                        rcpts: list[SMTPResponse]) -> None:
        if mail.code != 250:
            raise aiosmtplib.SMTPSenderRefused(mail.code, mail.message, message.sender)
        refused = [aiosmtplib.SMTPRecipientRefused(reply.code, reply.message, recipient)
                   for reply, recipient in zip(rcpts, message.recipients, strict=True)
                   if reply.code not in ACCEPTED]
        if len(refused) == len(message.recipients):
            raise aiosmtplib.SMTPRecipientsRefused(refused)

    def close(self) -> None:
        if not self.transport.is_closing():
            self.transport.close()

    async def quit(self) -> None:
        try:
            self._write(b"QUIT\r\n")
            await self.replies.next(self.timeout)
        finally:
            self.close()
