"""Units of every level in one table, memberships with history, and leadership terms.

Why one table with a ``level`` column rather than a table per level: docs/units.md.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from polis.kit.db import Base, Timestamps, UUIDPrimaryKey
from polis.users.models import pg_enum

NAME_MAX = 120
MESSAGE_MAX = 500
# No unit of any level ever holds more than ten: ten members in an ateuli, and 5, 2 or 10
# child units above it. The CHECK is the last line behind the row lock of the join path.
MAX_UNIT_SIZE = 10


class UnitLevel(enum.StrEnum):
    """The four levels, bottom up (their order here is their rank)."""

    ATEULI = "ateuli"
    ORMOTSDAATEULI = "ormotsdaateuli"
    ASEULI = "aseuli"
    ATASEULI = "ataseuli"


class UnitStatus(enum.StrEnum):
    FORMING = "forming"
    ACTIVE = "active"
    INACTIVE = "inactive"


class TermEndReason(enum.StrEnum):
    REPLACED = "replaced"  # a new leader was installed
    LEFT_UNIT = "left_unit"  # the leader left the ateuli
    UNIT_FORMING = "unit_forming"  # the ateuli fell below five members


class Unit(UUIDPrimaryKey, Timestamps, Base):
    """An ateuli, ormotsdaateuli, aseuli or ataseuli.

    ``member_count`` counts members for an ateuli and direct child units above it; it is
    rewritten from the real count under the unit's row lock on every change, so it is exact.
    ``leader_election_due_at`` is the hook the elections issue reads: set when a leader
    election must be scheduled, cleared when a leader is installed.
    """

    __tablename__ = "units"
    __table_args__ = (
        CheckConstraint(f"member_count BETWEEN 0 AND {MAX_UNIT_SIZE}", name="member_count_range"),
        # The growth step looks for unattached children of one level.
        Index("ix_units_level_parent_id_status", "level", "parent_id", "status"),
    )

    name: Mapped[str] = mapped_column(String(NAME_MAX), nullable=False)
    level: Mapped[UnitLevel] = mapped_column(pg_enum(UnitLevel, "unit_level"), nullable=False)
    # The district for an ateuli; the lowest common ancestor of the children above it.
    territory_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("territories.id", ondelete="RESTRICT"), nullable=False, index=True
    )
    parent_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("units.id", ondelete="SET NULL"), index=True
    )
    member_count: Mapped[int] = mapped_column(default=0, server_default=text("0"), nullable=False)
    status: Mapped[UnitStatus] = mapped_column(
        pg_enum(UnitStatus, "unit_status"), default=UnitStatus.FORMING, nullable=False
    )
    activated_at: Mapped[datetime | None] = mapped_column(default=None)
    leader_election_due_at: Mapped[datetime | None] = mapped_column(default=None)
    founder_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )


class UnitMembership(UUIDPrimaryKey, Timestamps, Base):
    """A member's time in an ateuli. Rows are closed (``left_at``), never deleted."""

    __tablename__ = "unit_memberships"
    __table_args__ = (
        # One ateuli at a time: at most one open membership per member. Only ateulis have
        # member rows (higher units are made of units), so this is exactly the rule of §3.3.
        Index(
            "uq_unit_memberships_user_id_open",
            "user_id",
            unique=True,
            postgresql_where=text("left_at IS NULL"),
        ),
        Index(
            "ix_unit_memberships_unit_id_open",
            "unit_id",
            postgresql_where=text("left_at IS NULL"),
        ),
    )

    unit_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("units.id", ondelete="CASCADE"), nullable=False
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    joined_at: Mapped[datetime] = mapped_column(nullable=False)
    left_at: Mapped[datetime | None] = mapped_column(default=None)
    message: Mapped[str | None] = mapped_column(String(MESSAGE_MAX))


class LeadershipTerm(UUIDPrimaryKey, Timestamps, Base):
    """Who led which unit, from when to when, through which election."""

    __tablename__ = "leadership_terms"
    __table_args__ = (
        # One sitting leader per unit.
        Index(
            "uq_leadership_terms_unit_id_open",
            "unit_id",
            unique=True,
            postgresql_where=text("ended_at IS NULL"),
        ),
        # "Does this member hold a seat?" (LeaderUser, my-position) reads only open terms.
        Index(
            "ix_leadership_terms_user_id_open",
            "user_id",
            postgresql_where=text("ended_at IS NULL"),
        ),
    )

    unit_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("units.id", ondelete="CASCADE"), nullable=False, index=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    # The election that installed the leader. No foreign key yet: elections come later.
    election_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    started_at: Mapped[datetime] = mapped_column(nullable=False)
    ended_at: Mapped[datetime | None] = mapped_column(default=None)
    end_reason: Mapped[TermEndReason | None] = mapped_column(
        pg_enum(TermEndReason, "term_end_reason")
    )


# How lists of ateulis sort (GET /ateulis, GET /territories/{id}/ateulis): one map for both.
ATEULI_SORTABLE = {
    "created_at": Unit.created_at,
    "member_count": Unit.member_count,
    "name": Unit.name,
}
