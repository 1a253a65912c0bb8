"""sos: signals, their escalation trail and six notification types

Revision ID: 5d0c7a1e9b42
Revises: 0fb5a81c7b54
Create Date: 2026-11-26 14:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5d0c7a1e9b42"
down_revision: str | None = "0fb5a81c7b54"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOTIFICATION_TYPES = (
    "sos_signal_received",
    "sos_signal_critical",
    "sos_signal_verified",
    "sos_signal_rejected",
    "sos_signal_escalated",
    "sos_signal_resolved",
)
SOS_LEVELS = ("ateuli", "ormotsdaateuli", "aseuli", "ataseuli", "moderators", "media")


def _timestamps() -> list[sa.Column[object]]:
    return [
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
    ]


def upgrade() -> None:
    # The new values are not used in this migration, so PostgreSQL accepts them inside the
    # transaction. Downgrade keeps them: PostgreSQL cannot drop an enum value.
    for value in NOTIFICATION_TYPES:
        op.execute(f"ALTER TYPE notification_type ADD VALUE IF NOT EXISTS '{value}'")
    sos_level = sa.Enum(*SOS_LEVELS, name="sos_level")
    op.create_table(
        "sos_signals",
        sa.Column("reporter_id", sa.Uuid(), nullable=False),
        sa.Column("ateuli_id", sa.Uuid(), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("location", sa.String(length=300), nullable=False),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column("moral_filter_response", sa.Text(), nullable=False),
        sa.Column(
            "status",
            sa.Enum("pending", "verified", "escalated", "rejected", "resolved", name="sos_status"),
            nullable=False,
        ),
        sa.Column(
            "priority",
            sa.Enum("critical", "high", "normal", "low", name="sos_priority"),
            nullable=False,
        ),
        sa.Column("current_level", sos_level, nullable=False),
        sa.Column("holder_id", sa.Uuid(), nullable=True),
        sa.Column("holder_unit_id", sa.Uuid(), nullable=True),
        sa.Column("level_since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deadline_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("escalation_count", sa.Integer(), nullable=False),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("verified_by_id", sa.Uuid(), nullable=True),
        sa.Column("verification_notes", sa.Text(), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by_id", sa.Uuid(), nullable=True),
        sa.Column("resolution_notes", sa.Text(), nullable=True),
        *_timestamps(),
        sa.ForeignKeyConstraint(
            ["reporter_id"],
            ["users.id"],
            name=op.f("fk_sos_signals_reporter_id_users"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["ateuli_id"],
            ["units.id"],
            name=op.f("fk_sos_signals_ateuli_id_units"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["holder_id"],
            ["users.id"],
            name=op.f("fk_sos_signals_holder_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["holder_unit_id"],
            ["units.id"],
            name=op.f("fk_sos_signals_holder_unit_id_units"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["verified_by_id"],
            ["users.id"],
            name=op.f("fk_sos_signals_verified_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["resolved_by_id"],
            ["users.id"],
            name=op.f("fk_sos_signals_resolved_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sos_signals")),
    )
    op.create_index(op.f("ix_sos_signals_ateuli_id"), "sos_signals", ["ateuli_id"], unique=False)
    # The sweep's range scan: only signals that still have a deadline are indexed.
    op.create_index(
        "ix_sos_signals_deadline_at",
        "sos_signals",
        ["deadline_at"],
        unique=False,
        postgresql_where=sa.text("deadline_at IS NOT NULL"),
    )
    op.create_index(
        "ix_sos_signals_holder_id_status", "sos_signals", ["holder_id", "status"], unique=False
    )
    op.create_index(
        "ix_sos_signals_reporter_id_created_at",
        "sos_signals",
        ["reporter_id", "created_at"],
        unique=False,
    )
    op.create_table(
        "sos_escalations",
        sa.Column("signal_id", sa.Uuid(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("from_level", sa.Enum(*SOS_LEVELS, name="sos_level", create_type=False)),
        sa.Column(
            "to_level", sa.Enum(*SOS_LEVELS, name="sos_level", create_type=False), nullable=False
        ),
        sa.Column("from_holder_id", sa.Uuid(), nullable=True),
        sa.Column("to_holder_id", sa.Uuid(), nullable=True),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column(
            "reason",
            sa.Enum("routed", "manual", "deadline", name="sos_escalation_reason"),
            nullable=False,
        ),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        *_timestamps(),
        sa.ForeignKeyConstraint(
            ["signal_id"],
            ["sos_signals.id"],
            name=op.f("fk_sos_escalations_signal_id_sos_signals"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["from_holder_id"],
            ["users.id"],
            name=op.f("fk_sos_escalations_from_holder_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["to_holder_id"],
            ["users.id"],
            name=op.f("fk_sos_escalations_to_holder_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["users.id"],
            name=op.f("fk_sos_escalations_actor_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sos_escalations")),
        sa.UniqueConstraint("signal_id", "step", name=op.f("uq_sos_escalations_signal_id_step")),
    )
    op.create_index(
        op.f("ix_sos_escalations_to_holder_id"), "sos_escalations", ["to_holder_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_sos_escalations_to_holder_id"), table_name="sos_escalations")
    op.drop_table("sos_escalations")
    op.drop_index("ix_sos_signals_reporter_id_created_at", table_name="sos_signals")
    op.drop_index("ix_sos_signals_holder_id_status", table_name="sos_signals")
    op.drop_index("ix_sos_signals_deadline_at", table_name="sos_signals")
    op.drop_index(op.f("ix_sos_signals_ateuli_id"), table_name="sos_signals")
    op.drop_table("sos_signals")
    for name in ("sos_escalation_reason", "sos_level", "sos_priority", "sos_status"):
        op.execute(f"DROP TYPE {name}")
