"""Notification routes: a member's own notifications, in their language."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query

from polis.auth.deps import AuthenticatedUser
from polis.kit.deps import DbSession
from polis.kit.envelope import ERROR_RESPONSES, Envelope, ok
from polis.kit.pagination import Pagination, list_meta
from polis.notifications import service, texts
from polis.notifications.models import Notification, NotificationType
from polis.notifications.schemas import (
    Deleted,
    MarkedRead,
    NotificationList,
    NotificationListMeta,
    NotificationOut,
)
from polis.users.models import Language

router = APIRouter(prefix="/notifications", tags=["notifications"], responses=ERROR_RESPONSES)


def _language(
    user: AuthenticatedUser,
    accept_language: Annotated[
        str | None,
        Header(description="ka or en; the first of them named wins over the saved language"),
    ] = None,
) -> Language:
    # The request's own choice wins; otherwise the language saved in the profile.
    return texts.language_from_header(accept_language) or user.language


ReaderLanguage = Annotated[Language, Depends(_language)]


def _out(notification: Notification, language: Language) -> NotificationOut:
    text = service.render(notification, language)
    return NotificationOut(
        id=notification.id,
        type=notification.type,
        title=text.title,
        body=text.body,
        params=notification.params,
        read_at=notification.read_at,
        created_at=notification.created_at,
    )


@router.get("", response_model=NotificationList, summary="My notifications")
async def list_notifications(
    user: AuthenticatedUser,
    session: DbSession,
    language: ReaderLanguage,
    params: Pagination,
    unread_only: Annotated[bool, Query(description="only unread notifications")] = False,
    notification_type: Annotated[NotificationType | None, Query(alias="type")] = None,
) -> NotificationList:
    """Newest first; ``sort_by`` accepts ``created_at``. ``meta.unread_count`` is the badge."""
    result = await service.list_for(
        session, user, params, unread_only=unread_only, notification_type=notification_type
    )
    meta = list_meta(result.page.total, params)
    return NotificationList(
        data=[_out(notification, language) for notification in result.page.items],
        meta=NotificationListMeta(**meta.model_dump(), unread_count=result.unread_count),
    )


@router.patch(
    "/{notification_id}/read", response_model=Envelope[NotificationOut], summary="Mark read"
)
async def mark_read(
    notification_id: uuid.UUID,
    user: AuthenticatedUser,
    session: DbSession,
    language: ReaderLanguage,
) -> Envelope[NotificationOut]:
    notification = await service.mark_read(session, user, notification_id)
    return ok(_out(notification, language))


@router.post("/mark-all-read", response_model=Envelope[MarkedRead], summary="Mark all read")
async def mark_all_read(user: AuthenticatedUser, session: DbSession) -> Envelope[MarkedRead]:
    return ok(MarkedRead(updated=await service.mark_all_read(session, user)))


@router.delete(
    "/{notification_id}", response_model=Envelope[Deleted], summary="Delete a notification"
)
async def delete_notification(
    notification_id: uuid.UUID, user: AuthenticatedUser, session: DbSession
) -> Envelope[Deleted]:
    await service.delete(session, user, notification_id)
    return ok(Deleted(deleted=True))
