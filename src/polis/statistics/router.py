"""HTTP for statistics: platform, territory, ateuli, member. Cached 5 minutes with ETag (§4)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request, Response

from polis.auth.deps import AuthenticatedUser
from polis.gamification.schemas import TerritoryRefOut
from polis.kit.cache import cached_answer
from polis.kit.deps import DbSession
from polis.kit.envelope import Envelope
from polis.kit.errors import ErrorCode
from polis.kit.routing import DomainRouter, errors
from polis.statistics import service
from polis.statistics.schemas import (
    AteuliStatisticsOut,
    GrowthOut,
    LevelCountsOut,
    PlatformStatisticsOut,
    SeatOut,
    TerritoryStatisticsOut,
    UnitsOut,
    UserStatisticsOut,
)
from polis.units.models import UnitLevel

router = DomainRouter(prefix="/statistics", tags=["statistics"])

CACHE_NAMESPACE = "statistics"
TTL = 5 * 60


async def _cached(
    request: Request, key: str, produce: Callable[[], Awaitable[Any]], *, private: bool = False
) -> Response:
    return await cached_answer(request, CACHE_NAMESPACE, key, TTL, produce, private=private)


def _units(units: dict[UnitLevel, service.LevelCounts]) -> UnitsOut:
    return UnitsOut(
        **{
            level.value: LevelCountsOut(
                total=c.total, active=c.active, forming=c.forming, inactive=c.inactive
            )
            for level, c in units.items()
        }
    )


def _growth(growth: service.Growth) -> GrowthOut:
    return GrowthOut(daily=growth.daily, weekly=growth.weekly, monthly=growth.monthly)


@router.get(
    "/platform",
    response_model=Envelope[PlatformStatisticsOut],
    summary="Members, units and growth of the whole platform",
    description="Cached 5 minutes; ETag and 304.",
)
async def platform(request: Request, _: AuthenticatedUser, session: DbSession) -> Response:
    async def produce() -> PlatformStatisticsOut:
        stats = await service.platform(session)
        return PlatformStatisticsOut(
            users=stats.users,
            verified=stats.verified,
            geders=stats.geders,
            supporters=stats.supporters,
            active=stats.active,
            passive=stats.passive,
            units=_units(stats.units),
            open_elections=stats.open_elections,
            pending_sos=stats.pending_sos,
            active_initiatives=stats.active_initiatives,
            registrations=_growth(stats.registrations),
            verified_growth=_growth(stats.verified_growth),
        )

    return await _cached(request, "platform", produce)


@router.get(
    "/territory/{territory_id}",
    response_model=Envelope[TerritoryStatisticsOut],
    summary="Members, units and growth of a territory (and everything below it)",
    description="404/4001 for an unknown territory. Cached 5 minutes; ETag and 304.",
)
@errors(ErrorCode.NOT_FOUND)
async def territory(
    request: Request, territory_id: uuid.UUID, _: AuthenticatedUser, session: DbSession
) -> Response:
    async def produce() -> TerritoryStatisticsOut:
        stats = await service.territory(session, territory_id)
        place = stats.territory
        return TerritoryStatisticsOut(
            territory=TerritoryRefOut(
                id=place.id,
                type=place.type,
                code=place.code,
                name_ka=place.name_ka,
                name_en=place.name_en,
            ),
            members=stats.members,
            geders=stats.geders,
            supporters=stats.supporters,
            active=stats.active,
            passive=stats.passive,
            units=_units(stats.units),
            members_in_ateulis=stats.members_in_ateulis,
            verified_growth=_growth(stats.verified_growth),
        )

    # A NotFound raised inside produce is not cached: get_or_set stores only what it returns.
    return await _cached(request, f"territory:{territory_id}", produce)


@router.get(
    "/ateuli/{ateuli_id}",
    response_model=Envelope[AteuliStatisticsOut],
    summary="An ateuli's members, turnover and the levels above it",
    description="404/4001 for an unknown ateuli. Cached 5 minutes; ETag and 304.",
)
@errors(ErrorCode.NOT_FOUND)
async def ateuli(
    request: Request, ateuli_id: uuid.UUID, _: AuthenticatedUser, session: DbSession
) -> Response:
    async def produce() -> AteuliStatisticsOut:
        stats = await service.ateuli(session, ateuli_id)
        unit = stats.unit
        return AteuliStatisticsOut(
            id=unit.id,
            name=unit.name,
            status=unit.status,
            territory_id=unit.territory_id,
            member_count=unit.member_count,
            capacity=stats.capacity,
            led=stats.led,
            geders=stats.geders,
            supporters=stats.supporters,
            active=stats.active,
            passive=stats.passive,
            joined_30d=stats.joined_30d,
            left_30d=stats.left_30d,
            ever_members=stats.ever_members,
            levels_above=stats.parent_levels,
            activated_at=unit.activated_at,
            created_at=unit.created_at,
        )

    return await _cached(request, f"ateuli:{ateuli_id}", produce)


@router.get(
    "/user/{user_id}",
    response_model=Envelope[UserStatisticsOut],
    summary="A member's public facts: role, status, memberships, seats, achievements",
    description="Never a phone number or personal ID. 404/4001 for an unknown or deleted "
    "member. Cached 5 minutes, privately; ETag and 304.",
)
@errors(ErrorCode.NOT_FOUND)
async def user(
    request: Request, user_id: uuid.UUID, _: AuthenticatedUser, session: DbSession
) -> Response:
    async def produce() -> UserStatisticsOut:
        stats = await service.user(session, user_id)
        member = stats.user
        return UserStatisticsOut(
            id=member.id,
            display_name=member.display_name,
            role=member.role,
            status=member.status,
            verified=member.is_verified,
            member_since=member.onboarded_at,
            ateuli_id=stats.ateuli_id,
            ateuli_name=stats.ateuli_name,
            ateulis_joined=stats.ateulis_joined,
            seats=[
                SeatOut(unit_id=s.unit_id, unit_name=s.unit_name, level=s.level, since=s.since)
                for s in stats.seats
            ],
            terms_served=stats.terms_served,
            achievements=stats.achievements,
        )

    return await _cached(request, f"user:{user_id}", produce, private=True)
