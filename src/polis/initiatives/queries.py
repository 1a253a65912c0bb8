"""Reading initiatives: one initiative, the lists, supporters, scopes and the chain above them,
and what the answer-deadline sweep finds due (DESIGN.md §3.6). No writes.

Every read that a request or a rule makes of initiatives goes through here; the rules
(service.py, handover.py) change them, the router shapes them (presenters.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Float, cast, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from polis.initiatives.models import (
    Initiative,
    InitiativeCategory,
    InitiativeScope,
    InitiativeStatus,
    InitiativeSupport,
)
from polis.kit.db import get_or_404
from polis.kit.errors import NotFound
from polis.kit.pagination import Page, PageParams, paginate
from polis.units.models import LeadershipTerm, Unit
from polis.units.queries import open_membership, path_up
from polis.users.models import User

NO_INITIATIVE = "No such initiative."


# --- one initiative -------------------------------------------------------------------------


async def get_initiative(
    session: AsyncSession, initiative_id: uuid.UUID, *, lock: bool = False
) -> Initiative:
    """The initiative ``initiative_id`` (locked and re-read with ``lock``), or 404."""
    return await get_or_404(session, Initiative, initiative_id, lock=lock, missing=NO_INITIATIVE)


async def visible_initiative(
    session: AsyncSession, user: User, initiative_id: uuid.UUID
) -> Initiative:
    """The initiative, unless it is someone else's draft (then 404: drafts are private)."""
    initiative = await get_initiative(session, initiative_id)
    if initiative.status is InitiativeStatus.DRAFT and initiative.creator_id != user.id:
        raise NotFound(NO_INITIATIVE)
    return initiative


