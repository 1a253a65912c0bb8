"""initiatives: initiatives, their supports and five notification types

Revision ID: 0fb5a81c7b54
Revises: e23053653d16
Create Date: 2026-11-26 14:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0fb5a81c7b54"
down_revision: str | None = "e23053653d16"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# unit_level belongs to the units migration: reuse it, never create or drop it here.
UNIT_LEVEL = postgresql.ENUM(
    "ateuli", "ormotsdaateuli", "aseuli", "ataseuli", name="unit_level", create_type=False
)
NOTIFICATION_TYPES = (
    "initiative_supported_threshold",
    "initiative_assigned",
    "initiative_completed",
    "initiative_rejected",
    "initiative_reassigned",
)


def _timestamps() -> list[sa.Column[object]]:
    return [
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
    op.create_table(
        "initiatives",
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column(
            "category",
            sa.Enum(
                "infrastructure",
                "education",
                "health",
                "environment",
                "social",
                "economy",
                "culture",
                "governance",
                "security",
                "other",
                name="initiative_category",
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
                name="initiative_scope",
            ),
            nullable=False,
        ),
        sa.Column("scope_id", sa.Uuid(), nullable=True),
        sa.Column("target_support", sa.Integer(), nullable=False),
        sa.Column("current_support", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "draft",
                "active",
                "achieved",
                "assigned",
                "completed",
                "rejected",
                name="initiative_status",
            ),
            nullable=False,
        ),
        sa.Column("creator_id", sa.Uuid(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_supported_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("achieved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("assignee_id", sa.Uuid(), nullable=True),
        sa.Column("assigned_unit_id", sa.Uuid(), nullable=True),
        sa.Column("assigned_level", UNIT_LEVEL, nullable=True),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answer_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reassign_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("reject_reason", sa.Text(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        *_timestamps(),
        sa.CheckConstraint(
            "(scope_type = 'national') = (scope_id IS NULL)",
            name=op.f("ck_initiatives_scope_id_matches_type"),
        ),
        sa.CheckConstraint(
            "current_support >= 0", name=op.f("ck_initiatives_current_support_not_negative")
        ),
        sa.CheckConstraint(
            "target_support BETWEEN 1 AND 10000000", name=op.f("ck_initiatives_target_range")
        ),
        sa.ForeignKeyConstraint(
            ["assigned_unit_id"],
            ["units.id"],
            name=op.f("fk_initiatives_assigned_unit_id_units"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["assignee_id"],
            ["users.id"],
            name=op.f("fk_initiatives_assignee_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["creator_id"],
            ["users.id"],
            name=op.f("fk_initiatives_creator_id_users"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["scope_id"],
            ["units.id"],
            name=op.f("fk_initiatives_scope_id_units"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_initiatives")),
    )
    op.create_index(op.f("ix_initiatives_category"), "initiatives", ["category"], unique=False)
    op.create_index(op.f("ix_initiatives_creator_id"), "initiatives", ["creator_id"], unique=False)
    op.create_index(
        op.f("ix_initiatives_assignee_id"), "initiatives", ["assignee_id"], unique=False
    )
    op.create_index(
        "ix_initiatives_status_created_at", "initiatives", ["status", "created_at"], unique=False
    )
    op.create_index(
        "ix_initiatives_scope_type_scope_id",
        "initiatives",
        ["scope_type", "scope_id"],
        unique=False,
    )
    op.create_index(
        "ix_initiatives_answer_due_at_assigned",
        "initiatives",
        ["answer_due_at"],
        unique=False,
        postgresql_where=sa.text("status = 'assigned'"),
    )
    op.create_table(
        "initiative_supports",
        sa.Column("initiative_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("comment", sa.String(length=500), nullable=True),
        sa.Column("public", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        *_timestamps(),
        sa.ForeignKeyConstraint(
            ["initiative_id"],
            ["initiatives.id"],
            name=op.f("fk_initiative_supports_initiative_id_initiatives"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_initiative_supports_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_initiative_supports")),
        sa.UniqueConstraint(
            "initiative_id",
            "user_id",
            name=op.f("uq_initiative_supports_initiative_id_user_id"),
        ),
    )
    op.create_index(
        op.f("ix_initiative_supports_user_id"), "initiative_supports", ["user_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_initiative_supports_user_id"), table_name="initiative_supports")
    op.drop_table("initiative_supports")
    op.drop_index("ix_initiatives_answer_due_at_assigned", table_name="initiatives")
    op.drop_index("ix_initiatives_scope_type_scope_id", table_name="initiatives")
    op.drop_index("ix_initiatives_status_created_at", table_name="initiatives")
    op.drop_index(op.f("ix_initiatives_assignee_id"), table_name="initiatives")
    op.drop_index(op.f("ix_initiatives_creator_id"), table_name="initiatives")
    op.drop_index(op.f("ix_initiatives_category"), table_name="initiatives")
    op.drop_table("initiatives")
    op.execute("DROP TYPE initiative_status")
    op.execute("DROP TYPE initiative_scope")
    op.execute("DROP TYPE initiative_category")
