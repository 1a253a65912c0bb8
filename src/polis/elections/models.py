"""Elections, candidates, and the two halves of a vote: who took part, and what was chosen.

The secret ballot (DESIGN.md §3.4, docs/elections.md) rests on the split between
``election_participations`` (election, voter, time: one per voter, by the primary key) and
``election_ballots`` (election, candidate, receipt: no voter and no time). Both are written in
one transaction, and no column, index, audit entry or log line joins them.

Status is not a column: it follows the clock (``Election.status_at``). ``cancelled_at`` and the
finalisation record (``finalized_at`` with the frozen tally and Merkle root) are the only
stored outcomes.
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
    Uuid,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from polis.kit.db import Base, Timestamps, UUIDPrimaryKey
from polis.units.models import UnitLevel
from polis.users.models import pg_enum

TITLE_MAX = 200
DESCRIPTION_MAX = 4000
STATEMENT_MAX = 2000
VOTE_HASH_LENGTH = 64  # hex SHA-256
CANCEL_REASON_MAX = 200


class ElectionType(enum.StrEnum):
    """Who is elected: the leader of one unit level, or the national (parliamentary) list."""

    ATISTAVI = "atistavi"
    ORMOTSDAATISTAVI = "ormotsdaatistavi"
    ASISTAVI = "asistavi"
    ATASISTAVI = "atasistavi"
    PARLIAMENTARY = "parliamentary"


class ElectionScope(enum.StrEnum):
    ATEULI = "ateuli"
    ORMOTSDAATEULI = "ormotsdaateuli"
    ASEULI = "aseuli"
    ATASEULI = "ataseuli"
    NATIONAL = "national"


class ElectionStatus(enum.StrEnum):
    SCHEDULED = "scheduled"  # nominations open
    ACTIVE = "active"  # voting
    COMPLETED = "completed"
    CANCELLED = "cancelled"


# The seat each leader election fills, by the level of the unit it is held in.
LEADER_ELECTION: dict[UnitLevel, ElectionType] = {
    UnitLevel.ATEULI: ElectionType.ATISTAVI,
    UnitLevel.ORMOTSDAATEULI: ElectionType.ORMOTSDAATISTAVI,
    UnitLevel.ASEULI: ElectionType.ASISTAVI,
    UnitLevel.ATASEULI: ElectionType.ATASISTAVI,
}
SCOPE_OF_LEVEL: dict[UnitLevel, ElectionScope] = {
    UnitLevel.ATEULI: ElectionScope.ATEULI,
    UnitLevel.ORMOTSDAATEULI: ElectionScope.ORMOTSDAATEULI,
    UnitLevel.ASEULI: ElectionScope.ASEULI,
    UnitLevel.ATASEULI: ElectionScope.ATASEULI,
}
LEVEL_OF_SCOPE: dict[ElectionScope, UnitLevel] = {
    scope: level for level, scope in SCOPE_OF_LEVEL.items()
}


class Election(UUIDPrimaryKey, Timestamps, Base):
    """One election. Nominations run from creation to ``starts_at``, voting to ``ends_at``."""

    __tablename__ = "elections"
    __table_args__ = (
        CheckConstraint("starts_at < ends_at", name="period"),
        # One open election per unit seat: what makes scheduling idempotent. A finalised or
        # cancelled election no longer holds the seat, so a runoff or a re-election may follow.
        Index(
            "uq_elections_scope_id_open",
            "scope_id",
            unique=True,
            postgresql_where=text(
                "scope_id IS NOT NULL AND cancelled_at IS NULL AND finalized_at IS NULL"
            ),
        ),
        # The every-minute job looks for elections to open and to finalise.
        Index(
            "ix_elections_pending",
            "ends_at",
            postgresql_where=text("cancelled_at IS NULL AND finalized_at IS NULL"),
        ),
    )

    election_type: Mapped[ElectionType] = mapped_column(
        pg_enum(ElectionType, "election_type"), nullable=False
    )
    scope_type: Mapped[ElectionScope] = mapped_column(
        pg_enum(ElectionScope, "election_scope"), nullable=False
    )
    # The unit whose leader is elected; NULL for the national list.
    scope_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("units.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(TITLE_MAX), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    starts_at: Mapped[datetime] = mapped_column(nullable=False)
    ends_at: Mapped[datetime] = mapped_column(nullable=False)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    # Scheduled by the system (a leader election) rather than by an admin.
    is_automatic: Mapped[bool] = mapped_column(default=False, nullable=False)
    # Nominations are extended at most once when nobody registered (§3.4).
    nominations_extended: Mapped[bool] = mapped_column(default=False, nullable=False)
    # A runoff between the tied candidates of ``runoff_of_id``: voting only.
    runoff_of_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("elections.id", ondelete="SET NULL")
    )
    # Set once the lifecycle job has opened voting (notified the electorate).
    opened_at: Mapped[datetime | None] = mapped_column(default=None)
    cancelled_at: Mapped[datetime | None] = mapped_column(default=None)
    cancel_reason: Mapped[str | None] = mapped_column(String(CANCEL_REASON_MAX))
    # The finalisation record, written exactly once under the row lock.
    finalized_at: Mapped[datetime | None] = mapped_column(default=None)
    total_votes: Mapped[int | None] = mapped_column(default=None)
    eligible_voters: Mapped[int | None] = mapped_column(default=None)
    merkle_root: Mapped[str | None] = mapped_column(String(VOTE_HASH_LENGTH))
    winner_candidate_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    # Why no leader was installed though the election completed (no votes, a tie, the unit
    # no longer active …); NULL when a winner was installed or for the national list.
    outcome_note: Mapped[str | None] = mapped_column(String(CANCEL_REASON_MAX))

    def status_at(self, now: datetime) -> ElectionStatus:
        """The status at ``now``: derived from the times, never stored."""
        return election_status(self.cancelled_at, self.starts_at, self.ends_at, now)


def election_status(
    cancelled_at: datetime | None, starts_at: datetime, ends_at: datetime, now: datetime
) -> ElectionStatus:
    """An election's status at ``now`` from its times (``Election.status_at``)."""
    if cancelled_at is not None:
        return ElectionStatus.CANCELLED
    if now < starts_at:
        return ElectionStatus.SCHEDULED
    if now < ends_at:
        return ElectionStatus.ACTIVE
    return ElectionStatus.COMPLETED


