"""The delivery outbox: push, email and SMS copies of notifications (DESIGN.md §3.8, §3.9).

``notify``/``notify_each`` call :func:`plan_deliveries_for` in the caller's transaction (one
read of the devices, one insert for all the notifications): one row per channel the
member gets this type on (``channels_for``) and can be reached by — push: one row per
registered device (each device is its own address, its own retries and its own dead token);
email: only with an email address; SMS: only for the types ``ALLOWED`` to use SMS, and only
with a phone. Each row's ``dedupe_key`` (``<notification>:<channel>[:<device>]``) is unique, so
no retry, sweep or repeated ``notify`` can make a second row for the same address.

After commit the task ``polis.notifications.deliver`` gets the row's id. It claims the row with
one conditional UPDATE (``pending`` and due, or ``sending`` with an expired lease → ``sending``
with a new lease), so two copies of the task never both send, and a ``sent`` row is never sent
again. Failures are written to the row: the next attempt's time (exponential backoff, at least
the provider's ``Retry-After``), or ``dead`` after ``delivery_max_attempts``. The deadline lives
in the row; the broker's countdown only saves waiting for the sweep
(``polis.notifications.sweep_deliveries``), which re-enqueues every due row, including those
whose worker died (lease expired) or whose task the broker lost.

These functions only flush; the task commits (and tests call them inside their transaction).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from polis.audit import service as audit
from polis.config import Settings
from polis.kit import clock
from polis.kit.errors import BusinessRuleViolation, ErrorCode, NotFound
from polis.kit.events import enqueue_task
from polis.kit.pagination import Page, PageParams, paginate
from polis.kit.phone import mask_phone
from polis.notifications import texts
from polis.notifications.models import (
    DELIVERY_ERROR_MAX,
    Channel,
    Delivery,
    DeliveryStatus,
    Notification,
    PushDevice,
)
from polis.users.models import User
from polis.users.service import own_phone, people

DELIVER_TASK = "polis.notifications.deliver"
SWEEP_TASK = "polis.notifications.sweep_deliveries"
# How many due rows one sweep enqueues; the next sweep takes the rest.
SWEEP_BATCH = 1000
OPEN = (DeliveryStatus.PENDING, DeliveryStatus.SENDING)
RETRYABLE_BY_ADMIN = (DeliveryStatus.DEAD, DeliveryStatus.FAILED_PERMANENT)


def dedupe_key(notification_id: uuid.UUID, channel: Channel, device_id: uuid.UUID | None) -> str:
    """The key that makes a notification reach one channel (one device) at most once."""
    key = f"{notification_id}:{channel.value}"
    return f"{key}:{device_id}" if device_id is not None else key


async def plan_deliveries(
    session: AsyncSession, notification: Notification, user: User, channels: set[str]
) -> list[uuid.UUID]:
    """Write the delivery rows of ``notification`` (flush only) and enqueue their sends after
    commit; returns the ids of the rows written. ``channels``: ``channels_for``'s answer."""
    return await plan_deliveries_for(session, [(notification, user, channels)])


async def plan_deliveries_for(
    session: AsyncSession, planned: Sequence[tuple[Notification, User, set[str]]]
) -> list[uuid.UUID]:
    """``plan_deliveries`` for many notifications at once: one read of the push devices and
    one insert, whatever their number."""
    pushing = [user.id for _, user, channels in planned if Channel.PUSH.value in channels]
    devices: dict[uuid.UUID, list[uuid.UUID]] = {}
    if pushing:
        found = await session.execute(
            select(PushDevice.user_id, PushDevice.id)
            .where(PushDevice.user_id.in_(pushing))
            .order_by(PushDevice.user_id, PushDevice.id)
        )
        for user_id, device_id in found.all():
            devices.setdefault(user_id, []).append(device_id)
    now = clock.now()
    rows = [
        _delivery_row(notification, user, channel, device_id, now)
        for notification, user, channels in planned
        for channel, device_id in _targets(user, channels, devices.get(user.id, []))
    ]
    if not rows:
        return []
    written = await session.scalars(
        insert(Delivery)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(Delivery.id)
    )
    ids = list(written.all())
    for delivery_id in ids:
        enqueue_task(session, DELIVER_TASK, str(delivery_id))
    return ids


