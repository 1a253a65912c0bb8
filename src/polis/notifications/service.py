"""Notifications: written inside the caller's transaction, announced only after it commits.

Other domains call :func:`notify` from their own service functions, in the transaction of the
change that caused the notification (DESIGN.md §3.8): a rolled-back change leaves no
notification and sends no real-time event.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic_core import to_jsonable_python
from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy import delete as sql_delete
from sqlalchemy import text as sql_text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from polis.kit import clock
from polis.kit.errors import ErrorCode, NotFound, ValidationFailed
from polis.kit.events import publish_event
from polis.kit.pagination import Page, PageParams, paginate
from polis.notifications import delivery, texts
from polis.notifications.models import (
    DEDUPE_KEY_MAX,
    Channel,
    Notification,
    NotificationPreference,
    NotificationType,
    PushDevice,
    PushPlatform,
)
from polis.realtime.schemas import NOTIFICATION_NEW, user_channel
from polis.users.models import Language, User

_NOT_FOUND = "No such notification."


@dataclass(frozen=True)
class NotificationPage:
    page: Page
    unread_count: int


async def notify(
    session: AsyncSession,
    user_id: uuid.UUID,
    type: NotificationType,
    params: Mapping[str, Any] | None = None,
    *,
    dedupe_key: str | None = None,
) -> Notification | None:
    """Write a notification for ``user_id`` in the caller's transaction (flush only).

    ``params`` are the values the text needs (``texts.PARAMS`` lists them per type); never put
    a secret in them. With a ``dedupe_key`` this member already has, nothing is written and
    None is returned: the unique constraint decides, so two racing transactions cannot both
    write. The ``notification.new`` event goes out on the member's channel after commit, and
    the push/email/SMS deliveries are written as outbox rows and sent after commit too.
    """
    written = await _write(session, [user_id], type, params, dedupe_key)
    return written[0] if written else None


async def notify_each(
    session: AsyncSession,
    user_ids: Iterable[uuid.UUID | None],
    type: NotificationType,
    params: Mapping[str, Any] | None = None,
    *,
    dedupe_key: str,
) -> list[Notification]:
    """Tell each of ``user_ids`` once, as ``notify`` does, skipping None and repeated ids.

    The one fan-out of the services' events, in a fixed number of statements whatever the
    number of people (one insert of the notifications, one read of their preferences and
    devices, one insert of the deliveries). The same ``dedupe_key`` for every recipient means
    a retried request or a rerun sweep tells nobody twice. Returns what was written.
    """
    ids = list(dict.fromkeys(uid for uid in user_ids if uid is not None))
    return await _write(session, ids, type, params, dedupe_key) if ids else []


def _checked_params(
    type: NotificationType, params: Mapping[str, Any] | None, dedupe_key: str | None
) -> dict[str, Any]:
    # JSONB takes plain JSON only: UUIDs, datetimes and enums become strings here.
    values: dict[str, Any] = to_jsonable_python(
        dict(params or {}), fallback=str, bytes_mode="base64", inf_nan_mode="null"
    )
    missing = texts.missing_params(type, values)
    if missing:
        # A caller's bug, found by its tests: a text with holes must not reach a member.
        raise ValueError(f"{type} notifications need params: {', '.join(missing)}")
    if dedupe_key is not None and not 0 < len(dedupe_key) <= DEDUPE_KEY_MAX:
        raise ValueError(f"a dedupe key has 1 to {DEDUPE_KEY_MAX} characters")
    return values


async def _write(
    session: AsyncSession,
    user_ids: list[uuid.UUID],
    type: NotificationType,
    params: Mapping[str, Any] | None,
    dedupe_key: str | None,
) -> list[Notification]:
    values = _checked_params(type, params, dedupe_key)
    # Our inserts go straight to the database; the caller's pending rows must be there first.
    await session.flush()
    found = await session.scalars(select(User).where(User.id.in_(user_ids)))
    users = {user.id: user for user in found.all()}
    if len(users) < len(user_ids):
        raise NotFound("No such member.")
    statement = (
        insert(Notification)
        .values(
            [
                {"user_id": uid, "type": type, "params": values, "dedupe_key": dedupe_key}
                for uid in user_ids
            ]
        )
        .on_conflict_do_nothing(constraint="uq_notifications_user_id_dedupe_key")
        .returning(Notification)
    )
    written = list((await session.scalars(statement)).all())
    if not written:
        return []
    # The push, email and SMS copies: outbox rows in this same transaction (delivery.py).
    disabled = await _disabled_channels(session, [n.user_id for n in written], type)
    await delivery.plan_deliveries_for(
        session,
        [(n, users[n.user_id], _channels(type, disabled.get(n.user_id, set()))) for n in written],
    )
    for notification in written:
        _announce(session, notification, users[notification.user_id])
    return written


def _announce(session: AsyncSession, notification: Notification, user: User) -> None:
    """The ``notification.new`` event on the member's channel, sent after commit."""
    text = texts.render(notification.type, notification.params, user.language)
    publish_event(
        session,
        user_channel(user.id),
        NOTIFICATION_NEW,
        {
            "id": str(notification.id),
            "type": notification.type.value,
            "title": text.title,
            "body": text.body,
            "params": notification.params,
            "language": user.language.value,
            "created_at": notification.created_at.isoformat(),
        },
    )


