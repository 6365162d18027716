"""SMTP pipelining (RFC 2920): the envelope in one write, replies read in order however
they arrive, and the server's refusals raised as the aiosmtplib errors the delivery policy
knows."""

from __future__ import annotations

import asyncio
from typing import Any

import aiosmtplib
import pytest

from services.notifier.adapters.smtp import OutgoingEmail
from services.notifier.adapters.smtp_pipelining import (
    PipelinedConnection,
    crlf_form,
    data_payload,
    envelope_commands,
)
from services.notifier.domain.delivery_policy import FailureKind, classify_smtp

MESSAGE = OutgoingEmail("noreply@lapor.go.id", ("warga@example.id",), b"Subject: x\r\n\r\nisi\r\n")


class Wire(asyncio.WriteTransport):
    """The client's side of a connection: what it wrote, and the server's replies."""

    def __init__(self, *replies: list[bytes]) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.replies = list(replies)  # per write: the chunks the server sends back
        self.protocol: Any = None
        self.closed = False

    def set_protocol(self, protocol: Any) -> None:
        self.protocol = protocol

    def write(self, data: Any) -> None:
        self.writes.append(bytes(data))
        if self.replies:
            for chunk in self.replies.pop(0):
                asyncio.get_running_loop().call_soon(self.protocol.data_received, chunk)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True


def test_data_is_dot_stuffed_with_crlf_and_terminated() -> None:
    assert data_payload(b"a\n.b\r\n..c\rd") == b"a\r\n..b\r\n...c\r\nd\r\n.\r\n"
    assert data_payload(b"a\r\n") == b"a\r\n.\r\n"
    assert data_payload(b".a\r\nb") == b"..a\r\nb\r\n.\r\n"  # CRLF already, a leading period
    assert data_payload(b"a\r\nb\rc") == b"a\r\nb\r\nc\r\n.\r\n"  # a bare CR among CRLFs
    assert data_payload(b"a\r\nb\nc") == b"a\r\nb\r\nc\r\n.\r\n"  # a bare LF among CRLFs
    assert data_payload(b"") == b"\r\n.\r\n"


def test_the_envelope_is_one_write_with_size_and_smtputf8_when_needed() -> None:
    assert envelope_commands(MESSAGE, size=False) == (
        b"MAIL FROM:<noreply@lapor.go.id>\r\nRCPT TO:<warga@example.id>\r\nDATA\r\n")
    utf8 = OutgoingEmail("noreply@lapor.go.id", ("çamat@example.id",), b"x")
    assert envelope_commands(utf8, size=True) == (
        b"MAIL FROM:<noreply@lapor.go.id> SIZE=6 SMTPUTF8\r\n"
        b"RCPT TO:<\xc3\xa7amat@example.id>\r\nDATA\r\n")
    with pytest.raises(ValueError):
        envelope_commands(OutgoingEmail("a@b.id", ("x@y.id\r\nRCPT TO:<z@y.id>",), b"x"),
                          size=False)


@pytest.mark.parametrize("address", [
    "warga@example.id", "siti.rahma+lapor@sub.example.co.id", "çamat@example.id",
    '"aduan warga"@example.id', "a(comment)@example.id", "<warga@example.id>"])
def test_the_envelope_address_is_what_aiosmtplib_would_write(address: str) -> None:
    from aiosmtplib.email import quote_address

    encoding = "utf-8"
    message = OutgoingEmail("noreply@lapor.go.id", (address,), b"x")
    expected = b"RCPT TO:" + quote_address(address).encode(encoding) + b"\r\n"
    assert expected in envelope_commands(message, size=False)


async def test_a_message_is_two_writes_and_replies_may_come_split_or_together() -> None:
    wire = Wire([b"250 2.1.0 OK\r\n250-2.1.5 OK\r\n250 recipient", b" ok\r\n35",
                 b"4 end data with <CR><LF>.<CR><LF>\r\n"],  # split mid-reply, mid-code
                [b"250 2.0.0 queued as 1\r\n"])
    connection = PipelinedConnection(wire, timeout=1, size=False)
    await connection.send(MESSAGE)
    assert wire.writes == [envelope_commands(MESSAGE, size=False), data_payload(MESSAGE.data)]
    assert not connection.replies.replies  # every reply consumed, in order


