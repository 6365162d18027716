"""A real SMTP server (aiosmtpd) that keeps every message it receives, for the demo and tests."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from shared.devinfra.launcher import free_port


@dataclass
class ReceivedMail:
    envelope_from: str
    recipients: list[str]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    def header(self, name: str) -> str | None:
        value = self.message[name]
        return str(value) if value is not None else None

    def text(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        return part.get_content() if part is not None else ""

    def html(self) -> str:
        part = self.message.get_body(preferencelist=("html",))
        return part.get_content() if part is not None else ""


class _Keeper:
    def __init__(self, mailbox: Mailbox) -> None:
        self.mailbox = mailbox

    async def handle_EHLO(self, server: Any, session: Any, envelope: Any,  # noqa: N802
                          hostname: str, responses: list[str]) -> list[str]:
        session.host_name = hostname
        if self.mailbox.pipelining:  # as relays do; aiosmtpd reads commands line by line
            responses.insert(len(responses) - 1, "250-PIPELINING")
        self.mailbox.greetings += 1
        return responses

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any,  # noqa: N802
                          address: str, rcpt_options: list[str]) -> str:
        refusal = self.mailbox.refused_recipients.get(address.lower())
        if refusal:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        if self.mailbox.refuse_with:
            return self.mailbox.refuse_with
        message = message_from_bytes(envelope.content, policy=policy.default)
        mail = ReceivedMail(envelope.mail_from, list(envelope.rcpt_tos), message)  # type: ignore[arg-type]
        with self.mailbox.lock:
            self.mailbox.messages.append(mail)
        for listener in list(self.mailbox.listeners):
            listener(mail)
        return "250 Message accepted for delivery"


class Mailbox:
    """`with Mailbox() as box:` serves SMTP on a free loopback port; `box.messages` fills up."""

    def __init__(self, port: int | None = None, *, pipelining: bool = True) -> None:
        self.port = port or free_port()
        self.pipelining = pipelining  # advertise PIPELINING (RFC 2920), as relays do
        self.greetings = 0  # EHLOs answered: one per connection a client opened
        self.messages: list[ReceivedMail] = []
        self.listeners: list[Any] = []
        self.lock = threading.Lock()
        self.refuse_with: str | None = None  # e.g. "451 try later" to simulate trouble
        # Per-recipient answers to RCPT TO, e.g. {"a@x.id": "550 no such user"}.
        self.refused_recipients: dict[str, str] = {}
        self._controller: Controller | None = None

    def start(self) -> Mailbox:
        self._controller = Controller(_Keeper(self), hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def env(self) -> dict[str, str]:
        return {"LAPOR_SMTP_HOST": "127.0.0.1", "LAPOR_SMTP_PORT": str(self.port)}

    def to(self, address: str) -> list[ReceivedMail]:
        with self.lock:
            return [m for m in self.messages if address in m.recipients]

    def refuse_recipient(self, address: str, reply: str | None) -> None:
        """Answer RCPT TO for `address` with `reply` ("451 ...", "550 ..."); None accepts."""
        if reply is None:
            self.refused_recipients.pop(address.lower(), None)
        else:
            self.refused_recipients[address.lower()] = reply

    @property
    def running(self) -> bool:
        return self._controller is not None

    def __enter__(self) -> Mailbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
