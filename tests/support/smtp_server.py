"""A real SMTP server in the test process (aiosmtpd), recording what it accepts."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

USERNAME = "polis"
PASSWORD = "smtp-test-password"


@dataclass
class SmtpServer:
    """The server's state: accepted messages, and per recipient the answers to give its next
    RCPTs instead of accepting (``refuse[address] = ["451 Try again later"]``: once)."""

    host: str = "127.0.0.1"
    port: int = 0
    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    refuse: dict[str, list[str]] = field(default_factory=dict)
    logins: list[str] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)

    def reset(self) -> None:
        with self.changed:
            self.messages.clear()
            self.envelopes.clear()
            self.refuse.clear()
            self.logins.clear()

    def wait_for(self, count: int, timeout: float = 60.0) -> list[EmailMessage]:
        with self.changed:
            assert self.changed.wait_for(lambda: len(self.messages) >= count, timeout), (
                f"the SMTP server got {len(self.messages)} of {count} messages"
            )
            return list(self.messages)


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_RCPT(  # noqa: N802 (aiosmtpd's hook name)
        self, smtp: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        refusals = self.server.refuse.get(address)
        if refusals:
            return refusals.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 (aiosmtpd's hook name)
        self, smtp: SMTP, session: Session, envelope: Envelope
    ) -> str:
        raw = envelope.original_content or b""
        parsed = message_from_bytes(raw, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        with self.server.changed:
            self.server.messages.append(parsed)
            self.server.envelopes.append((str(envelope.mail_from), list(envelope.rcpt_tos)))
            self.server.changed.notify_all()
        return "250 Message accepted"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def running_smtp_server() -> Iterator[SmtpServer]:
    """aiosmtpd on a free port of 127.0.0.1, accepting a login without TLS (tests only)."""
    server = SmtpServer(port=_free_port())

    def authenticate(
        smtp: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == USERNAME
            and auth_data.password.decode() == PASSWORD
        )
        if ok:
            server.logins.append(USERNAME)
        return AuthResult(success=ok)

    controller = Controller(
        _Handler(server),
        hostname=server.host,
        port=server.port,
        authenticator=authenticate,
        auth_require_tls=False,
        decode_data=False,
    )
    controller.start()
    try:
        yield server
    finally:
        controller.stop()
