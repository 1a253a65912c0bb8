"""The development SMS outbox, readable over HTTP (DESIGN.md §3.10).

The app includes ``dev_router`` only when ``POLIS_ENV=development``; elsewhere the route does
not exist (404), because the outbox holds verification codes in full.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from polis.kit.deps import RedisDep, SettingsDep
from polis.kit.envelope import ERROR_RESPONSES, Envelope, ok
from polis.kit.phone import normalize_phone
from polis.kit.routing import DomainRouter
from polis.sms import service
from polis.sms.schemas import OutboxMessage

dev_router = DomainRouter(prefix="/dev", tags=["dev"], responses=ERROR_RESPONSES)


@dev_router.get(
    "/sms-outbox",
    response_model=Envelope[list[OutboxMessage]],
    summary="SMS outbox (development only)",
)
async def sms_outbox(
    phone_number: Annotated[str, Query(description="Any format that parses; +995 by default.")],
    redis: RedisDep,
    settings: SettingsDep,
) -> Envelope[list[OutboxMessage]]:
    """The messages 'sent' to ``phone_number`` by the outbox adapter, newest first."""
    phone = normalize_phone(phone_number, settings.default_phone_region)
    return ok(await service.outbox_messages(redis, settings, phone))