async def units(session: AsyncSession, ids: Iterable[uuid.UUID | None]) -> dict[uuid.UUID, Unit]:
    """The units ``ids``, by id (one query), for naming scopes."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = await session.scalars(select(Unit).where(Unit.id.in_(wanted)))
    return {u.id: u for u in rows.all()}


# --- supports -------------------------------------------------------------------------------


async def supported_by(
    session: AsyncSession, user_id: uuid.UUID, initiative_ids: Sequence[uuid.UUID]
) -> set[uuid.UUID]:
    """Which of ``initiative_ids`` ``user_id`` supports now (one query)."""
    if not initiative_ids:
        return set()
    rows = await session.scalars(
        select(InitiativeSupport.initiative_id).where(
            InitiativeSupport.user_id == user_id,
            InitiativeSupport.initiative_id.in_(initiative_ids),
        )
    )
    return set(rows.all())


async def has_supported(
    session: AsyncSession, initiative_id: uuid.UUID, user_id: uuid.UUID
) -> bool:
    """Whether ``user_id`` supports ``initiative_id`` now."""
    found = await session.scalar(
        select(InitiativeSupport.id).where(
            InitiativeSupport.initiative_id == initiative_id, InitiativeSupport.user_id == user_id
        )
    )
    return found is not None


async def supporter_ids(session: AsyncSession, initiative_id: uuid.UUID) -> list[uuid.UUID]:
    """Every member who supports ``initiative_id`` now, public or not (one query)."""
    rows = await session.scalars(
        select(InitiativeSupport.user_id)
        .where(InitiativeSupport.initiative_id == initiative_id)
        .order_by(InitiativeSupport.user_id)
    )
    return list(rows.all())


async def support_count(session: AsyncSession, initiative_id: uuid.UUID) -> int:
    """How many supports ``initiative_id`` has, counted from the rows."""
    count = await session.scalar(
        select(func.count())
        .select_from(InitiativeSupport)
        .where(InitiativeSupport.initiative_id == initiative_id)
    )
    return int(count or 0)


# --- the lists ------------------------------------------------------------------------------


@dataclass(frozen=True)
class InitiativeFilters:
    category: InitiativeCategory | None = None
    status: InitiativeStatus | None = None
    scope_type: InitiativeScope | None = None
    scope_id: uuid.UUID | None = None
    search: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None


SORTABLE: dict[str, Any] = {
    "created_at": Initiative.created_at,
    "current_support": Initiative.current_support,
    "target_support": Initiative.target_support,
    "progress": cast(Initiative.current_support, Float) / Initiative.target_support,
    "answer_due_at": Initiative.answer_due_at,
    "title": Initiative.title,
}


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def list_initiatives(
    session: AsyncSession,
    user: User,
    filters: InitiativeFilters,
    params: PageParams,
    *,
    creator_id: uuid.UUID | None = None,
    assignee_id: uuid.UUID | None = None,
) -> Page:
    """One page of the initiatives ``user`` may see (every one but others' drafts), newest
    first by default. ``search`` matches title or description, case-insensitive (ILIKE: the
    embedded PostgreSQL has no pg_trgm)."""
    statement = select(Initiative).where(
        or_(Initiative.status != InitiativeStatus.DRAFT, Initiative.creator_id == user.id)
    )
    if creator_id is not None:
        statement = statement.where(Initiative.creator_id == creator_id)
    if assignee_id is not None:
        statement = statement.where(Initiative.assignee_id == assignee_id)
    if filters.category is not None:
        statement = statement.where(Initiative.category == filters.category)
    if filters.status is not None:
        statement = statement.where(Initiative.status == filters.status)
    if filters.scope_type is not None:
        statement = statement.where(Initiative.scope_type == filters.scope_type)
    if filters.scope_id is not None:
        statement = statement.where(Initiative.scope_id == filters.scope_id)
    if filters.created_after is not None:
        statement = statement.where(Initiative.created_at >= filters.created_after)
    if filters.created_before is not None:
        statement = statement.where(Initiative.created_at < filters.created_before)
    if filters.search and filters.search.strip():
        pattern = f"%{_escape_like(filters.search.strip())}%"
        statement = statement.where(
            or_(
                Initiative.title.ilike(pattern, escape="\\"),
                Initiative.description.ilike(pattern, escape="\\"),
            )
        )
    return await paginate(session, statement, params, sortable=SORTABLE, default_sort="created_at")


async def supporters(
    session: AsyncSession, user: User, initiative_id: uuid.UUID, params: PageParams
) -> Page:
    """One page of the supports whose members chose to be shown, oldest first by default.
    The count of all supports is ``current_support`` on the initiative."""
    initiative = await visible_initiative(session, user, initiative_id)
    statement = select(InitiativeSupport).where(
        InitiativeSupport.initiative_id == initiative.id, InitiativeSupport.public.is_(True)
    )
    return await paginate(
        session,
        statement,
        params if params.sort_by else PageParams(params.page, params.per_page, None, "asc"),
        sortable={"created_at": InitiativeSupport.created_at},
        default_sort="created_at",
    )


# --- scopes and the chain above them --------------------------------------------------------


async def chain_of(session: AsyncSession, user_id: uuid.UUID) -> list[Unit]:
    """The member's ateuli and every unit above it, bottom up ([] outside any ateuli)."""
    membership = await open_membership(session, user_id)
    if membership is None:
        return []
    ateuli = await session.get(Unit, membership.unit_id)
    return await path_up(session, ateuli) if ateuli is not None else []


async def scope_path(session: AsyncSession, initiative: Initiative) -> list[Unit]:
    """The scope's unit and every unit above it, bottom up ([] for national)."""
    if initiative.scope_id is None:
        return []
    unit = await session.get(Unit, initiative.scope_id)
    return await path_up(session, unit) if unit is not None else []


async def led_unit_ids(session: AsyncSession, user_id: uuid.UUID) -> set[uuid.UUID]:
    """The units ``user_id`` leads now."""
    rows = await session.scalars(
        select(LeadershipTerm.unit_id).where(
            LeadershipTerm.user_id == user_id, LeadershipTerm.ended_at.is_(None)
        )
    )
    return set(rows.all())


async def admins(session: AsyncSession) -> list[User]:
    """Every admin whose account stands, longest-standing first (deterministic, and easy to
    explain to the admins)."""
    rows = await session.scalars(
        select(User)
        .where(User.is_admin.is_(True), User.deleted_at.is_(None))
        .order_by(User.created_at, User.id)
    )
    return list(rows.all())


# --- what the sweep finds due ---------------------------------------------------------------


async def due_ids(session: AsyncSession, now: datetime, batch_size: int) -> list[uuid.UUID]:
    """Lock and read the ids of one batch: assigned past the deadline, or achieved with no one
    to answer. Rows another run holds are skipped. The ids are read first and the rows then
    loaded by id (never ``… WHERE id IN (SELECT … LIMIT n FOR UPDATE SKIP LOCKED)``, whose
    subquery PostgreSQL may run more than once)."""
    rows = await session.scalars(
        select(Initiative.id)
        .where(
            or_(
                (Initiative.status == InitiativeStatus.ASSIGNED)
                & (Initiative.answer_due_at <= now),
                (Initiative.status == InitiativeStatus.ACHIEVED) & Initiative.assignee_id.is_(None),
            )
        )
        .order_by(Initiative.answer_due_at.nulls_first(), Initiative.id)
        .limit(batch_size)
        .with_for_update(skip_locked=True)
    )
    return list(rows.all())


async def initiatives_by_ids(session: AsyncSession, ids: Sequence[uuid.UUID]) -> list[Initiative]:
    """The initiatives ``ids`` re-read (not taken from the identity map), by id."""
    rows = await session.scalars(
        select(Initiative)
        .where(Initiative.id.in_(ids))
        .order_by(Initiative.id)
        .execution_options(populate_existing=True)
    )
    return list(rows.all())
