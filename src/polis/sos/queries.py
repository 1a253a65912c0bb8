"""Reading SOS signals: who sees what, the lists, one signal, its trail (DESIGN.md §3.5).

Every read that a request or a rule makes of signals goes through here; the rules
(service.py, escalation.py) change them, the router shapes them (presenters.py).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from polis.kit.db import get_or_404
from polis.kit.errors import NotFound
from polis.kit.pagination import Page, PageParams, paginate
from polis.sos.models import SosEscalation, SosLevel, SosPriority, SosSignal, SosStatus
from polis.units.models import LeadershipTerm, Unit
from polis.users.models import User

NO_SIGNAL = "No such signal."


def _subtree_of_leader(user_id: uuid.UUID) -> Select[Any]:
    """The ids of every unit at or under a unit ``user_id`` leads now (a recursive CTE)."""
    led = select(LeadershipTerm.unit_id).where(
        LeadershipTerm.user_id == user_id, LeadershipTerm.ended_at.is_(None)
    )
    tree = select(Unit.id).where(Unit.id.in_(led)).cte("sos_led_subtree", recursive=True)
    tree = tree.union_all(select(Unit.id).where(Unit.parent_id == tree.c.id))
    return select(tree.c.id)


def _visible_to(user: User) -> Select[Any]:
    """The signals ``user`` may see: their own, those they hold or held, those raised in an
    ateuli under a unit they lead, and every signal for an admin."""
    statement = select(SosSignal)
    if user.is_admin:
        return statement
    held = select(SosEscalation.signal_id).where(SosEscalation.to_holder_id == user.id)
    return statement.where(
        or_(
            SosSignal.reporter_id == user.id,
            SosSignal.holder_id == user.id,
            SosSignal.id.in_(held),
            SosSignal.ateuli_id.in_(_subtree_of_leader(user.id)),
        )
    )


async def visible_signal(session: AsyncSession, user: User, signal_id: uuid.UUID) -> SosSignal:
    """The signal, if ``user`` may see it; 404 otherwise (a foreign signal is not found)."""
    signal: SosSignal | None = await session.scalar(
        _visible_to(user).where(SosSignal.id == signal_id)
    )
    if signal is None:
        raise NotFound(NO_SIGNAL)
    return signal


async def locked_signal(session: AsyncSession, signal_id: uuid.UUID) -> SosSignal:
    """The signal's row locked (``FOR UPDATE``) and re-read, for a transition."""
    return await get_or_404(session, SosSignal, signal_id, lock=True, missing=NO_SIGNAL)


@dataclass(frozen=True)
class SignalFilters:
    status: SosStatus | None = None
    priority: SosPriority | None = None
    current_level: SosLevel | None = None


_SORTABLE = {
    "created_at": SosSignal.created_at,
    "deadline_at": SosSignal.deadline_at,
    "updated_at": SosSignal.updated_at,
}


def _filtered(statement: Select[Any], filters: SignalFilters) -> Select[Any]:
    if filters.status is not None:
        statement = statement.where(SosSignal.status == filters.status)
    if filters.priority is not None:
        statement = statement.where(SosSignal.priority == filters.priority)
    if filters.current_level is not None:
        statement = statement.where(SosSignal.current_level == filters.current_level)
    return statement


async def list_signals(
    session: AsyncSession, user: User, filters: SignalFilters, params: PageParams
) -> Page:
    """One page of the signals ``user`` may see (newest first by default)."""
    statement = _filtered(_visible_to(user), filters)
    return await paginate(session, statement, params, sortable=_SORTABLE, default_sort="created_at")


async def pending_verification(session: AsyncSession, user: User, params: PageParams) -> Page:
    """The pending signals waiting for ``user``: those they hold, and for an admin those the
    moderators hold. Soonest deadline first by default."""
    mine = SosSignal.holder_id == user.id
    if user.is_admin:
        mine = or_(mine, SosSignal.current_level == SosLevel.MODERATORS)
    statement = select(SosSignal).where(SosSignal.status == SosStatus.PENDING, mine)
    if params.sort_by is None:
        params = PageParams(
            page=params.page, per_page=params.per_page, sort_by="deadline_at", sort_order="asc"
        )
    return await paginate(
        session, statement, params, sortable=_SORTABLE, default_sort="deadline_at"
    )


async def escalations_of(session: AsyncSession, signal: SosSignal) -> list[SosEscalation]:
    """The trail of ``signal``, oldest step first."""
    rows = await session.scalars(
        select(SosEscalation)
        .where(SosEscalation.signal_id == signal.id)
        .order_by(SosEscalation.step)
    )
    return list(rows.all())


async def admin_ids(session: AsyncSession) -> list[uuid.UUID]:
    """The ids of every admin whose account stands (the moderators)."""
    rows = await session.scalars(
        select(User.id).where(User.is_admin.is_(True), User.deleted_at.is_(None))
    )
    return list(rows.all())


async def overdue_ids(session: AsyncSession, now: datetime, *, limit: int) -> list[uuid.UUID]:
    """Up to ``limit`` ids of signals due by ``now``, soonest first, their rows locked
    ``SKIP LOCKED`` (another sweep's or a request's rows are left alone)."""
    rows = await session.scalars(
        select(SosSignal.id)
        .where(SosSignal.deadline_at <= now)
        .order_by(SosSignal.deadline_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(rows.all())


async def signals_by_ids(session: AsyncSession, ids: list[uuid.UUID]) -> list[SosSignal]:
    """The signals ``ids`` re-read (not taken from the identity map), soonest deadline first."""
    rows = await session.scalars(
        select(SosSignal)
        .where(SosSignal.id.in_(ids))
        .order_by(SosSignal.deadline_at)
        .execution_options(populate_existing=True)
    )
    return list(rows.all())
