"""notification types: supporters hear an initiative's outcome

Revision ID: a41c7e2d9b63
Revises: 7d3f2a91c5e8
Create Date: 2026-12-04 21:00:00.000000+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "a41c7e2d9b63"
down_revision: str | None = "7d3f2a91c5e8"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOTIFICATION_TYPES = ("supported_initiative_completed", "supported_initiative_rejected")


def upgrade() -> None:
    # Unused in this migration, so PostgreSQL accepts them inside the transaction. They sit
    # after the other initiative types, in the order of polis.notifications.models.
    after = "initiative_reassigned"
    for value in NOTIFICATION_TYPES:
        op.execute(
            f"ALTER TYPE notification_type ADD VALUE IF NOT EXISTS '{value}' AFTER '{after}'"
        )
        after = value


def downgrade() -> None:
    # PostgreSQL cannot drop an enum value; the types stay, unused.
    pass
