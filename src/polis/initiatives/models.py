"""Initiatives (DESIGN.md §3.6) and the members who support them.

``current_support`` is a denormalised count kept for lists and sorting. It is rewritten from
the real number of ``initiative_supports`` rows under the initiative's row lock on every
support and withdrawal, so it always equals that number (docs/initiatives.md).
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from polis.kit.db import Base, Timestamps, UUIDPrimaryKey
from polis.units.models import UnitLevel
from polis.users.models import pg_enum

TITLE_MAX = 200
DESCRIPTION_MAX = 5000
COMMENT_MAX = 500
ANSWER_MAX = 5000
# Far above any real community; keeps the integer column and the progress arithmetic sane.
TARGET_MAX = 10_000_000


class InitiativeStatus(enum.StrEnum):
    DRAFT = "draft"  # written, not yet open for support (only its creator sees it)
    ACTIVE = "active"  # open for support
    ACHIEVED = "achieved"  # reached its target; waits for an assignee (no one could take it)
    ASSIGNED = "assigned"  # with a leader (or an admin), who must answer by answer_due_at
    COMPLETED = "completed"  # answered: done, with an outcome
    REJECTED = "rejected"  # answered: refused, with a reason


class InitiativeScope(enum.StrEnum):
    """Who the initiative speaks for: a unit of one level (``scope_id``) or the whole nation."""

    ATEULI = "ateuli"
    ORMOTSDAATEULI = "ormotsdaateuli"
    ASEULI = "aseuli"
    ATASEULI = "ataseuli"
    NATIONAL = "national"

    @property
    def unit_level(self) -> UnitLevel | None:
        return None if self is InitiativeScope.NATIONAL else UnitLevel(self.value)


class InitiativeCategory(enum.StrEnum):
    INFRASTRUCTURE = "infrastructure"
    EDUCATION = "education"
    HEALTH = "health"
    ENVIRONMENT = "environment"
    SOCIAL = "social"
    ECONOMY = "economy"
    CULTURE = "culture"
    GOVERNANCE = "governance"
    SECURITY = "security"
    OTHER = "other"


class Initiative(UUIDPrimaryKey, Timestamps, Base):
    """One initiative and where it stands. Rows are never deleted."""

    __tablename__ = "initiatives"
    __table_args__ = (
        # A national initiative has no unit; every other scope names one.
        CheckConstraint(
            "(scope_type = 'national') = (scope_id IS NULL)", name="scope_id_matches_type"
        ),
        CheckConstraint("current_support >= 0", name="current_support_not_negative"),
        CheckConstraint(f"target_support BETWEEN 1 AND {TARGET_MAX}", name="target_range"),
        # The list's common filters.
        Index("ix_initiatives_status_created_at", "status", "created_at"),
        Index("ix_initiatives_scope_type_scope_id", "scope_type", "scope_id"),
        # The hourly sweep reads only assigned rows by deadline.
        Index(
            "ix_initiatives_answer_due_at_assigned",
            "answer_due_at",
            postgresql_where=text("status = 'assigned'"),
        ),
    )

    title: Mapped[str] = mapped_column(String(TITLE_MAX), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False)
    category: Mapped[InitiativeCategory] = mapped_column(
        pg_enum(InitiativeCategory, "initiative_category"), nullable=False, index=True
    )
    scope_type: Mapped[InitiativeScope] = mapped_column(
        pg_enum(InitiativeScope, "initiative_scope"), nullable=False
    )
    scope_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("units.id", ondelete="RESTRICT"))
    target_support: Mapped[int] = mapped_column(nullable=False)
    current_support: Mapped[int] = mapped_column(
        default=0, server_default=text("0"), nullable=False
    )
    status: Mapped[InitiativeStatus] = mapped_column(
        pg_enum(InitiativeStatus, "initiative_status"),
        default=InitiativeStatus.ACTIVE,
        nullable=False,
    )
    creator_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="RESTRICT"), nullable=False, index=True
    )
    published_at: Mapped[datetime | None] = mapped_column(default=None)
    # Set by the first support ever: from then on the text is what members signed (no PATCH).
    first_supported_at: Mapped[datetime | None] = mapped_column(default=None)
    achieved_at: Mapped[datetime | None] = mapped_column(default=None)
    # Who must answer, from which unit (None: an admin holds it), since when and by when.
    assignee_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    assigned_unit_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("units.id", ondelete="SET NULL")
    )
    assigned_level: Mapped[UnitLevel | None] = mapped_column(pg_enum(UnitLevel, "unit_level"))
    assigned_at: Mapped[datetime | None] = mapped_column(default=None)
    answer_due_at: Mapped[datetime | None] = mapped_column(default=None)
    # How many times it changed hands after the first assignment (deadline or by hand).
    reassign_count: Mapped[int] = mapped_column(default=0, server_default=text("0"), nullable=False)
    answered_at: Mapped[datetime | None] = mapped_column(default=None)
    outcome: Mapped[str | None] = mapped_column(Text)
    reject_reason: Mapped[str | None] = mapped_column(Text)


class InitiativeSupport(UUIDPrimaryKey, Timestamps, Base):
    """One member's support of one initiative. Withdrawing deletes the row."""

    __tablename__ = "initiative_supports"
    __table_args__ = (
        # Once per member: the database decides, so two racing supports cannot both count.
        UniqueConstraint("initiative_id", "user_id"),
    )

    initiative_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("initiatives.id", ondelete="CASCADE"), nullable=False
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    comment: Mapped[str | None] = mapped_column(String(COMMENT_MAX))
    # Shown by name in the supporters list only when the member chose so (off by default).
    public: Mapped[bool] = mapped_column(default=False, server_default=false(), nullable=False)
