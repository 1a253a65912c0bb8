"""Notification routes: a member's own notifications, in their language."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Header, Path, Query, Response

from polis.auth.deps import AuthenticatedUser
from polis.kit.deps import DbSession
from polis.kit.envelope import ERROR_RESPONSES, Envelope, ok
from polis.kit.errors import ErrorCode
from polis.kit.pagination import Pagination, list_meta
from polis.kit.presenting import from_row
from polis.kit.routing import DomainRouter, errors
from polis.notifications import service, texts
from polis.notifications.models import PUSH_TOKEN_MAX, Notification, NotificationType
from polis.notifications.schemas import (
    Deleted,
    MarkedRead,
    NotificationList,
    NotificationListMeta,
    NotificationOut,
    PreferencesIn,
    PreferencesOut,
    PushDeviceIn,
    PushDeviceOut,
    TypePreferenceOut,
)
from polis.users.models import Language

router = DomainRouter(prefix="/notifications", tags=["notifications"], responses=ERROR_RESPONSES)


async def _language(
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
    return from_row(NotificationOut, notification, title=text.title, body=text.body)


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


def _preferences_out(items: list[service.TypePreference]) -> PreferencesOut:
    return PreferencesOut(
        items=[
            TypePreferenceOut(type=item.type, allowed=item.allowed, enabled=item.enabled)
            for item in items
        ]
    )


@router.get(
    "/preferences", response_model=Envelope[PreferencesOut], summary="My channel preferences"
)
async def get_preferences(user: AuthenticatedUser, session: DbSession) -> Envelope[PreferencesOut]:
    """Every notification type with the channels it may use (``allowed``) and those the
    member has on (``enabled``). In-app notifications are always written."""
    return ok(_preferences_out(await service.preferences(session, user.id)))


@router.put(
    "/preferences", response_model=Envelope[PreferencesOut], summary="Change channel preferences"
)
@errors(ErrorCode.CHANNEL_NOT_ALLOWED)
async def put_preferences(
    body: PreferencesIn, user: AuthenticatedUser, session: DbSession
) -> Envelope[PreferencesOut]:
    """Turn channels on or off per type; types and channels not named keep their state.
    Turning on a channel the type may not use is 422/3030."""
    changes = [
        service.PreferenceChange(type=item.type, channel=item.channel, enabled=item.enabled)
        for item in body.items
    ]
    return ok(_preferences_out(await service.set_preferences(session, user.id, changes)))


@router.post(
    "/devices",
    response_model=Envelope[PushDeviceOut],
    status_code=201,
    summary="Register a push token",
)
async def register_device(
    body: PushDeviceIn, user: AuthenticatedUser, session: DbSession, response: Response
) -> Envelope[PushDeviceOut]:
    """201 for a new token; 200 when the token was known (it now belongs to the caller)."""
    registered = await service.register_device(session, user, body.token, body.platform)
    if not registered.created:
        response.status_code = 200
    device = registered.device
    return ok(
        PushDeviceOut(
            id=device.id,
            platform=device.platform,
            created_at=device.created_at,
            last_seen_at=device.last_seen_at,
        )
    )


@router.delete(
    "/devices/{token}", response_model=Envelope[Deleted], summary="Unregister a push token"
)
@errors(ErrorCode.NOT_FOUND)
async def unregister_device(
    token: Annotated[str, Path(max_length=PUSH_TOKEN_MAX)],
    user: AuthenticatedUser,
    session: DbSession,
) -> Envelope[Deleted]:
    await service.unregister_device(session, user, token)
    return ok(Deleted(deleted=True))


@router.patch(
    "/{notification_id}/read", response_model=Envelope[NotificationOut], summary="Mark read"
)
@errors(ErrorCode.NOT_FOUND)
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
@errors(ErrorCode.NOT_FOUND)
async def delete_notification(
    notification_id: uuid.UUID, user: AuthenticatedUser, session: DbSession
) -> Envelope[Deleted]:
    await service.delete(session, user, notification_id)
    return ok(Deleted(deleted=True))
