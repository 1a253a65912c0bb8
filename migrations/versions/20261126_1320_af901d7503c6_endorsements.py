"""endorsements: requests, GeDers' rights, GeD fines, and their notification types

Revision ID: af901d7503c6
Revises: 88bca26a7e6f
Create Date: 2026-11-26 13:20:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "af901d7503c6"
down_revision: str | None = "88bca26a7e6f"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


NOTIFICATION_TYPES = (
    "endorsement_requested",
    "endorsement_approved",
    "endorsement_rejected",
    "endorsement_expired",
    "endorsement_revoked",
    "endorsement_penalty",
    "endorsement_suspension_lifted",
    "endorsement_limit_changed",
    "supporter_flagged",
)


def upgrade() -> None:
    # The new values are not used in this migration, so PostgreSQL accepts them inside the
    # transaction. Downgrade keeps them: PostgreSQL cannot drop an enum value.
    for value in NOTIFICATION_TYPES:
        op.execute(f"ALTER TYPE notification_type ADD VALUE IF NOT EXISTS '{value}'")
    op.create_table(
        "endorsement_rights",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("endorsement_limit", sa.Integer(), server_default=sa.text("5"), nullable=False),
        sa.Column("suspended_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "suspended_permanently", sa.Boolean(), server_default=sa.text("false"), nullable=False
        ),
        sa.Column("suspended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("suspension_case_id", sa.Uuid(), nullable=True),
        sa.Column("lifted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lifted_by_id", sa.Uuid(), nullable=True),
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
        sa.CheckConstraint(
            "endorsement_limit BETWEEN 5 AND 10", name=op.f("ck_endorsement_rights_limit_range")
        ),
        sa.ForeignKeyConstraint(
            ["lifted_by_id"],
            ["users.id"],
            name=op.f("fk_endorsement_rights_lifted_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_endorsement_rights_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_endorsement_rights")),
    )
    op.create_table(
        "endorsements",
        sa.Column("requester_id", sa.Uuid(), nullable=False),
        sa.Column("geder_id", sa.Uuid(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending", "approved", "rejected", "expired", "revoked", name="endorsement_status"
            ),
            nullable=False,
        ),
        sa.Column("message", sa.String(length=500), nullable=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reject_reason", sa.String(length=500), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_by_id", sa.Uuid(), nullable=True),
        sa.Column("revoke_reason", sa.String(length=500), nullable=True),
        sa.Column("penalty", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("penalty_case_id", sa.Uuid(), nullable=True),
        sa.Column("penalized_at", sa.DateTime(timezone=True), nullable=True),
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
            ["geder_id"],
            ["users.id"],
            name=op.f("fk_endorsements_geder_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["requester_id"],
            ["users.id"],
            name=op.f("fk_endorsements_requester_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["revoked_by_id"],
            ["users.id"],
            name=op.f("fk_endorsements_revoked_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_endorsements")),
    )
    op.create_index(
        "ix_endorsements_expires_at_pending",
        "endorsements",
        ["expires_at"],
        unique=False,
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        "ix_endorsements_geder_id_status", "endorsements", ["geder_id", "status"], unique=False
    )
    op.create_index(
        "uq_endorsements_requester_id_approved",
        "endorsements",
        ["requester_id"],
        unique=True,
        postgresql_where=sa.text("status = 'approved'"),
    )
    op.create_index(
        "uq_endorsements_requester_id_pending",
        "endorsements",
        ["requester_id"],
        unique=True,
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_table(
        "ged_fines",
        sa.Column("guarantor_id", sa.Uuid(), nullable=False),
        sa.Column("endorsement_id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=True),
        sa.Column("ged_number", sa.String(length=16), nullable=True),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column(
            "status", sa.Enum("pending", "sent", "failed", name="ged_fine_status"), nullable=False
        ),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
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
            ["endorsement_id"],
            ["endorsements.id"],
            name=op.f("fk_ged_fines_endorsement_id_endorsements"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["guarantor_id"],
            ["users.id"],
            name=op.f("fk_ged_fines_guarantor_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ged_fines")),
        sa.UniqueConstraint("endorsement_id", name=op.f("uq_ged_fines_endorsement_id")),
    )
    op.create_index(op.f("ix_ged_fines_guarantor_id"), "ged_fines", ["guarantor_id"], unique=False)
    op.create_index(
        "ix_ged_fines_status_unsent",
        "ged_fines",
        ["status"],
        unique=False,
        postgresql_where=sa.text("status <> 'sent'"),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_ged_fines_status_unsent",
        table_name="ged_fines",
        postgresql_where=sa.text("status <> 'sent'"),
    )
    op.drop_index(op.f("ix_ged_fines_guarantor_id"), table_name="ged_fines")
    op.drop_table("ged_fines")
    op.drop_index(
        "uq_endorsements_requester_id_pending",
        table_name="endorsements",
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.drop_index(
        "uq_endorsements_requester_id_approved",
        table_name="endorsements",
        postgresql_where=sa.text("status = 'approved'"),
    )
    op.drop_index("ix_endorsements_geder_id_status", table_name="endorsements")
    op.drop_index(
        "ix_endorsements_expires_at_pending",
        table_name="endorsements",
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.drop_table("endorsements")
    op.drop_table("endorsement_rights")
    sa.Enum(name="ged_fine_status").drop(op.get_bind(), checkfirst=True)
    sa.Enum(name="endorsement_status").drop(op.get_bind(), checkfirst=True)
