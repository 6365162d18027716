"""The benchmark's minimal SMTP sink, fed the way clients write: whole sessions in one
read (pipelining), byte by byte, and with a terminator split across reads."""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks.smtp_sink import SinkProtocol

SESSION = (b"EHLO client\r\nMAIL FROM:<a@example.id>\r\nRCPT TO:<b@example.id>\r\nDATA\r\n"
           b"Subject: x\r\n\r\n..dot-stuffed line\r\nbody\r\n.\r\n"
           b"MAIL FROM:<a@example.id>\r\nRCPT TO:<c@example.id>\r\nDATA\r\n.\r\nQUIT\r\n")


class Transport:
    def __init__(self) -> None:
        self.written = b""
        self.closed = False

    def write(self, data: bytes) -> None:
        self.written += data

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True


def feed(chunks: list[bytes]) -> tuple[list[bytes], bool, int]:
    before = SinkProtocol.delivered
    protocol, transport = SinkProtocol(), Transport()
    protocol.transport = transport  # type: ignore[assignment]  # no greeting: not under test
    for chunk in chunks:
        protocol.data_received(chunk)
    codes = [line[:3] for line in transport.written.split(b"\r\n") if line[3:4] in (b" ", b"")]
    return [c for c in codes if c], transport.closed, SinkProtocol.delivered - before


EXPECTED = [b"250", b"250", b"250", b"354", b"250", b"250", b"250", b"354", b"250", b"221"]


@pytest.mark.parametrize("split", ["whole", "bytes", "terminator"])
def test_two_messages_are_accepted_however_the_bytes_arrive(split: str) -> None:
    chunks: Any
    if split == "whole":
        chunks = [SESSION]
    elif split == "bytes":
        chunks = [SESSION[i:i + 1] for i in range(len(SESSION))]
    else:
        cut = SESSION.index(b"body\r\n.") + 5  # between "\r\n" and ".\r\n"
        chunks = [SESSION[:cut], SESSION[cut:cut + 1], SESSION[cut + 1:]]
    codes, closed, delivered = feed(chunks)
    assert codes == EXPECTED
    assert closed and delivered == 2


def test_data_before_a_recipient_is_refused() -> None:
    codes, closed, delivered = feed([b"EHLO c\r\nMAIL FROM:<a@x.id>\r\nDATA\r\nNOOP\r\n"])
    assert codes == [b"250", b"250", b"503", b"250"]
    assert not closed and delivered == 0


MESSAGE = b"Subject: x\r\n\r\n.not stuffed\r\nMAIL FROM:<in the body>\r\n"
CHUNKED = (b"EHLO client\r\nMAIL FROM:<a@example.id>\r\nRCPT TO:<b@example.id>\r\n"
           b"BDAT %d LAST\r\n%s"
           b"MAIL FROM:<a@example.id>\r\nBDAT 5 LAST\r\nhelloNOOP\r\n") % (len(MESSAGE), MESSAGE)


@pytest.mark.parametrize("split", ["whole", "bytes"])
def test_bdat_chunks_are_read_whole_and_answered_after_them(split: str) -> None:
    """RFC 3030: a chunk follows its BDAT command and is read even when the transaction
    is refused (the second: no recipient), so the commands after it stay in step."""
    chunks = [CHUNKED] if split == "whole" else [CHUNKED[i:i + 1] for i in range(len(CHUNKED))]
    codes, closed, delivered = feed(chunks)
    assert codes == [b"250", b"250", b"250", b"250", b"250", b"503", b"250"]
    assert not closed and delivered == 1