def _owned(user: User, notification_id: uuid.UUID) -> list[ColumnElement[bool]]:
    # Someone else's notification is looked up as if it did not exist: 404, never 403.
    return [Notification.id == notification_id, Notification.user_id == user.id]


async def unread_count(session: AsyncSession, user: User) -> int:
    """How many of ``user``'s notifications are unread."""
    count = await session.scalar(
        select(func.count())
        .select_from(Notification)
        .where(Notification.user_id == user.id, Notification.read_at.is_(None))
    )
    return int(count or 0)


async def list_for(
    session: AsyncSession,
    user: User,
    params: PageParams,
    *,
    unread_only: bool = False,
    notification_type: NotificationType | None = None,
) -> NotificationPage:
    """One page of ``user``'s notifications (newest first by default) and their unread count.

    The unread count covers all of the member's unread notifications, whatever the filters:
    it is the badge, not the size of this list (that is ``page.total``).
    """
    statement = select(Notification).where(Notification.user_id == user.id)
    if unread_only:
        statement = statement.where(Notification.read_at.is_(None))
    if notification_type is not None:
        statement = statement.where(Notification.type == notification_type)
    page = await paginate(
        session,
        statement,
        params,
        sortable={"created_at": Notification.created_at},
        default_sort="created_at",
    )
    return NotificationPage(page=page, unread_count=await unread_count(session, user))


async def mark_read(session: AsyncSession, user: User, notification_id: uuid.UUID) -> Notification:
    """Mark one of ``user``'s notifications read. Marking it again keeps the first time."""
    notification = await session.scalar(select(Notification).where(*_owned(user, notification_id)))
    if notification is None:
        raise NotFound(_NOT_FOUND)
    if notification.read_at is None:
        notification.read_at = clock.now()
        await session.flush()
    return notification


async def mark_all_read(session: AsyncSession, user: User) -> int:
    """Mark every unread notification of ``user`` read; returns how many changed."""
    now = clock.now()
    marked = await session.scalars(
        update(Notification)
        .where(Notification.user_id == user.id, Notification.read_at.is_(None))
        .values(read_at=now, updated_at=now)
        .returning(Notification.id)
    )
    return len(marked.all())


async def delete(session: AsyncSession, user: User, notification_id: uuid.UUID) -> None:
    """Delete one of ``user``'s notifications."""
    deleted = await session.scalar(
        sql_delete(Notification).where(*_owned(user, notification_id)).returning(Notification.id)
    )
    if deleted is None:
        raise NotFound(_NOT_FOUND)


def render(notification: Notification, language: Language) -> texts.RenderedText:
    """The text of ``notification`` in ``language``."""
    return texts.render(notification.type, notification.params, language)


# --- channel preferences (docs/notifications.md) -------------------------------------------

# SMS costs money and is trusted more than push: it carries only security messages (and, once
# the SOS domain adds its types, critical SOS ones). DESIGN.md §3.8.
SECURITY_TYPES: frozenset[NotificationType] = frozenset(
    {NotificationType.NEW_DEVICE_LOGIN, NotificationType.SESSION_REVOKED}
)
# Security messages and critical SOS signals (the SOS domain's own type for them).
SMS_TYPES: frozenset[NotificationType] = SECURITY_TYPES | {NotificationType.SOS_SIGNAL_CRITICAL}
_EVERYWHERE = frozenset({Channel.PUSH, Channel.EMAIL, Channel.SMS})
_NO_SMS = frozenset({Channel.PUSH, Channel.EMAIL})
# The channels each type may use at all, and its default: all of them on. A member's choices
# only turn some of them off.
ALLOWED: dict[NotificationType, frozenset[Channel]] = {
    notification_type: _EVERYWHERE if notification_type in SMS_TYPES else _NO_SMS
    for notification_type in NotificationType
}


@dataclass(frozen=True)
class PreferenceChange:
    type: NotificationType
    channel: Channel
    enabled: bool


@dataclass(frozen=True)
class TypePreference:
    type: NotificationType
    allowed: list[Channel]
    enabled: list[Channel]


def _ordered(channels: set[Channel] | frozenset[Channel]) -> list[Channel]:
    return [channel for channel in Channel if channel in channels]


async def _disabled(
    session: AsyncSession, user_id: uuid.UUID
) -> dict[NotificationType, set[Channel]]:
    rows = await session.execute(
        select(NotificationPreference.type, NotificationPreference.channel).where(
            NotificationPreference.user_id == user_id,
            NotificationPreference.enabled.is_(False),
        )
    )
    disabled: dict[NotificationType, set[Channel]] = {}
    for notification_type, channel in rows:
        disabled.setdefault(notification_type, set()).add(channel)
    return disabled


