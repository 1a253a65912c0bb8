"""HTTP for statistics: platform, territory, ateuli, member. Cached 5 minutes with ETag (§4)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request, Response

from polis.auth.deps import AuthenticatedUser
from polis.kit.cache import cached_answer
from polis.kit.deps import DbSession
from polis.kit.envelope import Envelope
from polis.kit.errors import ErrorCode
from polis.kit.presenting import from_row
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
from polis.territories.schemas import TerritoryRefOut
from polis.units.models import UnitLevel

router = DomainRouter(prefix="/statistics", tags=["statistics"])

CACHE_NAMESPACE = "statistics"
TTL = 5 * 60


async def _cached(
    request: Request, key: str, produce: Callable[[], Awaitable[Any]], *, private: bool = False
) -> Response:
    return await cached_answer(request, CACHE_NAMESPACE, key, TTL, produce, private=private)


def _units(units: dict[UnitLevel, service.LevelCounts]) -> UnitsOut:
    return UnitsOut(**{level.value: from_row(LevelCountsOut, c) for level, c in units.items()})


def _growth(growth: service.Growth) -> GrowthOut:
    return from_row(GrowthOut, growth)


# What an ateuli's answer takes from the unit (the rest comes from the statistics).
_ATEULI_FIELDS = (
    "id",
    "name",
    "status",
    "territory_id",
    "member_count",
    "activated_at",
    "created_at",
)


def _attributes(row: object, *names: str) -> dict[str, Any]:
    """``row``'s attributes ``names``: the fields an answer takes from a second row."""
    return {name: getattr(row, name) for name in names}


@router.get(
    "/platform",
    response_model=Envelope[PlatformStatisticsOut],
    summary="Members, units and growth of the whole platform",
    description="Cached 5 minutes; ETag and 304.",
)
async def platform(request: Request, _: AuthenticatedUser, session: DbSession) -> Response:
    async def produce() -> PlatformStatisticsOut:
        stats = await service.platform(session)
        return from_row(
            PlatformStatisticsOut,
            stats,
            units=_units(stats.units),
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
        return from_row(
            TerritoryStatisticsOut,
            stats,
            territory=TerritoryRefOut.of(stats.territory),
            units=_units(stats.units),
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
        return from_row(
            AteuliStatisticsOut,
            stats,
            levels_above=stats.parent_levels,
            **_attributes(stats.unit, *_ATEULI_FIELDS),
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
        return from_row(
            UserStatisticsOut,
            stats,
            verified=member.is_verified,
            member_since=member.onboarded_at,
            seats=[from_row(SeatOut, seat) for seat in stats.seats],
            **_attributes(member, "id", "display_name", "role", "status"),
        )

    return await _cached(request, f"user:{user_id}", produce, private=True)