@pytest.mark.parametrize(("replies", "error", "code", "kind"), [
    ([[b"550 5.7.1 sender rejected\r\n503 no sender\r\n503 no recipients\r\n"]],
     aiosmtplib.SMTPSenderRefused, 550, FailureKind.PERMANENT),
    ([[b"250 OK\r\n451 4.2.2 mailbox full\r\n554 no valid recipients\r\n"]],
     aiosmtplib.SMTPRecipientsRefused, 451, FailureKind.TRANSIENT),
    ([[b"250 OK\r\n250 OK\r\n354 go\r\n"], [b"552 5.3.4 too big\r\n"]],
     aiosmtplib.SMTPDataError, 552, FailureKind.PERMANENT),
])
async def test_refusals_raise_the_aiosmtplib_errors_with_the_servers_code(
        replies: list[list[bytes]], error: type[Exception], code: int, kind: FailureKind
        ) -> None:
    connection = PipelinedConnection(Wire(*replies), timeout=1, size=False)
    with pytest.raises(error) as raised:
        await connection.send(MESSAGE)
    codes = [r.code for r in raised.value.recipients] if isinstance(
        raised.value, aiosmtplib.SMTPRecipientsRefused) else [raised.value.code]
    assert codes == [code]
    assert classify_smtp(raised.value) == kind


async def test_a_lost_connection_or_a_silent_server_is_a_transient_failure() -> None:
    wire = Wire([b"250 OK\r\n"])
    connection = PipelinedConnection(wire, timeout=1, size=False)
    task = asyncio.create_task(connection.send(MESSAGE))
    for _ in range(5):  # the envelope written, MAIL's reply read, RCPT's awaited
        await asyncio.sleep(0)
    assert len(wire.writes) == 1 and not task.done()
    wire.protocol.connection_lost(None)
    with pytest.raises(aiosmtplib.SMTPServerDisconnected) as lost:
        await task
    assert classify_smtp(lost.value) == FailureKind.TRANSIENT

    silent = PipelinedConnection(Wire(), timeout=0.01, size=False)
    with pytest.raises(aiosmtplib.SMTPReadTimeoutError) as timed_out:
        await silent.send(MESSAGE)
    assert classify_smtp(timed_out.value) == FailureKind.TRANSIENT


async def test_with_chunking_a_message_is_one_write_of_envelope_bdat_and_content() -> None:
    """RFC 3030: `BDAT <size> LAST` and the message right behind the envelope, not
    dot-stuffed (a line may start with a period), one reply for the whole content."""
    message = OutgoingEmail("noreply@lapor.go.id", ("warga@example.id",),
                            b"Subject: x\r\n\r\n.titik\nisi\r\n")
    wire = Wire([b"250 OK\r\n250 OK\r\n250 2.0.0 queued as 1\r\n"])
    connection = PipelinedConnection(wire, timeout=1, size=True, chunking=True)
    await connection.send(message)
    content = b"Subject: x\r\n\r\n.titik\r\nisi\r\n"  # the bare LF made CRLF, nothing more
    assert wire.writes == [b"MAIL FROM:<noreply@lapor.go.id> SIZE=%d\r\n"
                           b"RCPT TO:<warga@example.id>\r\nBDAT %d LAST\r\n%s"
                           % (len(content), len(content), content)]
    assert not connection.replies.replies


