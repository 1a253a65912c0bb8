"""Reading units: one unit, memberships and terms, the listings, the overview and a member's
position in the hierarchy (DESIGN.md §3.3). No writes.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from polis.kit.errors import NotFound
from polis.kit.pagination import Page, PageParams, paginate
from polis.territories import service as territories
from polis.units.models import (
    ATEULI_SORTABLE,
    MAX_UNIT_SIZE,
    LeadershipTerm,
    Unit,
    UnitLevel,
    UnitMembership,
    UnitStatus,
)
from polis.users.models import User

ATEULI_SIZE = MAX_UNIT_SIZE
NO_ATEULI = "No such ateuli."


async def get_unit(session: AsyncSession, unit_id: uuid.UUID, level: UnitLevel) -> Unit:
    """The unit ``unit_id`` of ``level``, or 404 (a unit of another level is not found here)."""
    unit = await session.scalar(select(Unit).where(Unit.id == unit_id, Unit.level == level))
    if unit is None:
        raise NotFound(NO_ATEULI if level is UnitLevel.ATEULI else "No such unit.")
    return unit


async def open_membership(session: AsyncSession, user_id: uuid.UUID) -> UnitMembership | None:
    """The member's open membership (in their ateuli), if any."""
    return await session.scalar(
        select(UnitMembership).where(
            UnitMembership.user_id == user_id, UnitMembership.left_at.is_(None)
        )
    )


async def open_term(session: AsyncSession, unit_id: uuid.UUID) -> LeadershipTerm | None:
    """The sitting leader's term of ``unit_id``, if the seat is filled."""
    return await session.scalar(
        select(LeadershipTerm).where(
            LeadershipTerm.unit_id == unit_id, LeadershipTerm.ended_at.is_(None)
        )
    )


async def leaders_of(
    session: AsyncSession, unit_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, tuple[User, LeadershipTerm]]:
    """The sitting leader and term of each of ``unit_ids`` that has one (one query)."""
    if not unit_ids:
        return {}
    rows = await session.execute(
        select(LeadershipTerm, User)
        .join(User, User.id == LeadershipTerm.user_id)
        .where(LeadershipTerm.unit_id.in_(unit_ids), LeadershipTerm.ended_at.is_(None))
    )
    return {term.unit_id: (user, term) for term, user in rows}


async def open_terms_of(session: AsyncSession, user_id: uuid.UUID) -> list[LeadershipTerm]:
    """Every seat ``user_id`` holds now, lowest level first."""
    terms = await session.scalars(
        select(LeadershipTerm)
        .where(LeadershipTerm.user_id == user_id, LeadershipTerm.ended_at.is_(None))
        .order_by(LeadershipTerm.started_at, LeadershipTerm.id)
    )
    return list(terms.all())


async def is_leader(session: AsyncSession, user_id: uuid.UUID) -> bool:
    """True when ``user_id`` holds an open leadership term of any unit."""
    found = await session.scalar(
        select(LeadershipTerm.id)
        .where(LeadershipTerm.user_id == user_id, LeadershipTerm.ended_at.is_(None))
        .limit(1)
    )
    return found is not None


async def count_open_members(session: AsyncSession, unit_id: uuid.UUID) -> int:
    """The real number of open memberships of ``unit_id``."""
    count = await session.scalar(
        select(func.count())
        .select_from(UnitMembership)
        .where(UnitMembership.unit_id == unit_id, UnitMembership.left_at.is_(None))
    )
    return int(count or 0)


@dataclass(frozen=True)
class AteuliFilters:
    territory_id: uuid.UUID | None = None
    status: UnitStatus | None = None
    # True: only ateulis a member could join now (not full, not inactive); False: the others.
    has_space: bool | None = None


async def list_ateulis(session: AsyncSession, filters: AteuliFilters, params: PageParams) -> Page:
    """One page of ateulis matching ``filters`` (newest first by default)."""
    statement = select(Unit).where(Unit.level == UnitLevel.ATEULI)
    if filters.territory_id is not None:
        statement = statement.where(Unit.territory_id == filters.territory_id)
    if filters.status is not None:
        statement = statement.where(Unit.status == filters.status)
    if filters.has_space is not None:
        open_seat = (Unit.member_count < ATEULI_SIZE) & (Unit.status != UnitStatus.INACTIVE)
        statement = statement.where(open_seat if filters.has_space else ~open_seat)
    return await paginate(
        session,
        statement,
        params,
        sortable=ATEULI_SORTABLE,
        default_sort="created_at",
    )


