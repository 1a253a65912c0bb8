"""arbitration: cases, decisions, the case-number sequence and seven notification types

Revision ID: 88bca26a7e6f
Revises: 3b9e51c2a7d4
Create Date: 2026-11-26 12:32:41.430061+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "88bca26a7e6f"
down_revision: str | None = "3b9e51c2a7d4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# unit_level belongs to the units migration: reuse it, never create or drop it here.
UNIT_LEVEL = postgresql.ENUM(
    "ateuli", "ormotsdaateuli", "aseuli", "ataseuli", name="unit_level", create_type=False
)
NOTIFICATION_TYPES = (
    "arbitration_case_filed",
    "arbitration_case_assigned",
    "arbitration_case_to_arbitrate",
    "arbitration_case_started",
    "arbitration_case_resolved",
    "arbitration_case_appealed",
    "arbitration_case_unassigned",
)


def upgrade() -> None:
    # The new values are not used in this migration, so PostgreSQL accepts them inside the
    # transaction. Downgrade keeps them: PostgreSQL cannot drop an enum value.
    for value in NOTIFICATION_TYPES:
        op.execute(f"ALTER TYPE notification_type ADD VALUE IF NOT EXISTS '{value}'")
    # Case numbers: nextval is never rolled back, so numbers are unique and may have gaps.
    op.execute("CREATE SEQUENCE arbitration_case_number_seq")
    op.create_table(
        "arbitration_cases",
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column(
            "type",
            sa.Enum(
                "dispute", "endorsement_fraud", "election_challenge", name="arbitration_case_type"
            ),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "assigned",
                "in_progress",
                "resolved",
                "appealed",
                name="arbitration_case_status",
            ),
            nullable=False,
        ),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("plaintiff_id", sa.Uuid(), nullable=False),
        sa.Column("defendant_id", sa.Uuid(), nullable=False),
        sa.Column("arbitrator_id", sa.Uuid(), nullable=True),
        sa.Column("unit_id", sa.Uuid(), nullable=True),
        sa.Column("level", UNIT_LEVEL, nullable=True),
        sa.Column("min_level", UNIT_LEVEL, nullable=False),
        sa.Column("endorsement_id", sa.Uuid(), nullable=True),
        sa.Column("resolution", sa.Text(), nullable=True),
        sa.Column("fraud_confirmed", sa.Boolean(), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("appeal_count", sa.Integer(), nullable=False),
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
        sa.ForeignKeyConstraint(
            ["arbitrator_id"],
            ["users.id"],
            name=op.f("fk_arbitration_cases_arbitrator_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["defendant_id"],
            ["users.id"],
            name=op.f("fk_arbitration_cases_defendant_id_users"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["plaintiff_id"],
            ["users.id"],
            name=op.f("fk_arbitration_cases_plaintiff_id_users"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"],
            ["units.id"],
            name=op.f("fk_arbitration_cases_unit_id_units"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_arbitration_cases")),
        sa.UniqueConstraint("number", name=op.f("uq_arbitration_cases_number")),
    )
    op.create_index(
        op.f("ix_arbitration_cases_arbitrator_id"),
        "arbitration_cases",
        ["arbitrator_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_arbitration_cases_defendant_id"),
        "arbitration_cases",
        ["defendant_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_arbitration_cases_plaintiff_id"),
        "arbitration_cases",
        ["plaintiff_id"],
        unique=False,
    )
    op.create_index(
        "ix_arbitration_cases_status_created_at",
        "arbitration_cases",
        ["status", "created_at"],
        unique=False,
    )
    op.create_table(
        "arbitration_decisions",
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("arbitrator_id", sa.Uuid(), nullable=True),
        sa.Column("level", UNIT_LEVEL, nullable=True),
        sa.Column("unit_id", sa.Uuid(), nullable=True),
        sa.Column("resolution", sa.Text(), nullable=False),
        sa.Column("fraud_confirmed", sa.Boolean(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("appealed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("appealed_by_id", sa.Uuid(), nullable=True),
        sa.Column("appeal_reason", sa.Text(), nullable=True),
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
        sa.ForeignKeyConstraint(
            ["appealed_by_id"],
            ["users.id"],
            name=op.f("fk_arbitration_decisions_appealed_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["arbitrator_id"],
            ["users.id"],
            name=op.f("fk_arbitration_decisions_arbitrator_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["arbitration_cases.id"],
            name=op.f("fk_arbitration_decisions_case_id_arbitration_cases"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"],
            ["units.id"],
            name=op.f("fk_arbitration_decisions_unit_id_units"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_arbitration_decisions")),
        sa.UniqueConstraint(
            "case_id", "round", name=op.f("uq_arbitration_decisions_case_id_round")
        ),
    )


def downgrade() -> None:
    op.drop_table("arbitration_decisions")
    op.drop_index("ix_arbitration_cases_status_created_at", table_name="arbitration_cases")
    op.drop_index(op.f("ix_arbitration_cases_plaintiff_id"), table_name="arbitration_cases")
    op.drop_index(op.f("ix_arbitration_cases_defendant_id"), table_name="arbitration_cases")
    op.drop_index(op.f("ix_arbitration_cases_arbitrator_id"), table_name="arbitration_cases")
    op.drop_table("arbitration_cases")
    op.execute("DROP SEQUENCE arbitration_case_number_seq")
    op.execute("DROP TYPE arbitration_case_status")
    op.execute("DROP TYPE arbitration_case_type")
