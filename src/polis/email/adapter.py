"""Email senders: SMTP for real, a log line for development (DESIGN.md §3.10).

Senders are synchronous (stdlib ``smtplib``): they run inside Celery tasks. ``send`` returns once
the server accepted the message and raises otherwise: :class:`EmailRejected` when the server
refuses the recipient for good (5xx on RCPT), :class:`EmailDeliveryError` for anything that
may pass (connection, 4xx, timeouts). No error message carries the address or the text.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Protocol

from polis.config import Settings
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


class SmtpEmailSender:
    """Plain SMTP with optional STARTTLS and login; one connection per message (a worker sends
    few, and a pooled connection would outlive the server's idle timeout)."""

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        *,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = True,
        timeout_seconds: float = 10.0,
    ) -> None:
        self._host = host
        self._port = port
        self._sender = sender
        self._username = username
        self._password = password
        self._starttls = starttls
        self._timeout = timeout_seconds

    def send(self, to: str, subject: str, body: str, *, message_id: str | None = None) -> None:
        """Hand the message to the SMTP server; raise unless it accepted it."""
        message = build_message(self._sender, to, subject, body, message_id)
        try:
            with smtplib.SMTP(self._host, self._port, timeout=self._timeout) as smtp:
                if self._starttls:
                    smtp.starttls(context=ssl.create_default_context())
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
            starttls=settings.smtp_starttls,
            timeout_seconds=settings.smtp_timeout_seconds,
        )
    return LogEmailSender()
