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

With CHUNKING, a transaction's commands and content need no answer before the next
transaction's, so several messages may be in flight on one connection
(`LAPOR_SMTP_MESSAGES_PER_CONNECTION`, default 1): the messages handed over in one turn
of the event loop go out in one write, and each reply goes to the oldest transaction
still short of its replies. A refusal then concerns its own message only (the relay has
read its chunk, so the connection stays in step and in use); a connection that breaks
(lost, a malformed reply, no reply for `timeout` seconds) fails every message still
waiting on it, each to be sent again by the delivery policy, so a relay that breaks may
receive as many messages twice as were in flight.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
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


def crlf_data(message: OutgoingEmail) -> bytes:
    """The message with CRLF line endings: as it is when it says so (`build_email`'s,
    which spares the three counts, 4 µs an acknowledgement), else put in that form."""
    return message.data if message.crlf else crlf_form(message.data)


def data_payload(data: bytes, *, crlf: bool = False) -> bytes:
    """The message as DATA sends it: CRLF line endings (`crlf`: it has them already),
    leading periods doubled, and the terminating line. The notifier's own messages have
    CRLF line endings and no leading period already: three counts and a search find that
    at a quarter of the cost of the regular expressions, which then run only when there
    is something to change."""
    if not crlf:
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
        options += b" SIZE=%d" % len(sent if sent is not None
                                     else data_payload(message.data, crlf=message.crlf))
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
    """The server's replies, parsed as they arrive and handed out in order: queued for
    `next`, or each passed to `on_reply` when set (and the connection's loss to
    `on_lost`)."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.replies: deque[SMTPResponse] = deque()
        self.lost: Exception | None = None
        self.arrived = asyncio.Event()
        self.on_reply: Callable[[SMTPResponse], None] | None = None
        self.on_lost: Callable[[Exception], None] | None = None

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            reply = self._one_reply()
            if reply is None:
                break
            if self.on_reply is not None:
                self.on_reply(reply)
            else:
                self.replies.append(reply)
        if len(self.buffer) > _MAX_REPLY:
            self.lost = aiosmtplib.SMTPResponseException(500, "Response too long")
        self._arrived()

    def _arrived(self) -> None:
        self.arrived.set()
        if self.lost is not None and self.on_lost is not None:
            self.on_lost(self.lost)

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
        self._arrived()

    def eof_received(self) -> bool:
        self.lost = self.lost or aiosmtplib.SMTPServerDisconnected(
            "Unexpected EOF received")
        self._arrived()
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


@dataclass
class _Transaction:
    """A message (or QUIT) in flight: the replies it expects and those come so far."""

    expected: int
    done: asyncio.Future[list[SMTPResponse]]
    replies: list[SMTPResponse] = field(default_factory=list)


class PipelinedConnection:
    """An open, greeted (and authenticated) SMTP connection that pipelines its envelopes;
    with CHUNKING, several messages may be in flight at once (see the module's doc)."""

    def __init__(self, transport: asyncio.WriteTransport, *, timeout: float,
                 size: bool, chunking: bool = False,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.transport = transport
        self.timeout = timeout
        self.clock = clock  # when replies last came (injected in tests)
        self.size = size
        self.chunking = chunking
        self.replies = _Replies()
        transport.set_protocol(self.replies)
        self.failure: Exception | None = None  # why it broke (then it is closed)
        self._waiting: deque[_Transaction] = deque()  # chunking: oldest first
        self._out: list[bytes] = []  # written at the end of this turn of the loop
        self._last_progress = 0.0  # `clock` at the last reply (or at the first send)
        if chunking:
            self.replies.on_reply = self._reply
            self.replies.on_lost = self._fail

    @property
    def in_flight(self) -> int:
        """Transactions written (or about to be) and not yet answered in full."""
        return len(self._waiting)

    @property
    def usable(self) -> bool:
        return self.failure is None and not self.transport.is_closing()

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
        payload = data_payload(message.data, crlf=message.crlf)
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
        commands = envelope_commands(message, self.size, chunk=crlf_data(message))
        mail, *rcpts, done = await self._transact(commands, 2 + len(message.recipients))
        self._check_envelope(message, mail, rcpts)
        if done.code != 250:
            raise aiosmtplib.SMTPDataError(done.code, done.message)

    async def _transact(self, commands: bytes, expected: int) -> list[SMTPResponse]:
        """Queue `commands` for this turn's write and wait for their `expected` replies."""
        if not self.usable:
            raise self.failure or aiosmtplib.SMTPServerDisconnected("Connection lost")
        loop = asyncio.get_running_loop()
        done: asyncio.Future[list[SMTPResponse]] = loop.create_future()
        done.add_done_callback(_retrieved)  # no warning when nobody waits any more
        if not self._waiting:
            self._last_progress = self.clock()
        self._waiting.append(_Transaction(expected, done))
        if not self._out:
            loop.call_soon(self._flush)
        self._out.append(commands)
        while True:
            try:  # a timeout scope, not wait_for: no task per message
                async with asyncio.timeout(self.timeout):
                    return await asyncio.shield(done)
            except TimeoutError:
                if done.done():
                    return done.result()
                # Replies keep coming (to the transactions before this one): wait on.
                if self.clock() - self._last_progress < self.timeout:
                    continue
                self._fail(aiosmtplib.SMTPReadTimeoutError(
                    "Timed out waiting for server response"))

    def _flush(self) -> None:
        out, self._out = b"".join(self._out), []
        if self.failure is None:
            try:
                self._write(out)
            except aiosmtplib.SMTPServerDisconnected as exc:
                self._fail(exc)

    def _reply(self, reply: SMTPResponse) -> None:
        self._last_progress = self.clock()
        if not self._waiting:  # nothing asked for it: out of step
            self._fail(aiosmtplib.SMTPResponseException(reply.code, "Unexpected reply"))
            return
        transaction = self._waiting[0]
        transaction.replies.append(reply)
        if len(transaction.replies) == transaction.expected:
            self._waiting.popleft()
            if not transaction.done.done():
                transaction.done.set_result(transaction.replies)

    def _fail(self, exc: Exception) -> None:
        """The connection broke: every transaction still waiting fails with `exc`."""
        if self.failure is None:
            self.failure = exc
        while self._waiting:
            transaction = self._waiting.popleft()
            if not transaction.done.done():
                transaction.done.set_exception(exc)
        self.close()

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
            if self.chunking:
                await self._transact(b"QUIT\r\n", 1)
            else:
                self._write(b"QUIT\r\n")
                await self.replies.next(self.timeout)
        finally:
            self.close()


def _retrieved(future: asyncio.Future[list[SMTPResponse]]) -> None:
    if not future.cancelled():
        future.exception()
