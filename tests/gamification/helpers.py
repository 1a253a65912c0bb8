"""Helpers for gamification and statistics tests: the routers mounted, led ateulis, tokens."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import httpx
from fastapi import APIRouter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from polis.auth.tokens import issue_access_token
from polis.config import Settings
from polis.gamification.router import router as gamification_router
from polis.kit import clock
from polis.statistics.router import router as statistics_router
from polis.units import service as units_service
from polis.units.models import Unit, UnitLevel
from polis.users.models import User
from tests.conftest import client_for, serve_app
from tests.units.factories import ateuli_with, bulk_users


def routers() -> APIRouter:
    api = APIRouter()
    api.include_router(gamification_router)
    api.include_router(statistics_router)
    return api


@asynccontextmanager
async def gam_client(settings: Settings, session: AsyncSession) -> AsyncIterator[httpx.AsyncClient]:
    """The real app with /gamification and /statistics mounted, in the test's transaction."""
    connection = session.bind
    assert isinstance(connection, AsyncConnection)
    async with (
        serve_app(settings, routers(), connection=connection) as app,
        client_for(app) as http,
    ):
        yield http


def headers_for(settings: Settings, user_id: uuid.UUID) -> dict[str, str]:
    # A bulk-made member has no session row; a token naming a fresh session id still passes
    # (only revoked ids are refused), which is all a read needs.
    token, _ = issue_access_token(settings, user_id, uuid.uuid4())
    return {"Authorization": f"Bearer {token}"}


async def led_ateulis(
    session: AsyncSession, district_id: uuid.UUID, count: int, *, start: int = 0
) -> list[tuple[Unit, list[uuid.UUID]]]:
    """``count`` full ateulis with atistavis (their first member), one second apart; growth
    runs after each installation, as in production."""
    base = clock.now() - timedelta(days=1)
    made = []
    for n in range(count):
        ids = await bulk_users(session, district_id, 10)
        unit = await ateuli_with(
            session, district_id, ids, created_at=base + timedelta(seconds=start + n)
        )
        await units_service.install_leader(session, unit, await session.get_one(User, ids[0]))
        made.append((unit, ids))
    return made


async def parent_of(session: AsyncSession, unit: Unit) -> Unit:
    await session.refresh(unit)
    assert unit.parent_id is not None
    return await session.get_one(Unit, unit.parent_id)


async def units_of(session: AsyncSession, level: UnitLevel) -> list[Unit]:
    rows = await session.scalars(
        select(Unit)
        .where(Unit.level == level)
        .order_by(Unit.created_at, Unit.id)
        .execution_options(populate_existing=True)
    )
    return list(rows.all())
