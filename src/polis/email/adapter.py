"""Email senders: SMTP for real, a log line for development (DESIGN.md §3.10).

Senders are synchronous (stdlib ``smtplib``): they run inside Celery tasks. ``send`` returns once
the server accepted the message and raises otherwise: :class:`EmailRejected` when the server
refuses the recipient for good (5xx on RCPT), :class:`EmailDeliveryError` for anything that
may pass (connection, TLS, 4xx, timeouts). No error message carries the address or the text.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Protocol

from polis.config import Settings, SmtpTls
from polis.kit.logging import get_logger

log = get_logger(__name__)


class EmailDeliveryError(RuntimeError):
    """The message was not sent this time; a retry may work."""


class EmailRejected(EmailDeliveryError):
    """The server refuses this recipient for good: retrying cannot help."""


class EmailSender(Protocol):
    """Sends one plain-text email; raises :class:`EmailDeliveryError` when it could not."""

    def send(self, to: str, subject: str, body: str, *, message_id: str | None = None) -> None:
        """Send ``body`` to ``to``. ``message_id`` (a stable id) lets mail clients drop a copy
        repeated after a crash."""
        ...


def build_message(
    sender: str, to: str, subject: str, body: str, message_id: str | None = None
) -> EmailMessage:
    """The MIME message: UTF-8 plain text (Georgian needs it), a stable Message-ID if given."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = f"<{message_id}@polis>" if message_id else make_msgid(domain="polis")
    message.set_content(body)
    return message


class LogEmailSender:
    """Development: 'sends' by writing a log line (the subject's length, never the address)."""

    def send(self, to: str, subject: str, body: str, *, message_id: str | None = None) -> None:
        """Log that the message would have been sent."""
        log.info("email.logged", message_id=message_id, subject_length=len(subject))


def tls_context(ca_file: Path | None = None) -> ssl.SSLContext:
    """A client context that verifies the server's certificate and its name: against
    ``ca_file`` (PEM) when given, else the system's trust store."""
    return ssl.create_default_context(cafile=str(ca_file) if ca_file else None)


class SmtpEmailSender:
    """SMTP with STARTTLS (``tls="starttls"``, port 587), implicit TLS (``"implicit"``, port
    465) or none, and an optional login; one connection per message (a worker sends few, and a
    pooled connection would outlive the server's idle timeout). ``context`` verifies the
    server (default: :func:`tls_context`, the system's trust store)."""

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        *,
        username: str | None = None,
        password: str | None = None,
        tls: SmtpTls = "starttls",
        context: ssl.SSLContext | None = None,
        timeout_seconds: float = 10.0,
    ) -> None:
        self._host = host
        self._port = port
        self._sender = sender
        self._username = username
        self._password = password
        self._tls = tls
        self._context = context if context is not None or tls == "none" else tls_context()
        self._timeout = timeout_seconds

    def _connect(self) -> smtplib.SMTP:
        if self._tls == "implicit":
            return smtplib.SMTP_SSL(
                self._host, self._port, timeout=self._timeout, context=self._context
            )
        smtp = smtplib.SMTP(self._host, self._port, timeout=self._timeout)
        if self._tls == "starttls":
            try:
                smtp.starttls(context=self._context)
            except smtplib.SMTPNotSupportedError:
                smtp.close()
                raise EmailDeliveryError("SMTP server does not offer STARTTLS") from None
            except BaseException:
                smtp.close()
                raise
        return smtp

    def send(self, to: str, subject: str, body: str, *, message_id: str | None = None) -> None:
        """Hand the message to the SMTP server; raise unless it accepted it."""
        message = build_message(self._sender, to, subject, body, message_id)
        try:
            with self._connect() as smtp:
                if self._username:
                    smtp.login(self._username, self._password or "")
                smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            if codes and all(500 <= code < 600 for code in codes):
                raise EmailRejected(f"SMTP refused the recipient ({codes[0]})") from None
            raise EmailDeliveryError(f"SMTP deferred the recipient ({codes[0]})") from None
        except smtplib.SMTPResponseException as exc:
            raise EmailDeliveryError(f"SMTP answered {exc.smtp_code}") from None
        except ssl.SSLCertVerificationError as exc:
            raise EmailDeliveryError(
                f"SMTP TLS certificate not trusted ({exc.verify_message})"
            ) from None
        except ssl.SSLError as exc:
            reason = exc.reason or type(exc).__name__
            raise EmailDeliveryError(f"SMTP TLS failed ({reason})") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise EmailDeliveryError(f"SMTP unreachable ({type(exc).__name__})") from None


def email_sender(settings: Settings) -> EmailSender:
    """The sender ``settings.email_provider`` names."""
    if settings.email_provider == "smtp":
        return SmtpEmailSender(
            settings.smtp_host,
            settings.smtp_port,
            settings.smtp_from,
            username=settings.smtp_username,
            password=(
                settings.smtp_password.get_secret_value() if settings.smtp_password else None
            ),
            tls=settings.smtp_tls,
            context=None if settings.smtp_tls == "none" else tls_context(settings.smtp_ca_file),
            timeout_seconds=settings.smtp_timeout_seconds,
        )
    return LogEmailSender()