def _targets(
    user: User, channels: set[str], devices: list[uuid.UUID]
) -> list[tuple[Channel, uuid.UUID | None]]:
    """Where one member's copies go: each push device, the email address, the phone."""
    targets: list[tuple[Channel, uuid.UUID | None]] = []
    if Channel.PUSH.value in channels:
        targets.extend((Channel.PUSH, device_id) for device_id in devices)
    if Channel.EMAIL.value in channels and user.email:
        targets.append((Channel.EMAIL, None))
    if Channel.SMS.value in channels and user.phone_ciphertext is not None:
        targets.append((Channel.SMS, None))
    return targets


def _delivery_row(
    notification: Notification,
    user: User,
    channel: Channel,
    device_id: uuid.UUID | None,
    now: datetime,
) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "notification_id": notification.id,
        "user_id": user.id,
        "channel": channel,
        "device_id": device_id,
        "dedupe_key": dedupe_key(notification.id, channel, device_id),
        "status": DeliveryStatus.PENDING,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
        "updated_at": now,
    }


# --- the worker's side ------------------------------------------------------------------------


@dataclass(frozen=True)
class Outgoing:
    """What one claimed attempt sends. ``address`` is a push token, an email or a phone number:
    it never leaves the worker (no log, no error text)."""

    delivery_id: uuid.UUID
    notification_id: uuid.UUID
    attempt: int
    channel: Channel
    address: str | None
    title: str
    body: str
    type: str


@dataclass(frozen=True)
class NotDue:
    """The row is pending but its next attempt is later: try again in ``seconds``."""

    seconds: float


def backoff_seconds(settings: Settings, attempt: int, retry_after: float | None = None) -> float:
    """The wait after failed attempt number ``attempt`` (1-based): base · 2^(attempt-1), capped,
    and never shorter than the provider's ``Retry-After``."""
    delay: float = min(
        settings.delivery_backoff_base_seconds * 2.0 ** (attempt - 1),
        settings.delivery_backoff_max_seconds,
    )
    return max(delay, retry_after or 0.0)


async def claim(
    session: AsyncSession, settings: Settings, delivery_id: uuid.UUID
) -> Outgoing | NotDue | None:
    """Claim ``delivery_id`` for one attempt (flush only; commit before sending).

    None when there is nothing to do here: sent, final, unknown, or held by a live worker.
    A lease that expired after the last attempt makes the row ``dead`` instead of a new attempt.
    """
    now = clock.now()
    claimed = await session.scalar(
        update(Delivery)
        .where(
            Delivery.id == delivery_id,
            or_(
                and_(Delivery.status == DeliveryStatus.PENDING, Delivery.next_attempt_at <= now),
                and_(Delivery.status == DeliveryStatus.SENDING, Delivery.lease_until < now),
            ),
        )
        .values(
            status=DeliveryStatus.SENDING,
            attempts=Delivery.attempts + 1,
            lease_until=now + timedelta(seconds=settings.delivery_lease_seconds),
            updated_at=now,
        )
        .returning(Delivery)
        .execution_options(populate_existing=True)
    )
    if claimed is None:
        waiting = await session.scalar(
            select(Delivery.next_attempt_at).where(
                Delivery.id == delivery_id, Delivery.status == DeliveryStatus.PENDING
            )
        )
        return None if waiting is None else NotDue((waiting - now).total_seconds())
    if claimed.attempts > settings.delivery_max_attempts:
        # The worker of the last attempt died mid-send: that attempt counts, none is left.
        _finish(claimed, DeliveryStatus.DEAD, "lease expired on the last attempt", now)
        await session.flush()
        return None
    return await _outgoing(session, settings, claimed)


