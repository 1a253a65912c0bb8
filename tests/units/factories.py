"""Factories for units tests: territories, members in bulk, ateulis filled straight in the DB."""

from __future__ import annotations

import itertools
import secrets
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

import httpx
from fastapi import APIRouter
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from polis.config import Settings
from polis.kit import clock
from polis.territories.models import Territory, TerritoryType
from polis.units.models import Unit, UnitLevel, UnitMembership, UnitStatus
from polis.units.router import hierarchy_router, router
from polis.users.models import MemberStatus, User, UserRole
from tests.conftest import Member, client_for, make_member, serve_app

_phones = itertools.count(1)


def next_phone() -> str:
    # +995 555 7xxxxx: a fresh valid Georgian mobile number per call within a run.
    return f"+9955557{secrets.randbelow(10)}{next(_phones):04d}"


def units_router() -> APIRouter:
    api = APIRouter()
    api.include_router(router)
    api.include_router(hierarchy_router)
    return api


@asynccontextmanager
async def units_client(
    settings: Settings, connection: AsyncConnection | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """The real app with the units routes mounted (until app.py registers them)."""
    async with (
        serve_app(settings, units_router(), connection=connection) as app,
        client_for(app) as http,
    ):
        yield http


async def verified(
    session: AsyncSession,
    settings: Settings,
    territory_id: uuid.UUID | None,
    *,
    diaspora: bool = False,
    admin: bool = False,
    role: UserRole = UserRole.GEDER,
) -> Member:
    member = await make_member(
        session,
        settings,
        next_phone(),
        onboarded=True,
        role=role,
        territory_id=territory_id,
        admin=admin,
        first_name="Nino",
        last_name=f"M{next(_phones)}",
    )
    member.user.is_diaspora = diaspora
    await session.flush()
    return member


async def territory(
    session: AsyncSession, kind: TerritoryType, parent: Territory | None = None
) -> Territory:
    code = f"{kind.value[:1].upper()}-{secrets.token_hex(4)}"
    place = Territory(
        type=kind,
        code=code,
        name_ka=code,
        name_en=code,
        parent_id=parent.id if parent else None,
    )
    session.add(place)
    await session.flush()
    return place


async def bulk_users(session: AsyncSession, territory_id: uuid.UUID, count: int) -> list[uuid.UUID]:
    """``count`` verified GeDers of the district, without phones or sessions (fast)."""
    now = clock.now()
    ids = [uuid.uuid4() for _ in range(count)]
    await session.execute(
        insert(User),
        [
            {
                "id": user_id,
                "first_name": "Member",
                "last_name": f"{n}",
                "role": UserRole.GEDER,
                "status": MemberStatus.PASSIVE,
                "onboarded_at": now,
                "territory_id": territory_id,
            }
            for n, user_id in enumerate(ids)
        ],
    )
    return ids


async def ateuli_with(
    session: AsyncSession,
    territory_id: uuid.UUID,
    user_ids: list[uuid.UUID],
    *,
    name: str = "Test ateuli",
    created_at: datetime | None = None,
) -> Unit:
    """An ateuli holding ``user_ids``, in the state the join rules would have left it."""
    now = clock.now()
    full = len(user_ids) >= 10
    unit = Unit(
        name=name,
        level=UnitLevel.ATEULI,
        territory_id=territory_id,
        member_count=len(user_ids),
        status=UnitStatus.ACTIVE if full else UnitStatus.FORMING,
        activated_at=now if full else None,
        created_at=created_at or now,
    )
    session.add(unit)
    await session.flush()
    if user_ids:
        await session.execute(
            insert(UnitMembership),
            [
                {"unit_id": unit.id, "user_id": uid, "joined_at": now - timedelta(minutes=1)}
                for uid in user_ids
            ],
        )
    return unit
