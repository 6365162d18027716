"""The SMTP sender against a real SMTP server (aiosmtpd), with and without PIPELINING
advertised: messages arrive intact over one kept connection, and refusals come back as
the same aiosmtplib errors with the server's codes either way."""

from __future__ import annotations

from collections.abc import Iterator

import aiosmtplib
import pytest

from services.notifier.adapters.smtp import OutgoingEmail, SmtpSender, _Plain, build_email
from services.notifier.adapters.smtp_pipelining import PipelinedConnection
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
