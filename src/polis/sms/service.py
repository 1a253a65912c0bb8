"""Queueing SMS after the request commits, and reading the development outbox."""

from __future__ import annotations

import base64

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from polis.config import Settings
from polis.kit.crypto import protector
from polis.kit.events import enqueue_task
from polis.kit.phone import normalize_phone
from polis.sms.adapter import outbox_key
from polis.sms.schemas import OutboxMessage

SEND_TASK = "polis.sms.send"


def seal(settings: Settings, purpose: str, value: str) -> str:
    """``value`` encrypted for ``purpose`` (AES-256-GCM), as base64 text a JSON broker carries."""
    return base64.b64encode(protector(settings, purpose).encrypt(value)).decode()


def unseal(settings: Settings, purpose: str, sealed: str) -> str:
    """The value :func:`seal` sealed; raises ValueError or InvalidTag when it cannot."""
    return protector(settings, purpose).decrypt(base64.b64decode(sealed, validate=True))


def queue_sms(session: AsyncSession, settings: Settings, phone_e164: str, text: str) -> None:
    """Send ``text`` to ``phone_e164`` once ``session`` commits (nothing is sent on rollback).

    The broker and its logs see only ciphertexts: the number is personal data and the text may
    be a verification code. Raises 2002 when ``phone_e164`` is not a valid number.
    """
    phone = normalize_phone(phone_e164, settings.default_phone_region)
    enqueue_task(
        session,
        SEND_TASK,
        phone_ciphertext=seal(settings, "phone", phone),
        text_ciphertext=seal(settings, "sms", text),
    )


async def outbox_messages(redis: Redis, settings: Settings, phone_e164: str) -> list[OutboxMessage]:
    """The messages the outbox holds for ``phone_e164``, newest first (empty when none)."""
    records = await redis.lrange(outbox_key(settings, phone_e164), 0, -1)
    return [OutboxMessage.model_validate_json(record) for record in records]