@pytest.mark.parametrize("chunking", [True, False])
async def test_a_message_marked_crlf_is_not_looked_at_again(
        chunking: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """build_email's messages are in CRLF form already and say so: neither DATA nor BDAT
    counts their line endings again; an unmarked message's are put right as before."""
    from services.notifier.adapters import smtp_pipelining

    looked_at: list[bytes] = []

    def counting(data: bytes) -> bytes:
        looked_at.append(data)
        return crlf_form(data)

    monkeypatch.setattr(smtp_pipelining, "crlf_form", counting)
    content = b"Subject: x\r\n\r\nisi\r\n"
    replies = [[b"250 OK\r\n250 OK\r\n250 2.0.0 queued as 1\r\n"]] if chunking else \
        [[b"250 OK\r\n250 OK\r\n354 go\r\n"], [b"250 2.0.0 queued as 1\r\n"]]
    for crlf in (True, False):
        message = OutgoingEmail("noreply@lapor.go.id", ("warga@example.id",), content,
                                crlf=crlf)
        wire = Wire(*replies)
        await PipelinedConnection(wire, timeout=1, size=True, chunking=chunking).send(message)
        assert content in b"".join(wire.writes)
        assert looked_at == ([] if crlf else [content]), crlf
        looked_at.clear()


@pytest.mark.parametrize(("replies", "error", "code"), [
    ([b"550 5.7.1 sender rejected\r\n503 no sender\r\n503 no recipients\r\n"],
     aiosmtplib.SMTPSenderRefused, 550),
    ([b"250 OK\r\n550 5.1.1 no such user\r\n554 no valid recipients\r\n"],
     aiosmtplib.SMTPRecipientsRefused, 550),
    ([b"250 OK\r\n250 OK\r\n552 5.3.4 too big\r\n"], aiosmtplib.SMTPDataError, 552),
])
async def test_chunked_refusals_raise_the_same_errors_after_every_reply(
        replies: list[bytes], error: type[Exception], code: int) -> None:
    connection = PipelinedConnection(Wire(replies), timeout=1, size=False, chunking=True)
    with pytest.raises(error) as raised:
        await connection.send(MESSAGE)
    codes = [r.code for r in raised.value.recipients] if isinstance(
        raised.value, aiosmtplib.SMTPRecipientsRefused) else [raised.value.code]
    assert codes == [code]
    assert not connection.replies.replies  # the BDAT reply read too: nothing left behind


def test_the_crlf_form_changes_only_bare_line_endings() -> None:
    assert crlf_form(b"a\r\n.b\r\n") == b"a\r\n.b\r\n"
    assert crlf_form(b"a\nb\rc\r\n") == b"a\r\nb\r\nc\r\n"


class LoopTransport:
    """A transport of another event loop's make (uvloop's): it does what a write
    transport does, but is no `asyncio.WriteTransport`."""

    def __init__(self, wire: Wire) -> None:
        self.wire = wire

    def __getattr__(self, name: str) -> Any:
        return getattr(self.wire, name)


class _Opened:
    """What aiosmtplib leaves once it has greeted the relay: its transport and extensions."""

    def __init__(self, transport: Any, *extensions: str) -> None:
        self.transport = transport
        self.extensions = extensions

    def supports_extension(self, name: str) -> bool:
        return name in self.extensions


async def test_a_connection_is_taken_over_whatever_class_its_transport_is() -> None:
    wire = Wire([b"250 OK\r\n250 OK\r\n250 2.0.0 queued\r\n"])
    transport = LoopTransport(wire)
    assert not isinstance(transport, asyncio.WriteTransport)
    connection = PipelinedConnection.take_over(
        _Opened(transport, "pipelining", "chunking"), timeout=1)  # type: ignore[arg-type]
    await connection.send(MESSAGE)
    assert wire.writes == [envelope_commands(MESSAGE, size=False,
                                             chunk=crlf_form(MESSAGE.data))]


async def test_a_connection_closed_before_the_take_over_is_a_transient_failure() -> None:
    wire = Wire()
    wire.closed = True
    for transport in (None, LoopTransport(wire)):
        with pytest.raises(aiosmtplib.SMTPServerDisconnected) as lost:
            PipelinedConnection.take_over(_Opened(transport, "pipelining"),  # type: ignore[arg-type]
                                          timeout=1)
        assert classify_smtp(lost.value) == FailureKind.TRANSIENT


def chunked(to: str) -> OutgoingEmail:
    return OutgoingEmail("noreply@lapor.go.id", (to,), b"Subject: x\r\n\r\nisi\r\n")


async def test_with_chunking_messages_handed_over_together_share_one_write() -> None:
    messages = [chunked(f"w{index}@example.id") for index in range(3)]
    wire = Wire([b"250 OK\r\n" * 9])  # all nine replies in one read
    connection = PipelinedConnection(wire, timeout=1, size=False, chunking=True)
    await asyncio.gather(*(connection.send(message) for message in messages))
    assert wire.writes == [b"".join(envelope_commands(m, False, chunk=m.data)
                                    for m in messages)]
    assert connection.in_flight == 0 and connection.usable


async def test_a_refusal_fails_its_own_message_and_the_connection_stays_in_use() -> None:
    wire = Wire([b"250 OK\r\n250 OK\r\n250 queued\r\n",  # the first message
                 b"250 OK\r\n550 5.1.1 no such user\r\n554 no valid recipients\r\n",
                 b"250 OK\r\n250 OK\r\n250 queued\r\n"], [b"250 OK\r\n" * 3])
    connection = PipelinedConnection(wire, timeout=1, size=False, chunking=True)
    results = await asyncio.gather(*(connection.send(chunked(to)) for to in (
        "a@example.id", "nobody@example.id", "c@example.id")), return_exceptions=True)
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], aiosmtplib.SMTPRecipientsRefused)
    assert [r.code for r in results[1].recipients] == [550]
    assert connection.usable
    await connection.send(chunked("d@example.id"))  # the next one goes on the same
    assert len(wire.writes) == 2


