"""Arbitration test helpers: a led hierarchy, the routes mounted, tokens for bulk members."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from polis.arbitration.router import router
from polis.audit.models import AuditLog
from polis.config import Settings
from polis.notifications.models import Notification, NotificationType
from polis.territories.models import TerritoryType
from polis.units import service as units_service
from polis.units.models import Unit, UnitLevel
from polis.users.models import User
from tests.conftest import client_for, serve_app
from tests.gamification.helpers import headers_for, led_ateulis, parent_of
from tests.units.factories import territory

CASES = "/api/v1/arbitration/cases"


@asynccontextmanager
async def arb_client(settings: Settings, session: AsyncSession) -> AsyncIterator[httpx.AsyncClient]:
    """The real app with /arbitration mounted, its requests in the test's transaction."""
    connection = session.bind
    assert isinstance(connection, AsyncConnection)
    async with serve_app(settings, router, connection=connection) as app, client_for(app) as http:
        yield http


def auth(settings: Settings, user_id: uuid.UUID) -> dict[str, str]:
    return headers_for(settings, user_id)


@dataclass
class Tree:
    """Ten led ateulis in one district: two led ormotsdaateulis under one led aseuli.

    ``members[i]`` are the ten members of ateuli ``i``; ``members[i][0]`` is its atistavi.
    Ateulis 0-4 are under ``ormo[0]`` (led by ateuli 0's atistavi), 5-9 under ``ormo[1]``
    (led by ateuli 5's atistavi); the aseuli is led by ateuli 1's atistavi.
    """

    district_id: uuid.UUID
    ateulis: list[Unit]
    members: list[list[uuid.UUID]]
    ormo: list[Unit]
    aseuli: Unit | None

    def ormo_leader(self, n: int) -> uuid.UUID:
        return self.members[5 * n][0]

    @property
    def aseuli_leader(self) -> uuid.UUID:
        return self.members[1][0]


async def _install(session: AsyncSession, unit: Unit, user_id: uuid.UUID) -> None:
    await units_service.install_leader(session, unit, await session.get_one(User, user_id))


async def tree(session: AsyncSession, *, ateulis: int = 10, lead_aseuli: bool = True) -> Tree:
    """A led hierarchy (5 ateulis: one ormotsdaateuli; 10: two and an aseuli)."""
    district = await territory(session, TerritoryType.ELECTORAL_DISTRICT)
    made = await led_ateulis(session, district.id, 5)
    ormo = [await parent_of(session, made[0][0])]
    await _install(session, ormo[0], made[0][1][0])
    aseuli = None
    if ateulis == 10:
        made += await led_ateulis(session, district.id, 5, start=5)
        ormo.append(await parent_of(session, made[5][0]))
        await _install(session, ormo[1], made[5][1][0])
        aseuli = await parent_of(session, ormo[0])
        if lead_aseuli:
            await _install(session, aseuli, made[1][1][0])
    return Tree(
        district_id=district.id,
        ateulis=[unit for unit, _ in made],
        members=[ids for _, ids in made],
        ormo=ormo,
        aseuli=aseuli,
    )


async def notified(session: AsyncSession, user_id: uuid.UUID, kind: NotificationType) -> int:
    return int(
        await session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.user_id == user_id, Notification.type == kind)
        )
        or 0
    )


async def audited(session: AsyncSession, case_id: str, action: str) -> int:
    return int(
        await session.scalar(
            select(func.count())
            .select_from(AuditLog)
            .where(AuditLog.entity_id == case_id, AuditLog.action == action)
        )
        or 0
    )


async def make_admin(session: AsyncSession, user_id: uuid.UUID) -> User:
    """Make ``user_id`` an admin who is older than any other, so the fallback picks them."""
    user = await session.get_one(User, user_id)
    user.is_admin = True
    user.created_at = datetime(2000, 1, 1, tzinfo=UTC)
    await session.flush()
    return user


def case_body(defendant_id: uuid.UUID, **extra: object) -> dict[str, object]:
    return {
        "defendant_id": str(defendant_id),
        "title": "A dispute about the meeting",
        "description": "He kept the ateuli's records and will not share them.",
        "type": "dispute",
        **extra,
    }


__all__ = ["CASES", "UnitLevel"]
