"""gamification: achievements, and the achievement_unlocked notification type

Revision ID: 3b9e51c2a7d4
Revises: ffdc47999d08
Create Date: 2026-11-26 13:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "3b9e51c2a7d4"
down_revision: str | None = "ffdc47999d08"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The new value is not used in this migration, so PostgreSQL accepts it inside the
    # transaction. Downgrade keeps it: PostgreSQL cannot drop an enum value.
    op.execute("ALTER TYPE notification_type ADD VALUE IF NOT EXISTS 'achievement_unlocked'")
    op.create_table(
        "achievements",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("awarded_at", sa.DateTime(timezone=True), nullable=False),
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
            ["user_id"],
            ["users.id"],
            name=op.f("fk_achievements_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_achievements")),
        sa.UniqueConstraint("user_id", "code", name=op.f("uq_achievements_user_id_code")),
    )


def downgrade() -> None:
    op.drop_table("achievements")