async def preferences(session: AsyncSession, user_id: uuid.UUID) -> list[TypePreference]:
    """Every notification type, the channels it may use and those the member has on."""
    disabled = await _disabled(session, user_id)
    return [
        TypePreference(
            type=notification_type,
            allowed=_ordered(allowed),
            enabled=_ordered(allowed - disabled.get(notification_type, set())),
        )
        for notification_type, allowed in ALLOWED.items()
    ]


async def channels_for(
    session: AsyncSession, user_id: uuid.UUID, notification_type: NotificationType
) -> set[str]:
    """The channels a ``notification_type`` notification goes out on for this member: those
    the type may use, less those the member turned off. The delivery outbox asks this."""
    disabled = await _disabled_channels(session, [user_id], notification_type)
    return _channels(notification_type, disabled.get(user_id, set()))


async def _disabled_channels(
    session: AsyncSession, user_ids: list[uuid.UUID], notification_type: NotificationType
) -> dict[uuid.UUID, set[Channel]]:
    """The channels each of ``user_ids`` turned off for the type, in one read."""
    rows = await session.execute(
        select(NotificationPreference.user_id, NotificationPreference.channel).where(
            NotificationPreference.user_id.in_(user_ids),
            NotificationPreference.type == notification_type,
            NotificationPreference.enabled.is_(False),
        )
    )
    disabled: dict[uuid.UUID, set[Channel]] = {}
    for user_id, channel in rows.all():
        disabled.setdefault(user_id, set()).add(channel)
    return disabled


def _channels(notification_type: NotificationType, disabled: set[Channel]) -> set[str]:
    return {channel.value for channel in ALLOWED[notification_type] - disabled}


async def set_preferences(
    session: AsyncSession, user_id: uuid.UUID, changes: list[PreferenceChange]
) -> list[TypePreference]:
    """Save the member's choices (all or none) and return the new state.

    Turning on a channel the type may not use is refused (3030); turning it off is already
    true and stores nothing. The same type and channel twice in one request is refused.
    """
    seen: set[tuple[NotificationType, Channel]] = set()
    for change in changes:
        key = (change.type, change.channel)
        if key in seen:
            raise ValidationFailed(
                f"{change.type.value}/{change.channel.value} is named more than once.",
                details={"type": change.type.value, "channel": change.channel.value},
            )
        seen.add(key)
        if change.enabled and change.channel not in ALLOWED[change.type]:
            raise ValidationFailed(
                f"{change.type.value} notifications are never sent by {change.channel.value}.",
                details={
                    "type": change.type.value,
                    "channel": change.channel.value,
                    "allowed": [channel.value for channel in _ordered(ALLOWED[change.type])],
                },
                error=ErrorCode.CHANNEL_NOT_ALLOWED,
            )
    rows = [
        {"user_id": user_id, "type": c.type, "channel": c.channel, "enabled": c.enabled}
        for c in changes
        if c.channel in ALLOWED[c.type]
    ]
    if rows:
        statement = insert(NotificationPreference).values(rows)
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=["user_id", "type", "channel"],
                set_={"enabled": statement.excluded.enabled, "updated_at": clock.now()},
            )
        )
    return await preferences(session, user_id)


# --- push devices ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RegisteredDevice:
    device: PushDevice
    created: bool


async def register_device(
    session: AsyncSession, user: User, token: str, platform: PushPlatform
) -> RegisteredDevice:
    """Register ``token`` for ``user``. The same token again, from anyone, moves it to
    ``user`` and refreshes ``last_seen_at``: one phone, the member logged in on it now."""
    now = clock.now()
    statement = insert(PushDevice).values(
        id=uuid.uuid4(),
        user_id=user.id,
        token=token,
        platform=platform,
        created_at=now,
        last_seen_at=now,
    )
    row = (
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=[PushDevice.token],
                set_={
                    "user_id": statement.excluded.user_id,
                    "platform": statement.excluded.platform,
                    "last_seen_at": statement.excluded.last_seen_at,
                },
            )
            # xmax is 0 only for a row this statement inserted.
            .returning(PushDevice, sql_text("xmax = 0"))
            .execution_options(populate_existing=True)
        )
    ).one()
    return RegisteredDevice(device=row[0], created=bool(row[1]))


async def unregister_device(session: AsyncSession, user: User, token: str) -> None:
    """Remove one of ``user``'s push tokens; anyone else's is looked up as missing (404)."""
    deleted = await session.scalar(
        sql_delete(PushDevice)
        .where(PushDevice.token == token, PushDevice.user_id == user.id)
        .returning(PushDevice.id)
    )
    if deleted is None:
        raise NotFound("No such push device.")


async def remove_unregistered(session: AsyncSession, token: str) -> bool:
    """Forget a token the push provider rejects as unregistered; True when one was removed.
    The FCM client calls this; the token may already be gone (a race with the member)."""
    deleted = await session.scalar(
        sql_delete(PushDevice).where(PushDevice.token == token).returning(PushDevice.id)
    )
    return deleted is not None
