"""The Celery task that sends one email: ``polis.email.send``.

Other domains enqueue it by name (``enqueue_task(session, SEND_TASK, to=…, subject=…, body=…,
dedupe_key=…)``): the activity report for admins, media contacts of SOS signals. With a
``dedupe_key`` the message is sent at most once per key (for 30 days), however often the task
runs: a Redis key is set to ``sending`` (NX, for a short lease) before the SMTP call and to
``sent`` after it. A copy that finds ``sending`` (another worker is at it, or died at it) waits
for the lease and tries again; one that finds ``sent`` does nothing. A worker killed between
the server's acceptance and the ``sent`` mark can, after the lease, send once more: the
Message-ID is the same, so mail clients show one message.
"""

from __future__ import annotations

import hashlib
from typing import Any

from celery import Task, shared_task

from polis.config import get_settings
from polis.email.adapter import EmailRejected, email_sender
from polis.kit.logging import get_logger
from polis.kit.worker_redis import sync_redis

SEND_TASK = "polis.email.send"
SENT_TTL_SECONDS = 30 * 24 * 3600
MAX_RETRIES = 8

log = get_logger(__name__)


def dedupe_redis_key(dedupe_key: str) -> str:
    """The Redis key of ``dedupe_key`` (hashed: the key may name a person)."""
    return "polis:email:dedupe:" + hashlib.sha256(dedupe_key.encode()).hexdigest()


def _lease_seconds() -> int:
    return int(get_settings().smtp_timeout_seconds * 3) + 5


@shared_task(
    name=SEND_TASK,
    bind=True,
    acks_late=True,
    max_retries=MAX_RETRIES,
)
def send_email(
    self: Task[Any, Any], to: str, subject: str, body: str, dedupe_key: str | None = None
) -> str:
    """Send one email; ``"sent"``, ``"duplicate"`` (already sent under ``dedupe_key``) or
    ``"rejected"`` (the server refuses the address for good). Retried with exponential backoff
    while the server fails (the delivery outbox's backoff settings)."""
    settings = get_settings()
    redis = sync_redis()
    key = dedupe_redis_key(dedupe_key) if dedupe_key else None
    message_id = hashlib.sha256(dedupe_key.encode()).hexdigest()[:32] if dedupe_key else None
    if key is not None and not redis.set(key, b"sending", nx=True, ex=_lease_seconds()):
        if redis.get(key) == b"sent":
            log.info("email.duplicate", task_id=self.request.id)
            return "duplicate"
        raise self.retry(countdown=_lease_seconds())
    try:
        email_sender(settings).send(to, subject, body, message_id=message_id)
    except EmailRejected as exc:
        # Remembered as done: no retry can deliver to an address the server refuses.
        if key is not None:
            redis.set(key, b"sent", ex=SENT_TTL_SECONDS)
        log.warning("email.rejected", task_id=self.request.id, reason=str(exc))
        return "rejected"
    except Exception as exc:
        if key is not None:
            redis.delete(key)
        log.warning("email.failed", task_id=self.request.id, reason=str(exc)[:200])
        countdown = min(
            settings.delivery_backoff_base_seconds * 2**self.request.retries,
            settings.delivery_backoff_max_seconds,
        )
        raise self.retry(countdown=countdown) from None
    if key is not None:
        redis.set(key, b"sent", ex=SENT_TTL_SECONDS)
    log.info("email.sent", provider=settings.email_provider, task_id=self.request.id)
    return "sent"
