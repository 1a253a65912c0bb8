"""territory boundaries: GeoJSON boundary and an indexed bounding box

Revision ID: 5a7c1e9d2f40
Revises: bb30c95e883f
Create Date: 2026-11-26 12:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "5a7c1e9d2f40"
down_revision: str | None = "bb30c95e883f"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "territories",
        sa.Column("boundary", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    )
    op.add_column("territories", sa.Column("min_lat", sa.Float(), nullable=True))
    op.add_column("territories", sa.Column("min_lng", sa.Float(), nullable=True))
    op.add_column("territories", sa.Column("max_lat", sa.Float(), nullable=True))
    op.add_column("territories", sa.Column("max_lng", sa.Float(), nullable=True))
    op.create_index(
        "ix_territories_bbox",
        "territories",
        ["min_lat", "max_lat", "min_lng", "max_lng"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_territories_bbox", table_name="territories")
    op.drop_column("territories", "max_lng")
    op.drop_column("territories", "max_lat")
    op.drop_column("territories", "min_lng")
    op.drop_column("territories", "min_lat")
    op.drop_column("territories", "boundary")
