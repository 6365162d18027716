"""The SMTP sender against a real SMTP server (aiosmtpd), with and without PIPELINING
advertised: messages arrive intact over one kept connection, and refusals come back as
the same aiosmtplib errors with the server's codes either way; a relay that wants
STARTTLS and AUTH is pipelined after them. Against the benchmark's sink (CHUNKING): each
message in one write, and messages sharing connections when the setting allows."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from benchmarks.smtp_sink import SinkProtocol
from services.notifier.adapters.smtp import OutgoingEmail, SmtpSender, _Plain, build_email
from services.notifier.adapters.smtp_pipelining import PipelinedConnection
from shared.devinfra.launcher import free_port
from shared.devinfra.mailbox import Mailbox
from shared.settings import Settings


@pytest.fixture(params=[True, False], ids=["pipelining", "plain"])
def relay(request: pytest.FixtureRequest) -> Iterator[Mailbox]:
    with Mailbox(pipelining=request.param) as box:
        yield box


def sender_for(relay: Mailbox) -> SmtpSender:
    return SmtpSender(Settings(smtp_host="127.0.0.1", smtp_port=relay.port,
                               smtp_timeout_seconds=5))


def email(to: str, text: str = "Laporan Anda sudah diterima.") -> OutgoingEmail:
    return build_email(sender="LAPOR! <noreply@lapor.go.id>", to=to,
                       subject="Laporan diterima", text=text, html=None,
                       message_id="<m@lapor.go.id>", tracking_id="5QGP-3MPT-R",
                       language="id")


async def test_messages_arrive_intact_over_one_kept_connection(relay: Mailbox) -> None:
    sender = sender_for(relay)
    try:
        await sender.send(email("a@example.id"))
        await sender.send(email("b@example.id", ".awal baris dengan titik\n.\nakhir"))
        await sender.send(email("ç@example.id"))  # SMTPUTF8
        kind = PipelinedConnection if relay.pipelining else _Plain
        assert [type(c) for c in sender._idle] == [kind]
    finally:
        await sender.close()
    assert relay.greetings == 1
    assert [m.recipients for m in relay.messages] == [
        ["a@example.id"], ["b@example.id"], ["ç@example.id"]]
    assert relay.messages[1].text().replace("\r\n", "\n") == (
        ".awal baris dengan titik\n.\nakhir\n")  # dot-stuffing undone by the server


async def test_refusals_raise_the_servers_codes_and_the_next_message_still_goes(
        relay: Mailbox) -> None:
    sender = sender_for(relay)
    try:
        relay.refuse_recipient("nobody@example.id", "550 5.1.1 No such user")
        with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refused:
            await sender.send(email("nobody@example.id"))
        assert [r.code for r in refused.value.recipients] == [550]

        relay.refuse_with = "451 4.3.0 Try again later"
        with pytest.raises(aiosmtplib.SMTPDataError) as later:
            await sender.send(email("c@example.id"))
        assert later.value.code == 451
        relay.refuse_with = None

        await sender.send(email("c@example.id"))
    finally:
        await sender.close()
    assert [m.recipients for m in relay.messages] == [["c@example.id"]]


async def test_a_connection_the_server_closed_is_replaced(relay: Mailbox) -> None:
    sender = sender_for(relay)
    try:
        await sender.send(email("a@example.id"))
        relay.stop()  # the kept connection dies with the server
        relay.start()
        await sender.send(email("b@example.id"))
    finally:
        await sender.close()
    assert relay.greetings == 2
    assert [m.recipients for m in relay.messages] == [["a@example.id"], ["b@example.id"]]


class _Relay:
    """aiosmtpd handler of a relay that wants STARTTLS and AUTH, and pipelines."""

    def __init__(self) -> None:
        self.received: list[tuple[str, list[str]]] = []
        self.tls_at_mail: list[bool] = []

    async def handle_EHLO(self, server: Any, session: Any, envelope: Any,  # noqa: N802
                          hostname: str, responses: list[str]) -> list[str]:
        session.host_name = hostname
        responses.insert(len(responses) - 1, "250-PIPELINING")
        return responses

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.tls_at_mail.append(session.ssl is not None and session.authenticated)
        return "250 OK"


def _authenticate(server: Any, session: Any, envelope: Any, mechanism: str,
                  auth_data: Any) -> AuthResult:
    ok = (auth_data.login, auth_data.password) == (b"lapor", b"rahasia")
    return AuthResult(success=ok)


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key."""
    cert, key = tmp_path / "relay.pem", tmp_path / "relay.key"
    subprocess.run(  # noqa: S603
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",  # noqa: S607
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


async def test_pipelining_after_starttls_and_auth(certificate: tuple[Path, Path],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    cert, key = certificate
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the client trusts this relay only
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    handler = _Relay()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, tls_context=context,
                            require_starttls=True, auth_required=True,
                            authenticator=_authenticate)
    controller.start()
    sender = SmtpSender(Settings(smtp_host="127.0.0.1", smtp_port=port, smtp_starttls=True,
                                 smtp_username="lapor", smtp_password="rahasia",
                                 smtp_timeout_seconds=5))
    try:
        await sender.send(email("a@example.id"))
        await sender.send(email("b@example.id"))
        assert [type(c) for c in sender._idle] == [PipelinedConnection]
    finally:
        await sender.close()
        controller.stop()
    assert handler.received == [("noreply@lapor.go.id", ["a@example.id"]),
                                ("noreply@lapor.go.id", ["b@example.id"])]
    assert handler.tls_at_mail == [True, True]  # over TLS, authenticated


class RecordingSink:
    """The benchmark's sink (PIPELINING and CHUNKING) over TCP, recording its sessions and
    every read; `delivered` counts the messages it accepted."""

    def __init__(self) -> None:
        self.reads: list[bytes] = []
        self.sessions = 0
        self.server: asyncio.Server | None = None
        self._before = SinkProtocol.delivered

    @property
    def delivered(self) -> int:
        return SinkProtocol.delivered - self._before

    async def __aenter__(self) -> int:
        sink = self

        class Recording(SinkProtocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                sink.sessions += 1
                super().connection_made(transport)

            def data_received(self, data: bytes) -> None:
                sink.reads.append(data)
                super().data_received(data)

        self.server = await asyncio.get_running_loop().create_server(Recording, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


async def test_a_relay_offering_chunking_takes_each_message_in_one_write() -> None:
    """RFC 3030 against a real SMTP server over TCP (the benchmark's sink, which advertises
    PIPELINING and CHUNKING): each message goes as `BDAT <size> LAST` with its exact
    bytes, not dot-stuffed, over one kept connection, and every one is accepted."""
    sink = RecordingSink()
    messages = [email("a@example.id"), email("b@example.id", ".awal baris\n.\nakhir"),
                email("ç@example.id")]
    async with sink as port:
        sender = SmtpSender(Settings(smtp_host="127.0.0.1", smtp_port=port,
                                     smtp_timeout_seconds=5))
        try:
            for message in messages:
                await sender.send(message)
            [connection] = sender._idle
            assert isinstance(connection, PipelinedConnection) and connection.chunking
        finally:
            await sender.close()
    assert sink.delivered == 3
    session = b"".join(sink.reads)
    for message in messages:
        assert b"BDAT %d LAST\r\n%s" % (len(message.data), message.data) in session
    assert b"\r\nDATA\r\n" not in session and b"\r\n..awal" not in session


async def test_messages_share_connections_to_a_relay_offering_chunking() -> None:
    """Against the benchmark's sink over TCP, 200 sends at once with 50 messages per
    connection: every message arrives, over at most four connections, several to a read."""
    sink = RecordingSink()
    messages = [email(f"warga{index}@example.id") for index in range(200)]
    async with sink as port:
        sender = SmtpSender(Settings(smtp_host="127.0.0.1", smtp_port=port,
                                     smtp_timeout_seconds=5, notify_concurrency=200,
                                     smtp_messages_per_connection=50))
        try:
            await asyncio.gather(*(sender.send(message) for message in messages))
            assert 1 <= len(sender.shared) <= 4 and not sender._idle
            assert all(c.usable and c.in_flight == 0 for c in sender.shared)
        finally:
            await sender.close()
    assert sink.delivered == 200 and sink.sessions <= 4
    session = b"".join(sink.reads)
    assert all(b"RCPT TO:<warga%d@example.id>" % index in session for index in range(200))
    bdat_reads = [read for read in sink.reads if b"BDAT" in read]
    assert sum(read.count(b"BDAT") for read in bdat_reads) == 200
    assert len(bdat_reads) < 50  # several messages to a read: written together (9 seen)


async def test_a_relay_without_chunking_takes_one_message_at_a_time_whatever_the_setting(
        ) -> None:
    with Mailbox(pipelining=True) as relay:
        sender = SmtpSender(Settings(smtp_host="127.0.0.1", smtp_port=relay.port,
                                     smtp_timeout_seconds=5, notify_concurrency=4,
                                     smtp_messages_per_connection=50))
        try:
            for batch in range(3):
                await asyncio.gather(*(sender.send(email(f"w{batch}{index}@example.id"))
                                       for index in range(4)))
            assert sender.shared == [] and 1 <= len(sender._idle) <= 4
            assert all(isinstance(c, PipelinedConnection) and not c.chunking
                       for c in sender._idle)
        finally:
            await sender.close()
        assert len(relay.messages) == 12
        assert relay.greetings <= 5  # kept connections, not one per message