class Candidate(UUIDPrimaryKey, Base):
    """A member standing in an election. ``vote_count`` is written at the tally, never per
    vote: a counter bumped by each ballot would serialise every voter of a candidate."""

    __tablename__ = "election_candidates"
    __table_args__ = (UniqueConstraint("election_id", "user_id"),)

    election_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("elections.id", ondelete="CASCADE"), nullable=False
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    statement: Mapped[str | None] = mapped_column(Text)
    registered_at: Mapped[datetime] = mapped_column(nullable=False)
    vote_count: Mapped[int | None] = mapped_column(default=None)


class Participation(Base):
    """That ``voter_id`` voted in ``election_id``, and when; never what they chose.

    The primary key is the unique (election, voter) of §3.4: a second vote cannot be stored.
    """

    __tablename__ = "election_participations"

    # No foreign key to the election: see Ballot.
    election_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    voter_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(nullable=False)


class Ballot(Base):
    """One vote's choice and receipt. No voter, no time: nothing here names who cast it."""

    __tablename__ = "election_ballots"
    __table_args__ = (
        # The tally counts per candidate of one election.
        Index("ix_election_ballots_election_id_candidate_id", "election_id", "candidate_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    # No foreign keys to the election or the candidate: a foreign-key check locks the row it
    # points at (FOR KEY SHARE), and one election row shared by every concurrent voter would
    # take a new MultiXact per vote. The vote's transaction checks both (service.cast_vote);
    # elections are never deleted (they are history), so nothing is left dangling.
    election_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    candidate_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    vote_hash: Mapped[str] = mapped_column(String(VOTE_HASH_LENGTH), nullable=False, unique=True)
