"""The in-app notification: one row per thing a member should hear about."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from polis.kit.db import Base, Timestamps, UUIDPrimaryKey
from polis.users.models import pg_enum

DEDUPE_KEY_MAX = 200


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
