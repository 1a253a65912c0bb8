"""Achievements awarded to members: one row per member and milestone, written once."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from polis.kit.db import Base, Timestamps, UUIDPrimaryKey

CODE_MAX = 64


class AchievementCode(enum.StrEnum):
    """The milestones (docs/gamification.md defines when each is due)."""

    ATEULI_JOINED = "ateuli_joined"
    ATEULI_ACTIVATED = "ateuli_activated"
    ORMOTSDAATEULI_FORMED = "ormotsdaateuli_formed"
    ASEULI_FORMED = "aseuli_formed"
    ATASEULI_FORMED = "ataseuli_formed"
    FIRST_SEAT = "first_seat"
    DISTRICT_100_MEMBERS = "district_100_members"


class Achievement(UUIDPrimaryKey, Timestamps, Base):
    """A milestone a member reached. Never updated, never deleted (a history of firsts)."""

    __tablename__ = "achievements"
    __table_args__ = (
        # Each milestone is awarded once per member: the sweep inserts with ON CONFLICT DO
        # NOTHING against this constraint, so two sweeps racing cannot both award it.
        UniqueConstraint("user_id", "code"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    # A plain string, not a PostgreSQL enum: a new milestone needs no ALTER TYPE. The service
    # only ever writes AchievementCode values.
    code: Mapped[str] = mapped_column(String(CODE_MAX), nullable=False)
    awarded_at: Mapped[datetime] = mapped_column(nullable=False)
