"""SOS signals and the trail of their escalations (DESIGN.md §3.5; choices in docs/sos.md).

A signal keeps only where it is now (``current_level``, ``holder_id``, ``deadline_at``); every
move it ever made (its first routing, a holder's escalation, the sweep's) is a row of
``sos_escalations``, so the trail is never rewritten.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from polis.kit.db import Base, Timestamps, UUIDPrimaryKey
from polis.users.models import pg_enum

TITLE_MAX = 200
TEXT_MAX = 5000
LOCATION_MAX = 300
NOTES_MAX = 2000


class SosStatus(enum.StrEnum):
    PENDING = "pending"  # waits for its holder to verify it
    VERIFIED = "verified"  # legitimate, with a priority; the holder works on it
    ESCALATED = "escalated"  # verified, and moved up at least once since
    REJECTED = "rejected"  # not legitimate (closed, with notes)
    RESOLVED = "resolved"  # closed by the holder or the reporter, with notes


class SosPriority(enum.StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"


class SosLevel(enum.StrEnum):
    """Who holds a signal, bottom up (their order here is their rank).

    The four unit levels (a leader holds it); ``moderators`` (the admins hold it: nobody leads
    above the reporter, or an unverified signal ran out of leaders); ``media`` (handed to the
    configured media contacts: nobody holds it any more, admins and the reporter may close it).
    """

    ATEULI = "ateuli"
    ORMOTSDAATEULI = "ormotsdaateuli"
    ASEULI = "aseuli"
    ATASEULI = "ataseuli"
    MODERATORS = "moderators"
    MEDIA = "media"

    @property
    def rank(self) -> int:
        return list(SosLevel).index(self)


class EscalationReason(enum.StrEnum):
    ROUTED = "routed"  # the first routing, when the signal was raised
    MANUAL = "manual"  # its holder (or an admin) moved it up
    DEADLINE = "deadline"  # the sweep moved it up: nobody acted in time


OPEN_STATUSES = (SosStatus.PENDING, SosStatus.VERIFIED, SosStatus.ESCALATED)


class SosSignal(UUIDPrimaryKey, Timestamps, Base):
    """One signal. ``deadline_at`` is the moment the sweep moves it up on its own: null once
    it is closed or at the top; the partial index holds only the signals with one."""

    __tablename__ = "sos_signals"
    __table_args__ = (
        Index(
            "ix_sos_signals_deadline_at",
            "deadline_at",
            postgresql_where=text("deadline_at IS NOT NULL"),
        ),
        Index("ix_sos_signals_holder_id_status", "holder_id", "status"),
        Index("ix_sos_signals_reporter_id_created_at", "reporter_id", "created_at"),
    )

    reporter_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="RESTRICT"), nullable=False
    )
    # The reporter's ateuli when the signal was raised (null: in none). Leaders above it see
    # the signal; a later move of the reporter does not carry old signals along.
    ateuli_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("units.id", ondelete="SET NULL"), index=True
    )
    title: Mapped[str] = mapped_column(String(TITLE_MAX), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False)
    location: Mapped[str] = mapped_column(String(LOCATION_MAX), nullable=False)
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    moral_filter_response: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[SosStatus] = mapped_column(pg_enum(SosStatus, "sos_status"), nullable=False)
    priority: Mapped[SosPriority] = mapped_column(
        pg_enum(SosPriority, "sos_priority"), nullable=False
    )
    current_level: Mapped[SosLevel] = mapped_column(pg_enum(SosLevel, "sos_level"), nullable=False)
    # The leader who holds it and the unit they hold it for; both null at moderators/media.
    holder_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    holder_unit_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("units.id", ondelete="SET NULL")
    )
    level_since: Mapped[datetime] = mapped_column(nullable=False)
    deadline_at: Mapped[datetime | None] = mapped_column(default=None)
    escalation_count: Mapped[int] = mapped_column(default=0, nullable=False)
    verified_at: Mapped[datetime | None] = mapped_column(default=None)
    verified_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    verification_notes: Mapped[str | None] = mapped_column(Text)
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)
    resolved_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    resolution_notes: Mapped[str | None] = mapped_column(Text)


class SosEscalation(UUIDPrimaryKey, Timestamps, Base):
    """One move of a signal: from where to where, by whom (null: the system), and why."""

    __tablename__ = "sos_escalations"
    # One step per number: two moves of one signal can never both be recorded as its n-th.
    __table_args__ = (UniqueConstraint("signal_id", "step"),)

    signal_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("sos_signals.id", ondelete="CASCADE"), nullable=False
    )
    # 0 for the first routing, then the signal's escalation_count after the move.
    step: Mapped[int] = mapped_column(nullable=False)
    # Null for the first routing: the signal came from nowhere.
    from_level: Mapped[SosLevel | None] = mapped_column(pg_enum(SosLevel, "sos_level"))
    to_level: Mapped[SosLevel] = mapped_column(pg_enum(SosLevel, "sos_level"), nullable=False)
    from_holder_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    to_holder_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    reason: Mapped[EscalationReason] = mapped_column(
        pg_enum(EscalationReason, "sos_escalation_reason"), nullable=False
    )
    notes: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(nullable=False)