async def members_of(session: AsyncSession, unit: Unit, params: PageParams) -> Page:
    """One page of the ateuli's current members, in the order they joined by default."""
    statement = (
        select(User)
        .join(UnitMembership, UnitMembership.user_id == User.id)
        .where(UnitMembership.unit_id == unit.id, UnitMembership.left_at.is_(None))
    )
    return await paginate(
        session,
        statement,
        params,
        sortable={"joined_at": UnitMembership.joined_at},
        default_sort="joined_at",
    )


async def list_units(
    session: AsyncSession,
    level: UnitLevel,
    params: PageParams,
    *,
    territory_id: uuid.UUID | None = None,
    status: UnitStatus | None = None,
) -> Page:
    """One page of units of ``level``; ``territory_id`` matches it and its descendants."""
    statement = select(Unit).where(Unit.level == level)
    if territory_id is not None:
        tree = territories.subtree([territory_id])
        statement = statement.where(Unit.territory_id.in_(select(tree.c.id)))
    if status is not None:
        statement = statement.where(Unit.status == status)
    return await paginate(
        session,
        statement,
        params,
        sortable={"created_at": Unit.created_at, "name": Unit.name},
        default_sort="created_at",
    )


@dataclass(frozen=True)
class LevelCount:
    level: UnitLevel
    by_status: dict[UnitStatus, int]
    led: int


async def overview(session: AsyncSession) -> tuple[list[LevelCount], int, int]:
    """Totals per level (by status, and how many are led), members in ateulis, satatbiro size."""
    rows = await session.execute(
        select(Unit.level, Unit.status, func.count()).group_by(Unit.level, Unit.status)
    )
    counts: dict[UnitLevel, dict[UnitStatus, int]] = {level: {} for level in UnitLevel}
    for level, status, count in rows:
        counts[level][status] = int(count)
    led_rows = await session.execute(
        select(Unit.level, func.count())
        .join(LeadershipTerm, LeadershipTerm.unit_id == Unit.id)
        .where(LeadershipTerm.ended_at.is_(None))
        .group_by(Unit.level)
    )
    led = {level: int(count) for level, count in led_rows}
    members = await session.scalar(
        select(func.count()).select_from(UnitMembership).where(UnitMembership.left_at.is_(None))
    )
    levels = [LevelCount(level, counts[level], led.get(level, 0)) for level in UnitLevel]
    return levels, int(members or 0), led.get(UnitLevel.ATASEULI, 0)


async def satatbiro(session: AsyncSession) -> list[tuple[User, LeadershipTerm, Unit]]:
    """Every sitting atasistavi with their ataseuli, longest-serving first."""
    rows = await session.execute(
        select(User, LeadershipTerm, Unit)
        .join(LeadershipTerm, LeadershipTerm.user_id == User.id)
        .join(Unit, Unit.id == LeadershipTerm.unit_id)
        .where(Unit.level == UnitLevel.ATASEULI, LeadershipTerm.ended_at.is_(None))
        .order_by(LeadershipTerm.started_at, LeadershipTerm.id)
    )
    return list(rows)


async def path_up(session: AsyncSession, unit: Unit) -> list[Unit]:
    """``unit`` and every unit above it, bottom up."""
    path = [unit]
    while path[-1].parent_id is not None and len(path) < len(UnitLevel):
        parent = await session.get(Unit, path[-1].parent_id)
        if parent is None:
            break
        path.append(parent)
    return path


@dataclass(frozen=True)
class Position:
    seats: list[tuple[LeadershipTerm, Unit]]
    ateuli: Unit | None
    path: list[Unit]


async def my_position(session: AsyncSession, user: User) -> Position:
    """The seats ``user`` holds, their ateuli and the path from it to the top."""
    rows = await session.execute(
        select(LeadershipTerm, Unit)
        .join(Unit, Unit.id == LeadershipTerm.unit_id)
        .where(LeadershipTerm.user_id == user.id, LeadershipTerm.ended_at.is_(None))
        .order_by(LeadershipTerm.started_at, LeadershipTerm.id)
    )
    seats = [(term, unit) for term, unit in rows]
    membership = await open_membership(session, user.id)
    ateuli = await session.get(Unit, membership.unit_id) if membership else None
    return Position(
        seats=seats, ateuli=ateuli, path=await path_up(session, ateuli) if ateuli else []
    )
