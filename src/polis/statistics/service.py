"""Statistics: counts for the platform, a territory, an ateuli and a member (issue 4, item 7).

Read-only; every number is counted from the tables of the domains that own them. Domains not
built yet (SOS, initiatives) count 0, with the place the number will come from.
Definitions: docs/gamification.md (Statistics).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from polis.elections import queries as elections
from polis.gamification.queries import achievement_count, verified_member
from polis.kit import clock
from polis.kit.db import get_or_404
from polis.kit.errors import NotFound
from polis.territories.models import Territory
from polis.territories.service import statistics as territory_statistics
from polis.units import hierarchy
from polis.units.models import (
    MAX_UNIT_SIZE,
    LeadershipTerm,
    Unit,
    UnitLevel,
    UnitMembership,
    UnitStatus,
)
from polis.users.models import MemberStatus, User, UserRole
from polis.users.service import get_member

WINDOWS: dict[str, timedelta] = {
    "daily": timedelta(days=1),
    "weekly": timedelta(days=7),
    "monthly": timedelta(days=30),
}


@dataclass(frozen=True)
class Growth:
    daily: int
    weekly: int
    monthly: int


@dataclass(frozen=True)
class LevelCounts:
    total: int
    active: int
    forming: int
    inactive: int


@dataclass(frozen=True)
class PlatformStatistics:
    users: int
    verified: int
    geders: int
    supporters: int
    active: int
    passive: int
    units: dict[UnitLevel, LevelCounts]
    open_elections: int
    pending_sos: int
    active_initiatives: int
    registrations: Growth
    verified_growth: Growth


async def _units_per_level(
    session: AsyncSession, territory_ids: set[uuid.UUID] | None = None
) -> dict[UnitLevel, LevelCounts]:
    statement = select(Unit.level, Unit.status, func.count()).group_by(Unit.level, Unit.status)
    if territory_ids is not None:
        statement = statement.where(Unit.territory_id.in_(territory_ids))
    counts: dict[UnitLevel, dict[UnitStatus, int]] = {level: {} for level in UnitLevel}
    for level, status, count in await session.execute(statement):
        counts[level][status] = int(count)
    return {
        level: LevelCounts(
            total=sum(by_status.values()),
            active=by_status.get(UnitStatus.ACTIVE, 0),
            forming=by_status.get(UnitStatus.FORMING, 0),
            inactive=by_status.get(UnitStatus.INACTIVE, 0),
        )
        for level, by_status in counts.items()
    }


async def platform(session: AsyncSession) -> PlatformStatistics:
    """Counts for the whole platform; growth windows end at ``clock.now()``.

    ``users``: accounts not deleted. ``verified``, ``geders``, ``supporters``, ``active``,
    ``passive``: verified members (onboarded, not unverified, not deleted). Growth:
    ``registrations`` by account creation, ``verified_growth`` by completed onboarding of
    members verified now, over the last 1, 7 and 30 days.
    """
    now = clock.now()
    since = {name: now - window for name, window in WINDOWS.items()}
    live = User.deleted_at.is_(None)
    users_row = (
        await session.execute(
            select(
                func.count(),
                *(func.count().filter(User.created_at >= since[name]) for name in WINDOWS),
            ).where(live)
        )
    ).one()
    verified_row = (
        await session.execute(
            select(
                func.count(),
                func.count().filter(User.role == UserRole.GEDER),
                func.count().filter(User.role == UserRole.SUPPORTER),
                func.count().filter(User.status == MemberStatus.ACTIVE),
                func.count().filter(User.status == MemberStatus.PASSIVE),
                *(func.count().filter(User.onboarded_at >= since[name]) for name in WINDOWS),
            ).where(verified_member())
        )
    ).one()
    return PlatformStatistics(
        users=int(users_row[0]),
        verified=int(verified_row[0]),
        geders=int(verified_row[1]),
        supporters=int(verified_row[2]),
        active=int(verified_row[3]),
        passive=int(verified_row[4]),
        units=await _units_per_level(session),
        # Elections whose voting window is open now (by the clock).
        open_elections=await elections.count_voting(session),
        # SOS (issue: SOS): reports waiting for verification.
        pending_sos=0,
        # Initiatives (issue: initiatives): initiatives collecting support or assigned.
        active_initiatives=0,
        registrations=Growth(*(int(v) for v in users_row[1:4])),
        verified_growth=Growth(*(int(v) for v in verified_row[5:8])),
    )


@dataclass(frozen=True)
class TerritoryStats:
    territory: Territory
    members: int
    geders: int
    supporters: int
    active: int
    passive: int
    units: dict[UnitLevel, LevelCounts]
    members_in_ateulis: int
    verified_growth: Growth


async def territory(session: AsyncSession, territory_id: uuid.UUID) -> TerritoryStats:
    """Verified members (living in the territory or below), units located there or below,
    members of those ateulis, and verified growth. 404/4001 when unknown."""
    place = await get_or_404(session, Territory, territory_id, missing="No such territory.")
    base = await territory_statistics(session, place)
    places = await hierarchy.territory_map(session)
    within = {tid for tid in places if territory_id in hierarchy.ancestors(places, tid)}
    now = clock.now()
    growth_row = (
        await session.execute(
            select(
                *(
                    func.count().filter(User.onboarded_at >= now - window)
                    for window in WINDOWS.values()
                )
            ).where(verified_member(), User.territory_id.in_(within))
        )
    ).one()
    in_ateulis = await session.scalar(
        select(func.count())
        .select_from(UnitMembership)
        .join(Unit, Unit.id == UnitMembership.unit_id)
        .where(UnitMembership.left_at.is_(None), Unit.territory_id.in_(within))
    )
    return TerritoryStats(
        territory=place,
        members=base.members,
        geders=base.geders,
        supporters=base.supporters,
        active=base.active,
        passive=base.passive,
        units=await _units_per_level(session, within),
        members_in_ateulis=int(in_ateulis or 0),
        verified_growth=Growth(*(int(v) for v in growth_row)),
    )


@dataclass(frozen=True)
class AteuliStats:
    unit: Unit
    capacity: int
    led: bool
    geders: int
    supporters: int
    active: int
    passive: int
    joined_30d: int
    left_30d: int
    ever_members: int
    parent_levels: list[UnitLevel]


async def ateuli(session: AsyncSession, unit_id: uuid.UUID) -> AteuliStats:
    """An ateuli's members by role and status, its turnover over 30 days and the levels above
    it. 404/4001 when there is no ateuli with this id."""
    unit = await session.scalar(
        select(Unit).where(Unit.id == unit_id, Unit.level == UnitLevel.ATEULI)
    )
    if unit is None:
        raise NotFound("No such ateuli.")
    since = clock.now() - WINDOWS["monthly"]
    open_member = UnitMembership.left_at.is_(None)
    row = (
        await session.execute(
            select(
                func.count().filter(open_member, User.role == UserRole.GEDER),
                func.count().filter(open_member, User.role == UserRole.SUPPORTER),
                func.count().filter(open_member, User.status == MemberStatus.ACTIVE),
                func.count().filter(open_member, User.status == MemberStatus.PASSIVE),
                func.count().filter(UnitMembership.joined_at >= since),
                func.count().filter(UnitMembership.left_at >= since),
                func.count(func.distinct(UnitMembership.user_id)),
            )
            .select_from(UnitMembership)
            .join(User, User.id == UnitMembership.user_id)
            .where(UnitMembership.unit_id == unit.id)
        )
    ).one()
    led = await session.scalar(
        select(LeadershipTerm.id)
        .where(LeadershipTerm.unit_id == unit.id, LeadershipTerm.ended_at.is_(None))
        .limit(1)
    )
    levels: list[UnitLevel] = []
    parent_id = unit.parent_id
    while parent_id is not None and len(levels) < len(UnitLevel):
        parent = await session.get(Unit, parent_id)
        if parent is None:
            break
        levels.append(parent.level)
        parent_id = parent.parent_id
    return AteuliStats(
        unit=unit,
        capacity=MAX_UNIT_SIZE,
        led=led is not None,
        geders=int(row[0]),
        supporters=int(row[1]),
        active=int(row[2]),
        passive=int(row[3]),
        joined_30d=int(row[4]),
        left_30d=int(row[5]),
        ever_members=int(row[6]),
        parent_levels=levels,
    )


@dataclass(frozen=True)
class Seat:
    unit_id: uuid.UUID
    unit_name: str
    level: UnitLevel
    since: datetime


@dataclass(frozen=True)
class UserStats:
    user: User
    ateuli_id: uuid.UUID | None
    ateuli_name: str | None
    ateulis_joined: int
    seats: list[Seat]
    terms_served: int
    achievements: int


async def user(session: AsyncSession, user_id: uuid.UUID) -> UserStats:
    """A member's public facts: role, status, memberships, seats held, achievements.

    Never a phone, a personal ID or anything encrypted. A deleted (anonymised) member is 404.
    """
    member = await get_member(session, user_id)
    current = (
        await session.execute(
            select(Unit.id, Unit.name)
            .join(UnitMembership, UnitMembership.unit_id == Unit.id)
            .where(UnitMembership.user_id == user_id, UnitMembership.left_at.is_(None))
        )
    ).first()
    joined = await session.scalar(
        select(func.count(func.distinct(UnitMembership.unit_id))).where(
            UnitMembership.user_id == user_id
        )
    )
    seats = [
        Seat(unit_id=unit.id, unit_name=unit.name, level=unit.level, since=term.started_at)
        for term, unit in await session.execute(
            select(LeadershipTerm, Unit)
            .join(Unit, Unit.id == LeadershipTerm.unit_id)
            .where(LeadershipTerm.user_id == user_id, LeadershipTerm.ended_at.is_(None))
            .order_by(LeadershipTerm.started_at, LeadershipTerm.id)
        )
    ]
    terms = await session.scalar(
        select(func.count()).select_from(LeadershipTerm).where(LeadershipTerm.user_id == user_id)
    )
    return UserStats(
        user=member,
        ateuli_id=current[0] if current else None,
        ateuli_name=current[1] if current else None,
        ateulis_joined=int(joined or 0),
        seats=seats,
        terms_served=int(terms or 0),
        achievements=await achievement_count(session, user_id),
    )
