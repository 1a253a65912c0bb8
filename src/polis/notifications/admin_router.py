"""Admin HTTP for the delivery outbox: dead letters and their retry (docs/notifications.md)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Query

from polis.auth.deps import AdminUser
from polis.kit.deps import DbSession, SettingsDep
from polis.kit.envelope import Envelope, ListEnvelope, ok
from polis.kit.errors import ErrorCode
from polis.kit.pagination import Pagination, paginated
from polis.kit.presenting import from_row
from polis.kit.routing import DomainRouter, errors
from polis.notifications import delivery
from polis.notifications.delivery import DeliveryView
from polis.notifications.models import Channel, DeliveryStatus
from polis.notifications.schemas import DeliveryOut

router = DomainRouter(prefix="/admin/deliveries", tags=["admin"])


def _out(view: DeliveryView) -> DeliveryOut:
    row = view.delivery
    return from_row(DeliveryOut, row, type=view.type, target=view.target, status=row.status.value)


@router.get(
    "",
    response_model=ListEnvelope[DeliveryOut],
    summary="Notification deliveries (dead letters with status=dead), newest first",
    description="Sortable by `created_at` (default) or `updated_at`.",
)
async def list_deliveries(
    _: AdminUser,
    session: DbSession,
    settings: SettingsDep,
    params: Pagination,
    status: Annotated[DeliveryStatus | None, Query()] = None,
    channel: Annotated[Channel | None, Query()] = None,
) -> ListEnvelope[DeliveryOut]:
    views, page = await delivery.list_deliveries(
        session, settings, params, status=status, channel=channel
    )
    return paginated([_out(v) for v in views], page.total, params)


@router.post(
    "/{delivery_id}/retry",
    response_model=Envelope[DeliveryOut],
    summary="Retry a dead or permanently failed delivery with a fresh set of attempts",
)
@errors(ErrorCode.DELIVERY_NOT_RETRYABLE, ErrorCode.NOT_FOUND)
async def retry_delivery(
    delivery_id: uuid.UUID, admin: AdminUser, session: DbSession, settings: SettingsDep
) -> Envelope[DeliveryOut]:
    return ok(_out(await delivery.retry_delivery(session, settings, admin, delivery_id)))
