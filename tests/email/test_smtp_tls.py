"""Email over TLS: the SMTP sender against a real aiosmtpd server with STARTTLS, with implicit TLS
(port 465 style) and in clear, on a self-signed certificate that only the tests trust."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from polis.config import Settings, SmtpTls
from polis.email.adapter import (
    EmailDeliveryError,
    EmailRejected,
    SmtpEmailSender,
    email_sender,
    tls_context,
)
from tests.support.smtp_server import (
    PASSWORD,
    USERNAME,
    Certificate,
    SmtpServer,
    running_smtp_server,
    self_signed_certificate,
)

TO = "tamar@example.ge"
SUBJECT = "ახალი შესვლა"
BODY = "ვიღაც შევიდა თქვენს ანგარიშზე.\nNew login."
FROM = "Polis <noreply@polis.test>"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    return self_signed_certificate(tmp_path_factory.mktemp("smtp-tls"))


@pytest.fixture(scope="module")
def servers(certificate: Certificate) -> Iterator[dict[SmtpTls, SmtpServer]]:
    with (
        running_smtp_server("starttls", certificate) as starttls,
        running_smtp_server("implicit", certificate) as implicit,
        running_smtp_server("none") as plain,
    ):
        yield {"starttls": starttls, "implicit": implicit, "none": plain}


@pytest.fixture
def server_for(servers: dict[SmtpTls, SmtpServer]) -> dict[SmtpTls, SmtpServer]:
    for server in servers.values():
        server.reset()
    return servers


def _sender(server: SmtpServer, tls: SmtpTls, context_file: Path | None) -> SmtpEmailSender:
    return SmtpEmailSender(
        server.host,
        server.port,
        FROM,
        username=USERNAME,
        password=PASSWORD,
        tls=tls,
        context=None if tls == "none" else tls_context(context_file),
        timeout_seconds=5,
    )


@pytest.mark.parametrize("tls", ["starttls", "implicit"])
def test_a_message_travels_encrypted_to_a_server_the_sender_trusts(
    server_for: dict[SmtpTls, SmtpServer], certificate: Certificate, tls: SmtpTls
) -> None:
    server = server_for[tls]
    _sender(server, tls, certificate.cert_file).send(TO, SUBJECT, BODY, message_id="tls-1")
    [message] = server.wait_for(1)
    assert message["Subject"] == SUBJECT
    assert message["Message-ID"] == "<tls-1@polis>"
    assert message.get_content() == BODY + "\n"
    assert server.envelopes == [("noreply@polis.test", [TO])]
    # The session that carried the login and the message was TLS.
    [version] = server.tls_versions
    assert version is not None and version.startswith("TLSv1.")
    assert server.logins == [USERNAME]


def test_none_sends_in_clear_to_a_plain_server(server_for: dict[SmtpTls, SmtpServer]) -> None:
    server = server_for["none"]
    _sender(server, "none", None).send(TO, SUBJECT, BODY)
    server.wait_for(1)
    assert server.tls_versions == [None]
    assert server.logins == [USERNAME]


@pytest.mark.parametrize("tls", ["starttls", "implicit"])
def test_a_certificate_the_sender_does_not_trust_is_a_delivery_failure(
    server_for: dict[SmtpTls, SmtpServer], tls: SmtpTls
) -> None:
    server = server_for[tls]
    # The system's trust store: the self-signed certificate is not in it.
    with pytest.raises(EmailDeliveryError, match="certificate not trusted") as caught:
        _sender(server, tls, None).send(TO, SUBJECT, BODY)
    assert "self-signed certificate" in str(caught.value) or "self signed" in str(caught.value)
    assert not isinstance(caught.value, EmailRejected)
    assert TO not in str(caught.value)
    # Nothing went through: neither the login nor the message.
    assert server.messages == [] and server.logins == []


def test_a_trusted_certificate_for_another_name_is_refused(
    tmp_path: Path, server_for: dict[SmtpTls, SmtpServer]
) -> None:
    # Trusted, but the server presents a certificate for another host: the name check is on.
    other = self_signed_certificate(tmp_path, hosts=["mail.polis.test"])
    with running_smtp_server("implicit", other) as server:
        with pytest.raises(EmailDeliveryError, match=r"certificate not trusted.*mismatch"):
            _sender(server, "implicit", other.cert_file).send(TO, SUBJECT, BODY)
        assert server.messages == []


def test_starttls_against_a_server_without_it_is_a_clear_failure(
    server_for: dict[SmtpTls, SmtpServer], certificate: Certificate
) -> None:
    server = server_for["none"]
    with pytest.raises(EmailDeliveryError, match="does not offer STARTTLS"):
        _sender(server, "starttls", certificate.cert_file).send(TO, SUBJECT, BODY)
    assert server.messages == [] and server.logins == []


def test_implicit_tls_against_a_plain_port_is_a_tls_failure(
    server_for: dict[SmtpTls, SmtpServer], certificate: Certificate
) -> None:
    server = server_for["starttls"]
    with pytest.raises(EmailDeliveryError, match="SMTP TLS failed"):
        _sender(server, "implicit", certificate.cert_file).send(TO, SUBJECT, BODY)
    assert server.messages == []


def test_the_starttls_server_refuses_mail_in_clear(
    server_for: dict[SmtpTls, SmtpServer],
) -> None:
    # The encrypted test above passes only through STARTTLS: in clear, the server says no.
    server = server_for["starttls"]
    sender = SmtpEmailSender(server.host, server.port, FROM, tls="none", timeout_seconds=5)
    with pytest.raises(EmailDeliveryError, match="SMTP answered 530"):
        sender.send(TO, SUBJECT, BODY)
    assert server.messages == []


@pytest.mark.parametrize("tls", ["starttls", "implicit"])
def test_the_settings_name_the_mode_and_the_ca_file(
    tmp_path: Path, server_for: dict[SmtpTls, SmtpServer], certificate: Certificate, tls: SmtpTls
) -> None:
    server = server_for[tls]
    settings = Settings(
        env="test",
        data_dir=tmp_path,
        email_provider="smtp",
        smtp_host=server.host,
        smtp_port=server.port,
        smtp_username=USERNAME,
        smtp_password=PASSWORD,
        smtp_tls=tls,
        smtp_ca_file=certificate.cert_file,
        smtp_from=FROM,
        _env_file=None,
    )
    email_sender(settings).send(TO, SUBJECT, BODY)
    server.wait_for(1)
    assert server.tls_versions[0] is not None
    assert server.logins == [USERNAME]
