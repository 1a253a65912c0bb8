"""Endorsements (a GeDer vouching for a member), each GeDer's right to endorse, and GeD fines.

The approved, non-revoked endorsement of a supporter *is* the link to their tavdebi: its
``geder_id`` is the tavdebi. No column on ``users`` repeats it, so the two can never disagree.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Uuid, false, text
from sqlalchemy.orm import Mapped, mapped_column

from polis.kit.db import Base, Timestamps, UUIDPrimaryKey
from polis.users.models import pg_enum

MESSAGE_MAX = 500
REASON_MAX = 500
# An admin may set a GeDer's limit within these bounds (DESIGN.md §3.2).
DEFAULT_LIMIT = 5
MIN_LIMIT = 5
MAX_LIMIT = 10


class EndorsementStatus(enum.StrEnum):
    PENDING = "pending"  # asked, not yet decided
    APPROVED = "approved"  # the requester is a supporter with this GeDer as tavdebi
    REJECTED = "rejected"  # the GeDer said no, with a reason
    EXPIRED = "expired"  # nobody decided within seven days
    REVOKED = "revoked"  # was approved; taken back by the GeDer, an admin or a penalty


class FineStatus(enum.StrEnum):
    PENDING = "pending"  # recorded, not yet accepted by the GeD Database
    SENT = "sent"  # accepted
    FAILED = "failed"  # the last attempt failed; retried by the task and the hourly sweep


class Endorsement(UUIDPrimaryKey, Timestamps, Base):
    """One request to be vouched for, and what became of it. Rows are never deleted."""

    __tablename__ = "endorsements"
    __table_args__ = (
        # One pending request per member: the database decides, so two racing requests of the
        # same member cannot both be stored.
        Index(
            "uq_endorsements_requester_id_pending",
            "requester_id",
            unique=True,
            postgresql_where=text("status = 'pending'"),
        ),
        # One tavdebi per supporter.
        Index(
            "uq_endorsements_requester_id_approved",
            "requester_id",
            unique=True,
            postgresql_where=text("status = 'approved'"),
        ),
        # Slots (approved per GeDer) and the GeDer's pending approvals.
        Index("ix_endorsements_geder_id_status", "geder_id", "status"),
        # The hourly expiry reads only pending rows by deadline.
        Index(
            "ix_endorsements_expires_at_pending",
            "expires_at",
            postgresql_where=text("status = 'pending'"),
        ),
    )

    requester_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    geder_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    status: Mapped[EndorsementStatus] = mapped_column(
        pg_enum(EndorsementStatus, "endorsement_status"),
        default=EndorsementStatus.PENDING,
        nullable=False,
    )
    message: Mapped[str | None] = mapped_column(String(MESSAGE_MAX))
    requested_at: Mapped[datetime] = mapped_column(nullable=False)
    expires_at: Mapped[datetime] = mapped_column(nullable=False)
    decided_at: Mapped[datetime | None] = mapped_column(default=None)
    reject_reason: Mapped[str | None] = mapped_column(String(REASON_MAX))
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    revoke_reason: Mapped[str | None] = mapped_column(String(REASON_MAX))
    # Set when an arbitration decision confirmed this endorsement a fraud (§3.2 penalty).
    # The case id has no foreign key: the endorsements domain must not depend on arbitration.
    penalty: Mapped[bool] = mapped_column(default=False, server_default=false(), nullable=False)
    penalty_case_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    penalized_at: Mapped[datetime | None] = mapped_column(default=None)


class EndorsementRights(Timestamps, Base):
    """A GeDer's endorsement limit and suspension. No row: the defaults (limit 5, free)."""

    __tablename__ = "endorsement_rights"
    __table_args__ = (
        CheckConstraint(
            f"endorsement_limit BETWEEN {MIN_LIMIT} AND {MAX_LIMIT}", name="limit_range"
        ),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    endorsement_limit: Mapped[int] = mapped_column(
        default=DEFAULT_LIMIT, server_default=text(str(DEFAULT_LIMIT)), nullable=False
    )
    # Suspended while ``suspended_permanently`` or the clock is before ``suspended_until``.
    suspended_until: Mapped[datetime | None] = mapped_column(default=None)
    suspended_permanently: Mapped[bool] = mapped_column(
        default=False, server_default=false(), nullable=False
    )
    suspended_at: Mapped[datetime | None] = mapped_column(default=None)
    suspension_case_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    lifted_at: Mapped[datetime | None] = mapped_column(default=None)
    lifted_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )

    def is_suspended(self, now: datetime) -> bool:
        return self.suspended_permanently or (
            self.suspended_until is not None and now < self.suspended_until
        )


class GedFine(UUIDPrimaryKey, Timestamps, Base):
    """A fine owed to the GeD Database, and the outbox record of sending it there.

    The row commits with the penalty; the ``polis.endorsements.send_ged_fine`` task sends it
    after commit and retries; an hourly sweep re-sends whatever is still not ``sent``. The
    fine's id is its reference at the GeD Database, so a repeated send is recorded once.
    """

    __tablename__ = "ged_fines"
    __table_args__ = (
        Index(
            "ix_ged_fines_status_unsent",
            "status",
            postgresql_where=text("status <> 'sent'"),
        ),
    )

    guarantor_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    # One fine per penalised endorsement: applying a penalty twice records nothing new.
    endorsement_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("endorsements.id", ondelete="CASCADE"), nullable=False, unique=True
    )
    case_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    # Copied when the fine is recorded: an account deleted later loses its GeD number.
    ged_number: Mapped[str | None] = mapped_column(String(16))
    amount: Mapped[int] = mapped_column(nullable=False)
    status: Mapped[FineStatus] = mapped_column(
        pg_enum(FineStatus, "ged_fine_status"), default=FineStatus.PENDING, nullable=False
    )
    attempts: Mapped[int] = mapped_column(default=0, server_default=text("0"), nullable=False)
    last_error: Mapped[str | None] = mapped_column(String(200))
    sent_at: Mapped[datetime | None] = mapped_column(default=None)