async def _outgoing(session: AsyncSession, settings: Settings, delivery: Delivery) -> Outgoing:
    # One round trip for what the send needs: the notification, the member, the device's token
    # (NULL when the device is gone or moved to another member).
    row = (
        await session.execute(
            select(Notification, User, PushDevice.token)
            .join(User, User.id == Notification.user_id)
            .outerjoin(
                PushDevice,
                and_(PushDevice.id == delivery.device_id, PushDevice.user_id == User.id),
            )
            .where(Notification.id == delivery.notification_id)
        )
    ).one()  # the row cascades away with either, so both exist while it does
    notification, user, token = row
    rendered = texts.render(notification.type, notification.params, user.language)
    address: str | None = None
    if delivery.channel is Channel.PUSH:
        address = token
    elif delivery.channel is Channel.EMAIL:
        address = user.email
    elif delivery.channel is Channel.SMS:
        address = own_phone(settings, user)
    return Outgoing(
        delivery_id=delivery.id,
        notification_id=notification.id,
        attempt=delivery.attempts,
        channel=delivery.channel,
        address=address,
        title=rendered.title,
        body=rendered.body,
        type=notification.type.value,
    )


def _finish(delivery: Delivery, status: DeliveryStatus, error: str | None, now: datetime) -> None:
    delivery.status = status
    delivery.lease_until = None
    delivery.last_error = error[:DELIVERY_ERROR_MAX] if error else None
    delivery.updated_at = now


async def _attempt(session: AsyncSession, outgoing: Outgoing) -> Delivery | None:
    """The row, locked, if it is still this attempt's (no other worker took it over)."""
    return await session.scalar(
        select(Delivery)
        .where(
            Delivery.id == outgoing.delivery_id,
            Delivery.status == DeliveryStatus.SENDING,
            Delivery.attempts == outgoing.attempt,
        )
        .with_for_update()
        .execution_options(populate_existing=True)
    )


async def mark_sent(session: AsyncSession, outgoing: Outgoing) -> None:
    """The provider accepted the message. A sent message is sent whoever's attempt it was."""
    now = clock.now()
    await session.execute(
        update(Delivery)
        .where(Delivery.id == outgoing.delivery_id, Delivery.status != DeliveryStatus.SENT)
        .values(
            status=DeliveryStatus.SENT,
            sent_at=now,
            lease_until=None,
            last_error=None,
            updated_at=now,
        )
    )


async def mark_failed_permanent(session: AsyncSession, outgoing: Outgoing, reason: str) -> None:
    """The address will never work (an unregistered token, a refused email, no address left)."""
    delivery = await _attempt(session, outgoing)
    if delivery is not None:
        _finish(delivery, DeliveryStatus.FAILED_PERMANENT, reason, clock.now())
        await session.flush()


async def schedule_retry(
    session: AsyncSession,
    settings: Settings,
    outgoing: Outgoing,
    reason: str,
    retry_after: float | None = None,
) -> float | None:
    """Record a failed attempt: the next one's time (returns the wait in seconds), or ``dead``
    after the last attempt (returns None)."""
    delivery = await _attempt(session, outgoing)
    if delivery is None:
        return None
    now = clock.now()
    if delivery.attempts >= settings.delivery_max_attempts:
        _finish(delivery, DeliveryStatus.DEAD, reason, now)
        await session.flush()
        return None
    wait = backoff_seconds(settings, delivery.attempts, retry_after)
    _finish(delivery, DeliveryStatus.PENDING, reason, now)
    delivery.next_attempt_at = now + timedelta(seconds=wait)
    await session.flush()
    return wait


async def due_ids(session: AsyncSession, limit: int = SWEEP_BATCH) -> list[uuid.UUID]:
    """Rows the sweep must (re-)enqueue: pending and due, or sending with an expired lease."""
    now = clock.now()
    rows = await session.scalars(
        select(Delivery.id)
        .where(
            Delivery.status.in_(OPEN),
            Delivery.next_attempt_at <= now,
            or_(Delivery.status == DeliveryStatus.PENDING, Delivery.lease_until < now),
        )
        .order_by(Delivery.next_attempt_at)
        .limit(limit)
    )
    return list(rows.all())


