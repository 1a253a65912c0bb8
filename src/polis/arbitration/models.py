"""Arbitration cases and the history of their decisions (DESIGN.md §3.7).

A case keeps only its current state; every decision ever taken on it (and whether it was
appealed) is a row of ``arbitration_decisions``, so an appeal never overwrites history.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Sequence, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from polis.kit.db import Base, Timestamps, UUIDPrimaryKey
from polis.units.models import UnitLevel
from polis.users.models import pg_enum

TITLE_MAX = 200
TEXT_MAX = 5000
REASON_MAX = 2000
NUMBER_MAX = 32

# Case numbers come from one sequence: nextval never blocks and never hands out a value twice,
# whatever the concurrency; a rolled-back filing leaves a gap, which the numbering tolerates.
CASE_NUMBER_SEQUENCE = Sequence("arbitration_case_number_seq", metadata=Base.metadata)


class CaseType(enum.StrEnum):
    DISPUTE = "dispute"
    ENDORSEMENT_FRAUD = "endorsement_fraud"
    ELECTION_CHALLENGE = "election_challenge"


class CaseStatus(enum.StrEnum):
    PENDING = "pending"  # no arbitrator could be found (no eligible leader, no admin)
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    APPEALED = "appealed"  # a decision was appealed; the next level's arbitrator takes it


class ArbitrationCase(UUIDPrimaryKey, Timestamps, Base):
    """One case between a plaintiff and a defendant.

    ``min_level`` is the lowest level that may decide the current round (ormotsdaateuli, or
    aseuli for an election challenge; one level above the last decision after an appeal).
    ``level``/``unit_id`` say where the sitting arbitrator sits: both null when the arbitrator
    is an admin (the fallback) or when there is none yet.
    """

    __tablename__ = "arbitration_cases"
    __table_args__ = (
        UniqueConstraint("number"),
        Index("ix_arbitration_cases_status_created_at", "status", "created_at"),
    )

    number: Mapped[str] = mapped_column(String(NUMBER_MAX), nullable=False)
    type: Mapped[CaseType] = mapped_column(
        pg_enum(CaseType, "arbitration_case_type"), nullable=False
    )
    status: Mapped[CaseStatus] = mapped_column(
        pg_enum(CaseStatus, "arbitration_case_status"), nullable=False
    )
    title: Mapped[str] = mapped_column(String(TITLE_MAX), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False)
    plaintiff_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="RESTRICT"), nullable=False, index=True
    )
    defendant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="RESTRICT"), nullable=False, index=True
    )
    arbitrator_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    unit_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("units.id", ondelete="SET NULL"))
    level: Mapped[UnitLevel | None] = mapped_column(pg_enum(UnitLevel, "unit_level"))
    min_level: Mapped[UnitLevel] = mapped_column(pg_enum(UnitLevel, "unit_level"), nullable=False)
    # endorsement_fraud only: the endorsement in question. No foreign key: the endorsements
    # domain owns that table and lands separately.
    endorsement_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    # The current decision; cleared when it is appealed (the history keeps it).
    resolution: Mapped[str | None] = mapped_column(Text)
    fraud_confirmed: Mapped[bool | None] = mapped_column(default=None)
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)
    appeal_count: Mapped[int] = mapped_column(default=0, nullable=False)


class ArbitrationDecision(UUIDPrimaryKey, Timestamps, Base):
    """A decision taken on a case in one round, and its appeal if there was one."""

    __tablename__ = "arbitration_decisions"
    __table_args__ = (UniqueConstraint("case_id", "round"),)

    case_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("arbitration_cases.id", ondelete="CASCADE"), nullable=False
    )
    # 1 for the first decision, 2 after the first appeal, …
    round: Mapped[int] = mapped_column(nullable=False)
    arbitrator_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    level: Mapped[UnitLevel | None] = mapped_column(pg_enum(UnitLevel, "unit_level"))
    unit_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("units.id", ondelete="SET NULL"))
    resolution: Mapped[str] = mapped_column(Text, nullable=False)
    fraud_confirmed: Mapped[bool | None] = mapped_column(default=None)
    decided_at: Mapped[datetime] = mapped_column(nullable=False)
    appealed_at: Mapped[datetime | None] = mapped_column(default=None)
    appealed_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    appeal_reason: Mapped[str | None] = mapped_column(Text)
