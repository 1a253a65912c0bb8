"""SMS senders: a Redis outbox for development and tests, a generic HTTP provider for real.

Senders are synchronous: they run inside the Celery task ``polis.sms.send``, which retries
whenever ``send`` raises. Neither ever logs the phone number or the text (it may be a
verification code).
"""

from __future__ import annotations

import json
from typing import Protocol

import httpx
import redis

from polis.config import Settings
from polis.kit import clock
from polis.kit.crypto import protector
from polis.kit.worker_redis import sync_redis

# The outbox keeps the newest messages of each phone for a day: enough to read a code back
# during development, never a growing archive of texts.
OUTBOX_KEEP = 50
OUTBOX_TTL_SECONDS = 24 * 3600


class SmsSender(Protocol):
    """Sends one text message; raises when it could not, so the task retries."""

    def send(self, phone_e164: str, text: str) -> None:
        """Send ``text`` to ``phone_e164``."""
        ...


class SmsDeliveryError(RuntimeError):
    """The provider did not accept the message. Its text never holds the phone or the text."""


def outbox_key(settings: Settings, phone_e164: str) -> str:
    """The Redis key of ``phone_e164``'s outbox: named by the phone's blind index, so a look at
    Redis does not list phone numbers."""
    return f"polis:sms:outbox:{protector(settings, 'phone').blind_index(phone_e164)}"


class OutboxSmsSender:
    """Development and tests: 'sends' by keeping the message in Redis, newest first."""

    def __init__(self, settings: Settings, client: redis.Redis | None = None) -> None:
        self._settings = settings
        self._redis = client if client is not None else sync_redis()

    def send(self, phone_e164: str, text: str) -> None:
        """Keep the message in the phone's outbox (the newest OUTBOX_KEEP, for a day)."""
        key = outbox_key(self._settings, phone_e164)
        record = json.dumps(
            {"text": text, "sent_at": clock.now().isoformat(), "sender": self._settings.sms_sender}
        )
        # One transaction, so a reader never sees the list untrimmed or without its expiry.
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.lpush(key, record)
            pipe.ltrim(key, 0, OUTBOX_KEEP - 1)
            pipe.expire(key, OUTBOX_TTL_SECONDS)
            pipe.execute()


class HttpSmsSender:
    """A generic HTTP SMS provider: ``POST url`` with ``{"to", "from", "text"}`` and a bearer
    token; any 2xx is accepted, anything else raises :class:`SmsDeliveryError`."""

    def __init__(self, url: str, token: str, sender: str, *, timeout_seconds: float = 5.0) -> None:
        self._url = url
        self._token = token
        self._sender = sender
        self._timeout = httpx.Timeout(timeout_seconds)

    def send(self, phone_e164: str, text: str) -> None:
        """Hand the message to the provider; raise unless it accepted it."""
        try:
            response = httpx.post(
                self._url,
                json={"to": phone_e164, "from": self._sender, "text": text},
                headers={"Authorization": f"Bearer {self._token}"},
                timeout=self._timeout,
            )
        except httpx.HTTPError as exc:
            # Only the error's type: its message could name the request, never worth the risk.
            raise SmsDeliveryError(f"SMS provider unreachable ({type(exc).__name__})") from None
        if not response.is_success:
            raise SmsDeliveryError(f"SMS provider answered {response.status_code}")


def sms_sender(settings: Settings, client: redis.Redis | None = None) -> SmsSender:
    """The sender ``settings.sms_provider`` names (``client``: the outbox's Redis)."""
    if settings.sms_provider == "http":
        if not settings.sms_http_url or settings.sms_http_token is None:
            raise ValueError(
                "POLIS_SMS_HTTP_URL and POLIS_SMS_HTTP_TOKEN are required with "
                "POLIS_SMS_PROVIDER=http"
            )
        return HttpSmsSender(
            settings.sms_http_url,
            settings.sms_http_token.get_secret_value(),
            settings.sms_sender,
            timeout_seconds=settings.sms_timeout_seconds,
        )
    return OutboxSmsSender(settings, client)
