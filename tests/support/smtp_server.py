"""A real SMTP server in the test process (aiosmtpd), recording what it accepts: plain, with
STARTTLS, or with implicit TLS on a self-signed certificate that the tests trust."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from polis.config import SmtpTls

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
    # Per accepted message, the TLS version its session ran under (None: in clear).
    tls_versions: list[str | None] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)

    def reset(self) -> None:
        with self.changed:
            self.messages.clear()
            self.envelopes.clear()
            self.refuse.clear()
            self.logins.clear()
            self.tls_versions.clear()

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
        # The transport is the TLS one after STARTTLS or on an implicit-TLS port.
        assert smtp.transport is not None
        tls = smtp.transport.get_extra_info("ssl_object")
        with self.server.changed:
            self.server.messages.append(parsed)
            self.server.tls_versions.append(tls.version() if tls is not None else None)
            self.server.envelopes.append((str(envelope.mail_from), list(envelope.rcpt_tos)))
            self.server.changed.notify_all()
        return "250 Message accepted"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class Certificate:
    """A self-signed server certificate: ``cert_file`` (PEM) is also the CA file to trust."""

    cert_file: Path
    key_file: Path


def self_signed_certificate(
    directory: Path, hosts: Sequence[str] = ("127.0.0.1", "localhost")
) -> Certificate:
    """A certificate for ``hosts`` (IP addresses and DNS names), valid for a day, its own CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Polis test SMTP")])
    alt_names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            alt_names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            alt_names.append(x509.DNSName(host))
    now = datetime.datetime.now(datetime.UTC)
    public = key.public_key()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file = directory / "smtp-cert.pem"
    key_file = directory / "smtp-key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Certificate(cert_file, key_file)


def _server_context(certificate: Certificate) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificate.cert_file, certificate.key_file)
    return context


@contextmanager
def running_smtp_server(
    tls: SmtpTls = "none", certificate: Certificate | None = None
) -> Iterator[SmtpServer]:
    """aiosmtpd on a free port of 127.0.0.1 (tests only). ``tls="none"``: in clear, a login
    accepted without TLS. ``"starttls"``: offers STARTTLS on ``certificate`` and refuses mail
    and logins before it. ``"implicit"``: TLS from the first byte, as on port 465."""
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

    options: dict[str, Any] = {}
    if tls != "none":
        assert certificate is not None, f"tls={tls!r} needs a certificate"
        context = _server_context(certificate)
        if tls == "starttls":
            options = {"tls_context": context, "require_starttls": True, "auth_require_tls": True}
        else:
            # aiosmtpd's auth_require_tls only knows STARTTLS; this session is TLS throughout.
            options = {"ssl_context": context, "auth_require_tls": False}
    else:
        options = {"auth_require_tls": False}
    controller = Controller(
        _Handler(server),
        hostname=server.host,
        port=server.port,
        authenticator=authenticate,
        decode_data=False,
        **options,
    )
    controller.start()
    try:
        yield server
    finally:
        controller.stop()
