"""Capacity under a real race: separate requests, separate committed transactions."""

from __future__ import annotations

import asyncio

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from polis.audit.models import AuditLog
from polis.auth.models import AuthSession
from polis.config import Settings
from polis.kit.db import create_sessionmaker
from polis.notifications.models import Notification
from polis.territories.models import Territory, TerritoryType
from polis.units import queries as unit_queries
from polis.units.models import Unit, UnitMembership, UnitStatus
from polis.users.models import User
from tests.units.factories import ateuli_with, bulk_users, territory, units_client, verified


async def test_five_joins_for_the_last_seat_one_wins_four_get_3005(
    engine: AsyncEngine, settings: Settings
) -> None:
    maker = create_sessionmaker(engine)
    async with maker() as session:
        district = await territory(session, TerritoryType.ELECTORAL_DISTRICT)
        nine = await bulk_users(session, district.id, 9)
        unit = await ateuli_with(session, district.id, nine)
        racers = [await verified(session, settings, district.id) for _ in range(5)]
        await session.commit()
    user_ids = [*nine, *(r.user.id for r in racers)]
    try:
        async with units_client(settings) as http:
            responses = await asyncio.gather(
                *(http.post(f"/api/v1/ateulis/{unit.id}/join", headers=r.headers) for r in racers)
            )
        assert sorted(r.status_code for r in responses) == [200, 409, 409, 409, 409]
        losers = [r.json() for r in responses if r.status_code == 409]
        assert {body["error"]["code"] for body in losers} == {3005}
        async with maker() as session:
            stored = await session.get_one(Unit, unit.id)
            real = await unit_queries.count_open_members(session, unit.id)
            assert (stored.member_count, real, stored.status) == (10, 10, UnitStatus.ACTIVE)
            joined = (
                await session.scalars(
                    select(UnitMembership.user_id).where(
                        UnitMembership.user_id.in_([r.user.id for r in racers])
                    )
                )
            ).all()
            assert len(joined) == 1
    finally:
        async with maker() as session:
            await session.execute(delete(Unit).where(Unit.id == unit.id))
            await session.execute(delete(Notification).where(Notification.user_id.in_(user_ids)))
            await session.execute(delete(AuditLog).where(AuditLog.actor_id.in_(user_ids)))
            await session.execute(delete(AuditLog).where(AuditLog.entity_id == str(unit.id)))
            await session.execute(delete(AuthSession).where(AuthSession.user_id.in_(user_ids)))
            await session.execute(delete(User).where(User.id.in_(user_ids)))
            await session.execute(delete(Territory).where(Territory.id == district.id))
            await session.commit()


async def test_one_member_joining_two_ateulis_at_once_gets_into_one(
    engine: AsyncEngine, settings: Settings
) -> None:
    maker = create_sessionmaker(engine)
    async with maker() as session:
        district = await territory(session, TerritoryType.ELECTORAL_DISTRICT)
        founders = await bulk_users(session, district.id, 2)
        first = await ateuli_with(session, district.id, founders[:1])
        second = await ateuli_with(session, district.id, founders[1:])
        racer = await verified(session, settings, district.id)
        await session.commit()
    user_ids = [*founders, racer.user.id]
    try:
        async with units_client(settings) as http:
            responses = await asyncio.gather(
                *(
                    http.post(f"/api/v1/ateulis/{unit.id}/join", headers=racer.headers)
                    for unit in (first, second)
                )
            )
        assert sorted(r.status_code for r in responses) == [200, 409]
        loser = next(r for r in responses if r.status_code == 409)
        assert loser.json()["error"]["code"] == 3006
        async with maker() as session:
            memberships = (
                await session.scalars(
                    select(UnitMembership).where(
                        UnitMembership.user_id == racer.user.id, UnitMembership.left_at.is_(None)
                    )
                )
            ).all()
            assert len(memberships) == 1
            counts = [
                (await session.get_one(Unit, unit.id)).member_count for unit in (first, second)
            ]
            assert sorted(counts) == [1, 2]
    finally:
        async with maker() as session:
            await session.execute(delete(Unit).where(Unit.id.in_([first.id, second.id])))
            await session.execute(delete(Notification).where(Notification.user_id.in_(user_ids)))
            await session.execute(delete(AuditLog).where(AuditLog.actor_id.in_(user_ids)))
            await session.execute(
                delete(AuditLog).where(AuditLog.entity_id.in_([str(first.id), str(second.id)]))
            )
            await session.execute(delete(AuthSession).where(AuthSession.user_id.in_(user_ids)))
            await session.execute(delete(User).where(User.id.in_(user_ids)))
            await session.execute(delete(Territory).where(Territory.id == district.id))
            await session.commit()
