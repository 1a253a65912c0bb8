"""The in-app notification: one row per thing a member should hear about."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ForeignKey,
    Index,
    PrimaryKeyConstraint,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from polis.kit import clock
from polis.kit.db import Base, Timestamps, UUIDPrimaryKey
from polis.users.models import pg_enum

DEDUPE_KEY_MAX = 200
# FCM registration tokens are about 160 characters; APNs and web push ones are shorter. The cap
# keeps the unique index well inside a btree page.
PUSH_TOKEN_MAX = 1024


class NotificationType(enum.StrEnum):
    """What a notification is about. Each one has texts in ``polis.notifications.texts``.

    Adding a member here needs a migration too (``ALTER TYPE notification_type ADD VALUE``):
    the column is a PostgreSQL enum, and a test compares the two.
    """

    NEW_DEVICE_LOGIN = "new_device_login"
    ONBOARDING_COMPLETED = "onboarding_completed"
    ROLE_CHANGED = "role_changed"
    ADMIN_GRANTED = "admin_granted"
    SESSION_REVOKED = "session_revoked"
    LEADER_ELECTION_DUE = "leader_election_due"
    ACHIEVEMENT_UNLOCKED = "achievement_unlocked"
    ARBITRATION_CASE_FILED = "arbitration_case_filed"
    ARBITRATION_CASE_ASSIGNED = "arbitration_case_assigned"
    ARBITRATION_CASE_TO_ARBITRATE = "arbitration_case_to_arbitrate"
    ARBITRATION_CASE_STARTED = "arbitration_case_started"
    ARBITRATION_CASE_RESOLVED = "arbitration_case_resolved"
    ARBITRATION_CASE_APPEALED = "arbitration_case_appealed"
    ARBITRATION_CASE_UNASSIGNED = "arbitration_case_unassigned"
    ENDORSEMENT_REQUESTED = "endorsement_requested"
    ENDORSEMENT_APPROVED = "endorsement_approved"
    ENDORSEMENT_REJECTED = "endorsement_rejected"
    ENDORSEMENT_EXPIRED = "endorsement_expired"
    ENDORSEMENT_REVOKED = "endorsement_revoked"
    ENDORSEMENT_PENALTY = "endorsement_penalty"
    ENDORSEMENT_SUSPENSION_LIFTED = "endorsement_suspension_lifted"
    ENDORSEMENT_LIMIT_CHANGED = "endorsement_limit_changed"
    SUPPORTER_FLAGGED = "supporter_flagged"
    INITIATIVE_SUPPORTED_THRESHOLD = "initiative_supported_threshold"
    INITIATIVE_ASSIGNED = "initiative_assigned"
    INITIATIVE_COMPLETED = "initiative_completed"
    INITIATIVE_REJECTED = "initiative_rejected"
    INITIATIVE_REASSIGNED = "initiative_reassigned"
    # To the supporters of an initiative when its holder answers it (docs/initiatives.md).
    SUPPORTED_INITIATIVE_COMPLETED = "supported_initiative_completed"
    SUPPORTED_INITIATIVE_REJECTED = "supported_initiative_rejected"
    SOS_SIGNAL_RECEIVED = "sos_signal_received"
    SOS_SIGNAL_CRITICAL = "sos_signal_critical"
    SOS_SIGNAL_VERIFIED = "sos_signal_verified"
    SOS_SIGNAL_REJECTED = "sos_signal_rejected"
    SOS_SIGNAL_ESCALATED = "sos_signal_escalated"
    SOS_SIGNAL_RESOLVED = "sos_signal_resolved"
    ELECTION_SCHEDULED = "election_scheduled"
    ELECTION_NOMINATIONS_EXTENDED = "election_nominations_extended"
    ELECTION_STARTED = "election_started"
    ELECTION_CANCELLED = "election_cancelled"
    ELECTION_COMPLETED = "election_completed"
    ELECTION_RUNOFF = "election_runoff"
    LEADER_ELECTED = "leader_elected"


class Notification(UUIDPrimaryKey, Timestamps, Base):
    """A notification for one member. The text is rendered on read, in the reader's language,
    from ``type`` and ``params``; only the values the text needs are stored, never secrets."""

    __tablename__ = "notifications"
    __table_args__ = (
        # A dedupe key names one real-world event per member: delivered at least once, seen once.
        # NULL keys never collide (PostgreSQL treats NULLs as distinct).
        UniqueConstraint("user_id", "dedupe_key"),
        # The unread badge counts only unread rows, so index only those.
        Index(
            "ix_notifications_user_id_unread",
            "user_id",
            postgresql_where=text("read_at IS NULL"),
        ),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    type: Mapped[NotificationType] = mapped_column(
        pg_enum(NotificationType, "notification_type"), nullable=False
    )
    params: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    read_at: Mapped[datetime | None] = mapped_column(default=None)
    dedupe_key: Mapped[str | None] = mapped_column(String(DEDUPE_KEY_MAX))

    @property
    def is_read(self) -> bool:
        return self.read_at is not None


# The list: a member's notifications, newest first. Its leading column also serves lookups by
# user_id (the ON DELETE CASCADE from users among them), so user_id needs no index of its own.
Index(
    "ix_notifications_user_id_created_at",
    Notification.user_id,
    Notification.created_at.desc(),
)


class Channel(enum.StrEnum):
    """A way a notification leaves the app. In-app notifications are always written."""

    PUSH = "push"
    EMAIL = "email"
    SMS = "sms"


class NotificationPreference(Base):
    """A member's choice for one notification type on one channel.

    No row means the default: every channel the type may use (``preferences.ALLOWED``) is on.
    A row can only narrow that: a channel the type may not use is never stored as enabled.
    """

    __tablename__ = "notification_preferences"
    __table_args__ = (PrimaryKeyConstraint("user_id", "type", "channel"),)

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    type: Mapped[NotificationType] = mapped_column(
        pg_enum(NotificationType, "notification_type"), nullable=False
    )
    channel: Mapped[Channel] = mapped_column(
        pg_enum(Channel, "notification_channel"), nullable=False
    )
    enabled: Mapped[bool] = mapped_column(nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        default=clock.now, onupdate=clock.now, server_default=func.now(), nullable=False
    )


class PushPlatform(enum.StrEnum):
    IOS = "ios"
    ANDROID = "android"
    WEB = "web"


class PushDevice(UUIDPrimaryKey, Base):
    """A push token of a member's app. A token belongs to one member at a time: registering it
    again (another member logged in on the phone) moves it. Tokens are never logged."""

    __tablename__ = "push_devices"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    token: Mapped[str] = mapped_column(String(PUSH_TOKEN_MAX), nullable=False, unique=True)
    platform: Mapped[PushPlatform] = mapped_column(
        pg_enum(PushPlatform, "push_platform"), nullable=False
    )
    created_at: Mapped[datetime] = mapped_column(
        default=clock.now, server_default=func.now(), nullable=False
    )
    last_seen_at: Mapped[datetime] = mapped_column(
        default=clock.now, server_default=func.now(), nullable=False
    )


# --- the delivery outbox (docs/notifications.md, "Delivery") --------------------------------

# "<notification id>:<channel>[:<push device id>]": 36 + 1 + 5 + 1 + 36 characters at most.
DELIVERY_KEY_MAX = 100
DELIVERY_ERROR_MAX = 200


class DeliveryStatus(enum.StrEnum):
    """Where one delivery stands. ``pending`` and ``sending`` are still due; the others are
    final until an admin retries a ``dead`` or ``failed_permanent`` one."""

    PENDING = "pending"
    # Claimed by a worker until ``lease_until``; a worker that died leaves it to the sweep.
    SENDING = "sending"
    SENT = "sent"
    # The provider refused the address for good (an unregistered push token, no email left).
    FAILED_PERMANENT = "failed_permanent"
    # Every attempt failed: the dead letter an admin sees at GET /admin/deliveries?status=dead.
    DEAD = "dead"


class Delivery(UUIDPrimaryKey, Timestamps, Base):
    """One notification leaving the app on one channel (for push: to one device).

    Written by ``notify`` in the caller's transaction, sent by ``polis.notifications.deliver``
    after commit. ``dedupe_key`` is unique, so a notification reaches a channel (a device) at
    most once however often the work is retried; the row, not the broker, holds the deadline.
    """

    __tablename__ = "notification_deliveries"

    notification_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("notifications.id", ondelete="CASCADE"), nullable=False, index=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    channel: Mapped[Channel] = mapped_column(
        pg_enum(Channel, "notification_channel"), nullable=False
    )
    # A removed device (unregistered by its member or by the provider) leaves NULL here: the
    # delivery then ends failed_permanent instead of sending to whoever holds the token next.
    device_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("push_devices.id", ondelete="SET NULL"), index=True
    )
    dedupe_key: Mapped[str] = mapped_column(String(DELIVERY_KEY_MAX), nullable=False, unique=True)
    status: Mapped[DeliveryStatus] = mapped_column(
        pg_enum(DeliveryStatus, "delivery_status"), nullable=False, default=DeliveryStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(nullable=False, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(nullable=False, default=clock.now)
    lease_until: Mapped[datetime | None] = mapped_column(default=None)
    last_error: Mapped[str | None] = mapped_column(String(DELIVERY_ERROR_MAX))
    sent_at: Mapped[datetime | None] = mapped_column(default=None)


# The sweep's question: which due rows are still open? Only those are indexed.
Index(
    "ix_notification_deliveries_due",
    Delivery.next_attempt_at,
    postgresql_where=text("status IN ('pending', 'sending')"),
)
# The admin list filters by status, newest first.
Index("ix_notification_deliveries_status_created_at", Delivery.status, Delivery.created_at)