async def test_a_lost_connection_fails_every_message_in_flight_and_no_more_are_taken() -> None:
    wire = Wire([b"250 OK\r\n250 OK\r\n250 queued\r\n250 OK\r\n"])  # 1st answered, 2nd half
    connection = PipelinedConnection(wire, timeout=1, size=False, chunking=True)
    tasks = [asyncio.create_task(connection.send(chunked(to)))
             for to in ("a@example.id", "b@example.id", "c@example.id")]
    await asyncio.wait_for(tasks[0], 1)
    assert connection.in_flight == 2
    wire.protocol.connection_lost(None)
    for task in tasks[1:]:
        with pytest.raises(aiosmtplib.SMTPServerDisconnected) as lost:
            await task
        assert classify_smtp(lost.value) == FailureKind.TRANSIENT
    assert not connection.usable and wire.closed and connection.in_flight == 0
    with pytest.raises(aiosmtplib.SMTPServerDisconnected):
        await connection.send(chunked("d@example.id"))
    assert len(wire.writes) == 1


async def test_a_silent_relay_fails_all_in_flight_but_one_still_answering_does_not() -> None:
    silent = PipelinedConnection(Wire(), timeout=0.01, size=False, chunking=True)
    results = await asyncio.gather(*(silent.send(chunked(to)) for to in (
        "a@example.id", "b@example.id")), return_exceptions=True)
    assert all(isinstance(r, aiosmtplib.SMTPReadTimeoutError) for r in results)
    assert not silent.usable

    # A relay that answers slowly: the timeout (10 ms of real waiting) comes round many
    # times, but while the connection's clock says replies came within the timeout,
    # messages wait on; once it says none came for longer, every one still waiting fails.
    now = [0.0]
    wire = Wire()
    slow = PipelinedConnection(wire, timeout=0.01, size=False, chunking=True,
                               clock=lambda: now[0])
    sends = [asyncio.create_task(slow.send(chunked(f"w{index}@example.id")))
             for index in range(3)]
    await asyncio.sleep(0.05)  # several timeouts come round; the clock has not moved
    assert not any(send.done() for send in sends) and slow.usable
    now[0] = 0.009  # a reply, just within the timeout: the first message is done
    wire.protocol.data_received(b"250 OK\r\n250 OK\r\n250 queued\r\n")
    await sends[0]
    now[0] = 0.015  # 6 ms after that reply: still within it
    await asyncio.sleep(0.03)
    assert not sends[1].done() and slow.usable
    now[0] = 0.02  # 11 ms without a reply: stalled
    results = await asyncio.gather(*sends[1:], return_exceptions=True)
    assert all(isinstance(r, aiosmtplib.SMTPReadTimeoutError) for r in results)
    assert not slow.usable and slow.in_flight == 0


async def test_a_reply_nobody_asked_for_breaks_the_connection() -> None:
    wire = Wire()
    connection = PipelinedConnection(wire, timeout=1, size=False, chunking=True)
    wire.protocol.data_received(b"250 OK\r\n")
    assert not connection.usable and wire.closed
