"""The hourly sweep (idempotent, safe twice at once) and the LeaderUser dependency."""

from __future__ import annotations

import asyncio
import uuid

from fastapi import APIRouter
from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from polis.audit.models import AuditLog
from polis.config import Settings
from polis.kit import clock
from polis.kit.db import create_sessionmaker
from polis.territories.models import Territory, TerritoryType
from polis.units import service
from polis.units.deps import LeaderUser
from polis.units.models import LeadershipTerm, Unit, UnitLevel
from polis.units.tasks import run_sweep, sweep
from polis.users.models import User
from tests.auth.helpers import assert_error
from tests.conftest import client_for, serve_app
from tests.units.factories import ateuli_with, bulk_users, territory, verified


async def test_two_sweeps_at_once_form_each_unit_once(
    engine: AsyncEngine, settings: Settings
) -> None:
    maker = create_sessionmaker(engine)
    async with maker() as session:
        region = await territory(session, TerritoryType.REGION)
        municipality = await territory(session, TerritoryType.MUNICIPALITY, region)
        district = await territory(session, TerritoryType.ELECTORAL_DISTRICT, municipality)
        places = [district.id, municipality.id, region.id]
        user_ids: list[uuid.UUID] = []
        units = []
        for _ in range(5):
            ids = await bulk_users(session, district.id, 10)
            user_ids += ids
            units.append(await ateuli_with(session, district.id, ids))
        # Leaders written straight in, as if the requests that installed them had failed to
        # grow the hierarchy: only the sweep can form the ormotsdaateuli now.
        await session.execute(
            insert(LeadershipTerm),
            [
                {"unit_id": u.id, "user_id": ids_, "started_at": clock.now()}
                for u, ids_ in zip(units, user_ids[::10], strict=True)
            ],
        )
        await session.commit()
    try:
        results = await asyncio.gather(sweep(maker), sweep(maker))
        assert sorted(results) == [0, 1]
        async with maker() as session:
            formed = (
                await session.scalars(
                    select(Unit).where(
                        Unit.level == UnitLevel.ORMOTSDAATEULI, Unit.territory_id == district.id
                    )
                )
            ).all()
            assert len(formed) == 1
            attached = await session.scalar(
                select(func.count())
                .select_from(Unit)
                .where(Unit.id.in_([u.id for u in units]), Unit.parent_id == formed[0].id)
            )
            assert attached == 5
        # The Celery task's body on its own engine, in an event loop of its own (run_job, so
        # in a thread of its own here): nothing left to do here.
        await asyncio.to_thread(run_sweep, settings)
        async with maker() as session:
            again = await session.scalar(
                select(func.count())
                .select_from(Unit)
                .where(Unit.level == UnitLevel.ORMOTSDAATEULI, Unit.territory_id == district.id)
            )
            assert again == 1
    finally:
        async with maker() as session:
            unit_ids = (
                await session.scalars(select(Unit.id).where(Unit.territory_id.in_(places)))
            ).all()
            await session.execute(
                delete(AuditLog).where(AuditLog.entity_id.in_([str(u) for u in unit_ids]))
            )
            await session.execute(delete(Unit).where(Unit.id.in_(unit_ids)))
            await session.execute(delete(User).where(User.id.in_(user_ids)))
            for place in places:
                await session.execute(delete(Territory).where(Territory.id == place))
            await session.commit()


async def test_leader_user_lets_only_sitting_leaders_in(
    db_session: AsyncSession, settings: Settings, district: Territory
) -> None:
    probe = APIRouter()

    @probe.get("/leader-probe")
    async def leader_probe(user: LeaderUser) -> dict[str, str]:
        return {"id": str(user.id)}

    leader = await verified(db_session, settings, district.id)
    member = await verified(db_session, settings, district.id)
    filler = await bulk_users(db_session, district.id, 8)
    unit = await ateuli_with(db_session, district.id, [leader.user.id, member.user.id, *filler])
    await service.install_leader(db_session, unit, leader.user)
    async with (
        serve_app(settings, probe, connection=db_session.bind) as app,  # type: ignore[arg-type]
        client_for(app) as http,
    ):
        assert (await http.get("/api/v1/leader-probe", headers=leader.headers)).status_code == 200
        assert_error(await http.get("/api/v1/leader-probe", headers=member.headers), 403, 1004)
        assert_error(await http.get("/api/v1/leader-probe"), 401, 1003)
