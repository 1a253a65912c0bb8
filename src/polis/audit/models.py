"""The audit log table: one row per recorded action, never updated."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from polis.kit import clock
from polis.kit.db import Base, UUIDPrimaryKey

ACTION_MAX = 100
ENTITY_TYPE_MAX = 50
ENTITY_ID_MAX = 100
IP_MAX = 64
USER_AGENT_MAX = 300
REQUEST_ID_MAX = 128


class AuditLog(UUIDPrimaryKey, Base):
    """One action on one entity. Rows are only ever inserted, so there is no ``updated_at``
    (and no ``Timestamps`` mixin): ``created_at`` comes from the clock seam like everywhere."""

    __tablename__ = "audit_logs"
    __table_args__ = (
        # An entity's history.
        Index("ix_audit_logs_entity_type_entity_id", "entity_type", "entity_id"),
        # What one member did, newest first (also serves the ON DELETE SET NULL lookup).
        Index("ix_audit_logs_actor_id_created_at", "actor_id", "created_at"),
        # Every occurrence of one action over time (failed logins, role changes).
        Index("ix_audit_logs_action_created_at", "action", "created_at"),
    )

    # NULL: the system (a worker sweep) or an anonymous caller (a failed login).
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(ACTION_MAX), nullable=False)
    entity_type: Mapped[str] = mapped_column(String(ENTITY_TYPE_MAX), nullable=False)
    entity_id: Mapped[str] = mapped_column(String(ENTITY_ID_MAX), nullable=False)
    old_values: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    new_values: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    ip_address: Mapped[str | None] = mapped_column(String(IP_MAX))
    user_agent: Mapped[str | None] = mapped_column(String(USER_AGENT_MAX))
    request_id: Mapped[str | None] = mapped_column(String(REQUEST_ID_MAX))
    created_at: Mapped[datetime] = mapped_column(
        default=clock.now, server_default=func.now(), nullable=False
    )