# --- admins: dead letters ---------------------------------------------------------------------


@dataclass(frozen=True)
class DeliveryView:
    """A delivery as an admin sees it: the address masked (a phone), reduced to its domain (an
    email) or to the platform (a push token, never shown)."""

    delivery: Delivery
    type: str
    target: str | None


def _mask_email(email: str) -> str:
    local, _, domain = email.partition("@")
    return f"{local[:1]}•••@{domain}" if domain else "•••"


async def _views(
    session: AsyncSession, settings: Settings, deliveries: list[Delivery]
) -> list[DeliveryView]:
    if not deliveries:
        return []
    notification_types = {
        row.id: row.type
        for row in await session.execute(
            select(Notification.id, Notification.type).where(
                Notification.id.in_({d.notification_id for d in deliveries})
            )
        )
    }
    users = await people(session, [d.user_id for d in deliveries])
    platforms = {
        row.id: row.platform
        for row in await session.execute(
            select(PushDevice.id, PushDevice.platform).where(
                PushDevice.id.in_({d.device_id for d in deliveries if d.device_id})
            )
        )
    }
    views = []
    for delivery in deliveries:
        user = users[delivery.user_id]
        target: str | None = None
        if delivery.channel is Channel.PUSH and delivery.device_id in platforms:
            target = platforms[delivery.device_id].value
        elif delivery.channel is Channel.EMAIL and user.email:
            target = _mask_email(user.email)
        elif delivery.channel is Channel.SMS:
            phone = own_phone(settings, user)
            target = mask_phone(phone) if phone else None
        views.append(
            DeliveryView(
                delivery=delivery,
                type=notification_types[delivery.notification_id].value,
                target=target,
            )
        )
    return views


async def list_deliveries(
    session: AsyncSession,
    settings: Settings,
    params: PageParams,
    *,
    status: DeliveryStatus | None = None,
    channel: Channel | None = None,
) -> tuple[list[DeliveryView], Page]:
    """One page of deliveries (newest first by default), optionally of one status/channel."""
    statement = select(Delivery)
    if status is not None:
        statement = statement.where(Delivery.status == status)
    if channel is not None:
        statement = statement.where(Delivery.channel == channel)
    page = await paginate(
        session,
        statement,
        params,
        sortable={"created_at": Delivery.created_at, "updated_at": Delivery.updated_at},
        default_sort="created_at",
    )
    return await _views(session, settings, list(page.items)), page


async def retry_delivery(
    session: AsyncSession, settings: Settings, admin: User, delivery_id: uuid.UUID
) -> DeliveryView:
    """Give a dead (or permanently failed) delivery a fresh set of attempts, now (3060 for any
    other state); its send is enqueued after commit, and the admin's act is audited."""
    delivery = await session.scalar(
        select(Delivery).where(Delivery.id == delivery_id).with_for_update()
    )
    if delivery is None:
        raise NotFound("No such delivery.")
    if delivery.status not in RETRYABLE_BY_ADMIN:
        raise BusinessRuleViolation(
            error=ErrorCode.DELIVERY_NOT_RETRYABLE, details={"status": delivery.status.value}
        )
    await audit.record(
        session,
        action="notifications.delivery.retried",
        entity_type="notification_delivery",
        entity_id=delivery.id,
        actor_id=admin.id,
        old={"status": delivery.status.value, "attempts": delivery.attempts},
        new={"status": DeliveryStatus.PENDING.value, "attempts": 0},
    )
    now = clock.now()
    delivery.status = DeliveryStatus.PENDING
    delivery.attempts = 0
    delivery.next_attempt_at = now
    delivery.updated_at = now
    await session.flush()
    enqueue_task(session, DELIVER_TASK, str(delivery.id))
    return (await _views(session, settings, [delivery]))[0]
