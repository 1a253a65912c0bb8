"""elections: elections, candidates, participations and ballots (secret), notification types

Revision ID: 7c4e2a9b1d05
Revises: 5d0c7a1e9b42
Create Date: 2026-11-26 14:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7c4e2a9b1d05"
down_revision: str | None = "5d0c7a1e9b42"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


NOTIFICATION_TYPES = (
    "election_scheduled",
    "election_nominations_extended",
    "election_started",
    "election_cancelled",
    "election_completed",
    "election_runoff",
    "leader_elected",
)


def upgrade() -> None:
    # Unused in this migration, so PostgreSQL accepts them inside the transaction. Downgrade
    # keeps them: PostgreSQL cannot drop an enum value.
    for value in NOTIFICATION_TYPES:
        op.execute(f"ALTER TYPE notification_type ADD VALUE IF NOT EXISTS '{value}'")
    op.create_table(
        "elections",
        sa.Column(
            "election_type",
            sa.Enum(
                "atistavi",
                "ormotsdaatistavi",
                "asistavi",
                "atasistavi",
                "parliamentary",
                name="election_type",
            ),
            nullable=False,
        ),
        sa.Column(
            "scope_type",
            sa.Enum(
                "ateuli",
                "ormotsdaateuli",
                "aseuli",
                "ataseuli",
                "national",
                name="election_scope",
            ),
            nullable=False,
        ),
        sa.Column("scope_id", sa.Uuid(), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column("is_automatic", sa.Boolean(), nullable=False),
        sa.Column("nominations_extended", sa.Boolean(), nullable=False),
        sa.Column("runoff_of_id", sa.Uuid(), nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancel_reason", sa.String(length=200), nullable=True),
        sa.Column("finalized_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("total_votes", sa.Integer(), nullable=True),
        sa.Column("eligible_voters", sa.Integer(), nullable=True),
        sa.Column("merkle_root", sa.String(length=64), nullable=True),
        sa.Column("winner_candidate_id", sa.Uuid(), nullable=True),
        sa.Column("outcome_note", sa.String(length=200), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("starts_at < ends_at", name=op.f("ck_elections_period")),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_elections_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["runoff_of_id"],
            ["elections.id"],
            name=op.f("fk_elections_runoff_of_id_elections"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["scope_id"],
            ["units.id"],
            name=op.f("fk_elections_scope_id_units"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_elections")),
    )
    op.create_index(op.f("ix_elections_scope_id"), "elections", ["scope_id"], unique=False)
    op.create_index(
        "uq_elections_scope_id_open",
        "elections",
        ["scope_id"],
        unique=True,
        postgresql_where=sa.text(
            "scope_id IS NOT NULL AND cancelled_at IS NULL AND finalized_at IS NULL"
        ),
    )
    op.create_index(
        "ix_elections_pending",
        "elections",
        ["ends_at"],
        unique=False,
        postgresql_where=sa.text("cancelled_at IS NULL AND finalized_at IS NULL"),
    )
    op.create_table(
        "election_candidates",
        sa.Column("election_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("statement", sa.Text(), nullable=True),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("vote_count", sa.Integer(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["election_id"],
            ["elections.id"],
            name=op.f("fk_election_candidates_election_id_elections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_election_candidates_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_election_candidates")),
        sa.UniqueConstraint(
            "election_id", "user_id", name=op.f("uq_election_candidates_election_id_user_id")
        ),
    )
    op.create_index(
        op.f("ix_election_candidates_user_id"), "election_candidates", ["user_id"], unique=False
    )
    op.create_table(
        "election_participations",
        sa.Column("election_id", sa.Uuid(), nullable=False),
        sa.Column("voter_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["voter_id"],
            ["users.id"],
            name=op.f("fk_election_participations_voter_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("election_id", "voter_id", name=op.f("pk_election_participations")),
    )
    op.create_index(
        op.f("ix_election_participations_voter_id"),
        "election_participations",
        ["voter_id"],
        unique=False,
    )
    op.create_table(
        "election_ballots",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("election_id", sa.Uuid(), nullable=False),
        sa.Column("candidate_id", sa.Uuid(), nullable=False),
        sa.Column("vote_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_election_ballots")),
        sa.UniqueConstraint("vote_hash", name=op.f("uq_election_ballots_vote_hash")),
    )
    op.create_index(
        "ix_election_ballots_election_id_candidate_id",
        "election_ballots",
        ["election_id", "candidate_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_table("election_ballots")
    op.drop_table("election_participations")
    op.drop_table("election_candidates")
    op.drop_table("elections")
    op.execute("DROP TYPE IF EXISTS election_scope")
    op.execute("DROP TYPE IF EXISTS election_type")
