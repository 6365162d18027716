"""A minimal SMTP sink for the benchmark: accepts every message and keeps only a count.

    python -m benchmarks.smtp_sink --port PORT

The benchmark's SMTP server stands in for the organisation's mail relay, which in a
deployment runs elsewhere; on the benchmark's two cores its CPU competes with the
pipeline's. aiosmtpd (`--sink aiosmtpd`, the default until the eleventh round) costs
about 0.6 ms of CPU per complaint (two messages); this one, the default now, speaks the
subset of RFC 5321 a client needs to hand over mail (EHLO/HELO, MAIL, RCPT, DATA with
dot-stuffing, RSET, NOOP, QUIT; PIPELINING, CHUNKING with BDAT (RFC 3030), 8BITMIME and
SMTPUTF8 advertised) in one asyncio protocol, at a seventh of that. It checks nothing and
stores nothing: for measuring, not for tests of mail content (those use
`shared.devinfra.Mailbox`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from typing import Any

GREETING = b"220 lapor-bench-sink ESMTP\r\n"
EHLO = (b"250-lapor-bench-sink\r\n250-PIPELINING\r\n250-CHUNKING\r\n250-8BITMIME\r\n"
        b"250-SMTPUTF8\r\n250 SIZE 33554432\r\n")
OK = b"250 OK\r\n"
DATA_GO = b"354 End data with <CR><LF>.<CR><LF>\r\n"
BYE = b"221 Bye\r\n"
UNKNOWN = b"502 Command not implemented\r\n"
SEQUENCE = b"503 Bad sequence of commands\r\n"
END_OF_DATA = b"\r\n.\r\n"


class SinkProtocol(asyncio.Protocol):
    """One SMTP session. Commands are answered in order, as pipelining requires."""

    delivered = 0  # messages accepted, across sessions

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.in_data = False
        self.carry = b""
        self.has_sender = False
        self.has_recipient = False
        self.chunk_left = 0  # octets of a BDAT chunk still to read
        self.chunk_reply = b""  # its reply, once read (a chunk is read even when refused)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(GREETING)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        replies: list[bytes] = []
        while True:
            if self.chunk_left:
                taken = min(self.chunk_left, len(self.buffer))
                self.buffer, self.chunk_left = self.buffer[taken:], self.chunk_left - taken
                if self.chunk_left:
                    break
                replies.append(self.chunk_reply)
                continue
            if self.in_data:
                # `carry` holds the end of what came before (at first the DATA line's own
                # CRLF, which an empty body's terminator follows directly), so a terminator
                # split across reads is found too.
                window = self.carry + self.buffer
                end = window.find(END_OF_DATA)
                if end < 0:
                    self.carry, self.buffer = window[-4:], b""
                    break
                self.buffer = window[end + len(END_OF_DATA):]
                self.in_data = self.has_sender = self.has_recipient = False
                SinkProtocol.delivered += 1
                replies.append(OK)
                continue
            line_end = self.buffer.find(b"\r\n")
            if line_end < 0:
                break
            line, self.buffer = self.buffer[:line_end], self.buffer[line_end + 2:]
            reply = self.command(line)
            if reply is None:
                replies.append(BYE)
                self._send(replies)
                assert self.transport is not None
                self.transport.close()
                return
            replies.append(reply)
        self._send(replies)

    def command(self, line: bytes) -> bytes | None:
        verb = line[:4].upper()
        if verb in (b"EHLO", b"HELO"):
            self.has_sender = self.has_recipient = False
            return EHLO if verb == b"EHLO" else OK
        if verb == b"MAIL":
            self.has_sender, self.has_recipient = True, False
            return OK
        if verb == b"RCPT":
            if not self.has_sender:
                return SEQUENCE
            self.has_recipient = True
            return OK
        if verb == b"DATA":
            if not self.has_recipient:
                return SEQUENCE
            self.in_data, self.carry = True, b"\r\n"
            return DATA_GO
        if verb == b"BDAT":
            return self._bdat(line)
        if verb == b"RSET":
            self.has_sender = self.has_recipient = False
            return OK
        if verb == b"NOOP":
            return OK
        if verb == b"QUIT":
            return None
        return UNKNOWN

    def _bdat(self, line: bytes) -> bytes:
        """`BDAT <size> [LAST]` (RFC 3030): the chunk follows the command at once and is
        read whatever the answer; its reply is sent once it has been read."""
        words = line.split()
        if len(words) not in (2, 3) or not words[1].isdigit() or (
                len(words) == 3 and words[2].upper() != b"LAST"):
            return b"501 Syntax: BDAT <size> [LAST]\r\n"  # (no chunk can be told apart)
        self.chunk_left = int(words[1])
        if not self.has_recipient:
            self.chunk_reply = SEQUENCE
        else:
            self.chunk_reply = OK
            if len(words) == 3:
                SinkProtocol.delivered += 1
                self.has_sender = self.has_recipient = False
        if self.chunk_left == 0:
            return self.chunk_reply
        return b""  # the reply follows the chunk

    def _send(self, replies: list[bytes]) -> None:
        if replies and self.transport is not None and not self.transport.is_closing():
            self.transport.write(b"".join(replies))


async def serve(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(SinkProtocol, host, port, backlog=1024)
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    async with server:
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.smtp_sink")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    asyncio.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()


class PipeliningSink:
    """aiosmtpd handler for `--sink aiosmtpd` (`-c benchmarks.smtp_sink.PipeliningSink`):
    aiosmtpd's `Sink`, advertising PIPELINING as the relays it stands in for do (aiosmtpd
    reads commands line by line, so a pipelined envelope is answered in order)."""

    async def handle_EHLO(self, server: object, session: Any, envelope: object,  # noqa: N802
                          hostname: str, responses: list[str]) -> list[str]:
        session.host_name = hostname
        responses.insert(len(responses) - 1, "250-PIPELINING")
        return responses
