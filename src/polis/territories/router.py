"""Territories: the map, its members and statistics, and point lookup (DESIGN.md §3.3)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from polis.auth.deps import AuthenticatedUser
from polis.kit.cache import cached_answer, cached_page_answer
from polis.kit.deps import DbSession, SettingsDep
from polis.kit.envelope import Envelope, ListEnvelope
from polis.kit.errors import ErrorCode, NotFound
from polis.kit.pagination import PageParams, Pagination
from polis.kit.presenting import from_row
from polis.kit.routing import DomainRouter, errors
from polis.territories import service
from polis.territories.models import TerritoryType
from polis.territories.schemas import (
    AteuliSummaryOut,
    TerritoryDetailOut,
    TerritoryListItemOut,
    TerritoryOut,
    TerritoryRefOut,
    TerritoryStatisticsOut,
)
from polis.users.presenters import public_out
from polis.users.schemas import PublicUserOut

router = DomainRouter(prefix="/territories", tags=["territories"])

NAMESPACE = service.CACHE_NAMESPACE
# The map itself changes only on import, which invalidates the namespace: keep it a day.
MAP_TTL = 24 * 60 * 60
# Counts and member lists move as members join; five minutes, as statistics (§4).
LIVE_TTL = 5 * 60

Produce = Callable[[], Awaitable[Any]]


async def _cached(
    request: Request, key: str, ttl: int, produce: Produce, *, private: bool = False
) -> Response:
    return await cached_answer(request, NAMESPACE, key, ttl, produce, private=private)


def _page_key(params: PageParams) -> str:
    return f"{params.page}:{params.per_page}:{params.sort_by}:{params.sort_order}"


async def _cached_page(
    request: Request,
    key: str,
    ttl: int,
    params: PageParams,
    produce: Produce,
    *,
    private: bool = False,
) -> Response:
    return await cached_page_answer(request, NAMESPACE, key, ttl, params, produce, private=private)


@router.get(
    "",
    response_model=ListEnvelope[TerritoryListItemOut],
    summary="List territories",
    description="Cached 5 minutes (the member counts move); ETag and 304.",
)
async def list_territories(
    request: Request,
    _: AuthenticatedUser,
    session: DbSession,
    params: Pagination,
    type: Annotated[TerritoryType | None, Query(description="region, municipality, …")] = None,
    parent_id: uuid.UUID | None = None,
    search: Annotated[
        str | None, Query(min_length=1, max_length=100, description="a part of a name or code")
    ] = None,
) -> Response:
    async def produce() -> dict[str, Any]:
        page = await service.list_territories(
            session, params, type_=type, parent_id=parent_id, search=search
        )
        ids = [territory.id for territory in page.items]
        members = await service.member_counts(session, ids)
        ateulis = await service.ateuli_counts(session, ids)
        items = [
            from_row(
                TerritoryListItemOut,
                TerritoryOut.of(t),
                member_count=members[t.id],
                ateuli_count=ateulis[t.id],
            )
            for t in page.items
        ]
        return {"items": items, "total": page.total}

    key = "list:" + json.dumps(
        [type, str(parent_id) if parent_id else None, search, _page_key(params)]
    )
    return await _cached_page(request, key, LIVE_TTL, params, produce)


async def _detail(session: AsyncSession, territory_id: uuid.UUID) -> TerritoryDetailOut:
    territory = await service.get_territory(session, territory_id)
    parents = await service.parent_chain(session, territory)
    return from_row(
        TerritoryDetailOut,
        TerritoryOut.of(territory),
        parents=[TerritoryRefOut.of(parent) for parent in parents],
        boundary=territory.boundary,
    )


@router.get(
    "/lookup",
    response_model=Envelope[TerritoryDetailOut],
    summary="The electoral district at a point",
    description="404/4001 when no district holds the point; 2003 for a latitude or longitude "
    "out of range. Cached 24 hours.",
)
@errors(ErrorCode.OUT_OF_RANGE, ErrorCode.NOT_FOUND)
async def lookup(
    request: Request,
    _: AuthenticatedUser,
    session: DbSession,
    lat: Annotated[float, Query(description="latitude, -90..90")],
    lng: Annotated[float, Query(description="longitude, -180..180")],
) -> Response:
    async def produce() -> TerritoryDetailOut:
        district = await service.district_at(session, lat, lng)
        if district is None:
            raise NotFound("No electoral district holds this point.")
        return await _detail(session, district.id)

    return await _cached(request, f"lookup:{lat!r}:{lng!r}", MAP_TTL, produce)


@router.get(
    "/{territory_id}",
    response_model=Envelope[TerritoryDetailOut],
    summary="A territory with its parent chain and boundary",
    description="Cached 24 hours; ETag and 304.",
)
@errors(ErrorCode.NOT_FOUND)
async def get_territory(
    request: Request, territory_id: uuid.UUID, _: AuthenticatedUser, session: DbSession
) -> Response:
    async def produce() -> TerritoryDetailOut:
        return await _detail(session, territory_id)

    return await _cached(request, f"detail:{territory_id}", MAP_TTL, produce)


@router.get(
    "/{territory_id}/members",
    response_model=ListEnvelope[PublicUserOut],
    summary="Verified members living in a territory or below it",
    description="Phones masked. Cached 5 minutes, privately.",
)
@errors(ErrorCode.NOT_FOUND)
async def list_members(
    request: Request,
    territory_id: uuid.UUID,
    _: AuthenticatedUser,
    session: DbSession,
    settings: SettingsDep,
    params: Pagination,
) -> Response:
    territory = await service.get_territory(session, territory_id)

    async def produce() -> dict[str, Any]:
        page = await service.list_members(session, territory, params)
        items = [await public_out(session, settings, member) for member in page.items]
        return {"items": items, "total": page.total}

    key = f"members:{territory_id}:{_page_key(params)}"
    return await _cached_page(request, key, LIVE_TTL, params, produce, private=True)


@router.get(
    "/{territory_id}/statistics",
    response_model=Envelope[TerritoryStatisticsOut],
    summary="Members, roles, statuses, units and sub-territories of a territory",
    description="Cached 5 minutes.",
)
@errors(ErrorCode.NOT_FOUND)
async def get_statistics(
    request: Request, territory_id: uuid.UUID, _: AuthenticatedUser, session: DbSession
) -> Response:
    territory = await service.get_territory(session, territory_id)

    async def produce() -> TerritoryStatisticsOut:
        stats = await service.statistics(session, territory)
        return from_row(TerritoryStatisticsOut, stats, territory=TerritoryRefOut.of(territory))

    return await _cached(request, f"statistics:{territory_id}", LIVE_TTL, produce)


@router.get(
    "/{territory_id}/ateulis",
    response_model=ListEnvelope[AteuliSummaryOut],
    summary="Ateulis in a territory or below it",
    description="Forming and active ateulis, each with its member count and sitting atistavi; "
    "sortable by `created_at` (default), `member_count`, `name`. Cached 5 minutes.",
)
@errors(ErrorCode.NOT_FOUND)
async def list_ateulis(
    request: Request,
    territory_id: uuid.UUID,
    _: AuthenticatedUser,
    session: DbSession,
    params: Pagination,
) -> Response:
    territory = await service.get_territory(session, territory_id)

    async def produce() -> dict[str, Any]:
        page = await service.list_ateulis(session, territory, params)
        items = [AteuliSummaryOut.of(row.unit, row.leader) for row in page.items]
        return {"items": items, "total": page.total}

    key = f"ateulis:{territory_id}:{_page_key(params)}"
    return await _cached_page(request, key, LIVE_TTL, params, produce)
