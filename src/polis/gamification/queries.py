"""Reading what gamification counts: verified members, a member's chain of units, the
achievements held, the leaderboard.

The rules that build on these reads (progress, capabilities, awarding milestones) live in
service.py; the router shapes the answers.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from polis.gamification.models import Achievement
from polis.kit import clock
from polis.kit.errors import ErrorCode, ValidationFailed
from polis.kit.pagination import PageParams
from polis.territories.models import Territory, TerritoryType
from polis.units import hierarchy
from polis.units.models import LeadershipTerm, Unit, UnitLevel, UnitMembership
from polis.users.models import User, UserRole

GROWTH_WINDOW = timedelta(days=30)


def verified_member() -> ColumnElement[bool]:
    """Verified members (§3.1): onboarded, not unverified, not deleted."""
    return and_(
        User.deleted_at.is_(None),
        User.onboarded_at.is_not(None),
        User.role != UserRole.UNVERIFIED,
    )


def is_led() -> ColumnElement[bool]:
    """The unit of the statement has a leader now."""
    return exists().where(LeadershipTerm.unit_id == Unit.id, LeadershipTerm.ended_at.is_(None))


async def led_ids(session: AsyncSession, unit_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Which of ``unit_ids`` have a leader now."""
    if not unit_ids:
        return set()
    rows = await session.scalars(
        select(LeadershipTerm.unit_id).where(
            LeadershipTerm.unit_id.in_(unit_ids), LeadershipTerm.ended_at.is_(None)
        )
    )
    return set(rows.all())


# --- the member's chain ---------------------------------------------------------------------


@dataclass(frozen=True)
class ChainLink:
    unit: Unit
    led: bool


async def chain_of(session: AsyncSession, user: User) -> list[ChainLink]:
    """The member's ateuli and every unit above it, bottom up, each with "is it led"."""
    membership = await session.scalar(
        select(UnitMembership).where(
            UnitMembership.user_id == user.id, UnitMembership.left_at.is_(None)
        )
    )
    if membership is None:
        return []
    units: list[Unit] = []
    next_id: uuid.UUID | None = membership.unit_id
    while next_id is not None and len(units) < len(UnitLevel):
        unit = await session.get(Unit, next_id)
        if unit is None:
            break
        units.append(unit)
        next_id = unit.parent_id
    led = await led_ids(session, [unit.id for unit in units])
    return [ChainLink(unit, unit.id in led) for unit in units]


# --- achievements held ----------------------------------------------------------------------


async def achievements_of(session: AsyncSession, user_id: uuid.UUID) -> dict[str, datetime]:
    """The member's achievements: code → when it was awarded."""
    rows = await session.execute(
        select(Achievement.code, Achievement.awarded_at).where(Achievement.user_id == user_id)
    )
    return {code: awarded_at for code, awarded_at in rows}


async def achievement_count(session: AsyncSession, user_id: uuid.UUID) -> int:
    """How many achievements the member holds."""
    count = await session.scalar(
        select(func.count()).select_from(Achievement).where(Achievement.user_id == user_id)
    )
    return int(count or 0)


# --- leaderboard ----------------------------------------------------------------------------

LEADERBOARD_SORTS = ("members", "growth_30d")


@dataclass(frozen=True)
class LeaderboardRow:
    rank: int
    territory: Territory
    members: int
    growth_30d: int


async def leaderboard(
    session: AsyncSession, params: PageParams, *, type_: TerritoryType | None = None
) -> tuple[list[LeaderboardRow], int]:
    """Territories ranked by verified members (living there or below) or by 30-day growth
    (verified members whose onboarding completed in the last 30 days by the clock seam).

    Ties are broken by code, so ranks are stable. The map is a few hundred rows: counts per
    territory come from one grouped query and are rolled up the tree in memory.
    """
    sort = params.sort_by or "members"
    if sort not in LEADERBOARD_SORTS:
        raise ValidationFailed(
            f"sort_by must be one of: {', '.join(LEADERBOARD_SORTS)}",
            error=ErrorCode.BAD_FORMAT,
            details={"field": "sort_by", "allowed": list(LEADERBOARD_SORTS)},
        )
    since = clock.now() - GROWTH_WINDOW
    rows = await session.execute(
        select(
            User.territory_id,
            func.count(),
            func.count().filter(User.onboarded_at >= since),
        )
        .where(verified_member(), User.territory_id.is_not(None))
        .group_by(User.territory_id)
    )
    counted = [(tid, int(a), int(b)) for tid, a, b in rows if tid is not None]
    places = await hierarchy.territory_map(session)
    members: dict[uuid.UUID, int] = dict.fromkeys(places, 0)
    growth: dict[uuid.UUID, int] = dict.fromkeys(places, 0)
    for territory_id, total, recent in counted:
        # Each member counts in their own territory and every one above it.
        for tid in hierarchy.ancestors(places, territory_id):
            if tid in members:
                members[tid] += total
                growth[tid] += recent
    statement = select(Territory)
    if type_ is not None:
        statement = statement.where(Territory.type == type_)
    territories = list((await session.scalars(statement)).all())
    score = members if sort == "members" else growth
    sign = -1 if params.sort_order == "desc" else 1
    territories.sort(key=lambda t: (sign * score[t.id], t.code))
    ranked = [
        LeaderboardRow(rank, t, members[t.id], growth[t.id])
        for rank, t in enumerate(territories, start=1)
    ]
    return ranked[params.offset : params.offset + params.per_page], len(ranked)
