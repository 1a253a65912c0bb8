"""Helpers for initiatives tests: a led hierarchy, bodies, counts of what was written."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from polis.audit.models import AuditLog
from polis.initiatives.models import Initiative, InitiativeSupport
from polis.kit import clock
from polis.notifications.models import Notification, NotificationType
from polis.units.models import LeadershipTerm, TermEndReason
from tests.arbitration.helpers import Tree, auth, make_admin, tree

INITIATIVES = "/api/v1/initiatives"

__all__ = ["INITIATIVES", "Tree", "auth", "make_admin", "tree"]


def body(scope_type: str, scope_id: uuid.UUID | None, target: int, **extra: Any) -> dict[str, Any]:
    """A valid creation body for ``scope_type``/``scope_id`` with ``target`` supporters."""
    return {
        "title": "Lights for the courtyard",
        "description": "Four lamps in the courtyard of building 12, so that children play safely.",
        "category": "infrastructure",
        "scope_type": scope_type,
        "scope_id": str(scope_id) if scope_id else None,
        "target_support": target,
        **extra,
    }


async def stored(session: AsyncSession, initiative_id: str | uuid.UUID) -> Initiative:
    return await session.get_one(Initiative, uuid.UUID(str(initiative_id)), populate_existing=True)


async def support_rows(session: AsyncSession, initiative_id: str | uuid.UUID) -> int:
    return int(
        await session.scalar(
            select(func.count())
            .select_from(InitiativeSupport)
            .where(InitiativeSupport.initiative_id == uuid.UUID(str(initiative_id)))
        )
        or 0
    )


async def notified(session: AsyncSession, user_id: uuid.UUID, kind: NotificationType) -> int:
    return int(
        await session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.user_id == user_id, Notification.type == kind)
        )
        or 0
    )


async def audit_actions(session: AsyncSession, initiative_id: str | uuid.UUID) -> list[str]:
    rows = await session.scalars(
        select(AuditLog.action)
        .where(AuditLog.entity_id == str(initiative_id))
        .order_by(AuditLog.created_at, AuditLog.id)
    )
    return list(rows.all())


async def vacate(session: AsyncSession, unit_id: uuid.UUID) -> None:
    """End the sitting leader's term of ``unit_id`` (the seat is empty)."""
    term = await session.scalar(
        select(LeadershipTerm).where(
            LeadershipTerm.unit_id == unit_id, LeadershipTerm.ended_at.is_(None)
        )
    )
    assert term is not None
    term.ended_at = clock.now()
    term.end_reason = TermEndReason.LEFT_UNIT
    await session.flush()
