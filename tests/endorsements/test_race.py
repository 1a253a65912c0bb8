"""The last slot under a real race: two approvals, separate committed transactions."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import delete, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from polis.audit.models import AuditLog
from polis.auth.models import AuthSession
from polis.config import Settings
from polis.endorsements import service
from polis.endorsements.models import Endorsement, EndorsementStatus
from polis.kit.db import create_sessionmaker
from polis.kit.errors import PolisError
from polis.notifications.models import Notification
from polis.territories.models import Territory, TerritoryType
from polis.users.models import User, UserRole
from tests.endorsements.helpers import approved, geder, newcomer, serve
from tests.units.factories import bulk_users, territory

WAITING_ON_A_LOCK = text(
    "SELECT count(*) FROM pg_stat_activity "
    "WHERE wait_event_type = 'Lock' AND datname = current_database()"
)
# Two approvals are the rule's case; more racers widen the window in which an unlocked count
# would let two through.
RACERS = 4


async def test_approvals_racing_for_the_last_slot_one_wins_the_others_get_3001(
    engine: AsyncEngine, settings: Settings
) -> None:
    maker = create_sessionmaker(engine)
    async with maker() as session:
        district = await territory(session, TerritoryType.ELECTORAL_DISTRICT)
        g = await geder(session, settings, district.id)
        four = await bulk_users(session, district.id, 4)
        for supporter_id in four:
            await approved(session, supporter_id, g.user.id)
        askers = [await newcomer(session, settings, district.id) for _ in range(RACERS)]
        await session.commit()
    user_ids = [g.user.id, *four, *(a.user.id for a in askers)]
    try:
        async with serve(settings) as (_, http):
            requests = []
            for asker in askers:
                asked = await http.post(
                    "/api/v1/endorsements/request",
                    json={"geder_id": str(g.user.id)},
                    headers=asker.headers,
                )
                assert asked.status_code == 201
                requests.append(asked.json()["data"]["id"])
            responses = await asyncio.gather(
                *(
                    http.post(f"/api/v1/endorsements/{rid}/approve", headers=g.headers)
                    for rid in requests
                )
            )
        assert sorted(r.status_code for r in responses) == [200] + [409] * (RACERS - 1)
        losers = [r.json() for r in responses if r.status_code == 409]
        assert {body["error"]["code"] for body in losers} == {3001}
        async with maker() as session:
            statuses = (
                await session.scalars(
                    select(Endorsement.status).where(
                        Endorsement.requester_id.in_([a.user.id for a in askers])
                    )
                )
            ).all()
            assert sorted(statuses) == sorted(
                [EndorsementStatus.APPROVED] + [EndorsementStatus.PENDING] * (RACERS - 1)
            )
            approved_count = len(
                (
                    await session.scalars(
                        select(Endorsement.id).where(
                            Endorsement.geder_id == g.user.id,
                            Endorsement.status == EndorsementStatus.APPROVED,
                        )
                    )
                ).all()
            )
            assert approved_count == 5
            roles = (
                await session.scalars(
                    select(User.role).where(User.id.in_([a.user.id for a in askers]))
                )
            ).all()
            assert sorted(roles) == sorted(
                [UserRole.SUPPORTER] + [UserRole.UNVERIFIED] * (RACERS - 1)
            )
    finally:
        async with maker() as session:
            ids = (
                await session.scalars(
                    select(Endorsement.id).where(Endorsement.geder_id == g.user.id)
                )
            ).all()
            await session.execute(
                delete(AuditLog).where(AuditLog.entity_id.in_([str(i) for i in ids]))
            )
            await session.execute(delete(AuditLog).where(AuditLog.actor_id.in_(user_ids)))
            await session.execute(delete(Notification).where(Notification.user_id.in_(user_ids)))
            await session.execute(delete(Endorsement).where(Endorsement.geder_id == g.user.id))
            await session.execute(delete(AuthSession).where(AuthSession.user_id.in_(user_ids)))
            await session.execute(delete(User).where(User.id.in_(user_ids)))
            await session.execute(delete(Territory).where(Territory.id == district.id))
            await session.commit()


async def test_an_approval_waits_for_the_geders_lock_then_counts_the_first(
    engine: AsyncEngine, settings: Settings
) -> None:
    """Deterministic: the second approval is seen blocked on the GeDer's row lock while the
    first is uncommitted, and after the commit it counts the first one (3001)."""
    maker = create_sessionmaker(engine)
    async with maker() as session:
        district = await territory(session, TerritoryType.ELECTORAL_DISTRICT)
        g = await geder(session, settings, district.id)
        four = await bulk_users(session, district.id, 4)
        for supporter_id in four:
            await approved(session, supporter_id, g.user.id)
        askers = [await newcomer(session, settings, district.id) for _ in range(2)]
        pending = []
        for asker in askers:
            pending.append(
                (
                    await service.request_endorsement(
                        session, asker.user, geder_id=g.user.id, message=None
                    )
                ).id
            )
        await session.commit()
    user_ids = [g.user.id, *four, *(a.user.id for a in askers)]
    try:
        async with maker() as first, maker() as second, maker() as observer:
            await service.approve(first, await first.get_one(User, g.user.id), pending[0])
            racer = asyncio.create_task(
                service.approve(second, await second.get_one(User, g.user.id), pending[1])
            )
            # Bounded wait until PostgreSQL reports the second transaction waiting on a lock.
            waiting = 0
            async with asyncio.timeout(10):
                while not waiting:
                    waiting = await observer.scalar(WAITING_ON_A_LOCK) or 0
                    if not waiting:
                        await asyncio.sleep(0.02)
            assert not racer.done()
            await first.commit()
            with pytest.raises(PolisError) as refused:
                await racer
            assert refused.value.error.code == 3001
            await second.rollback()
    finally:
        async with maker() as session:
            ids = (
                await session.scalars(
                    select(Endorsement.id).where(Endorsement.geder_id == g.user.id)
                )
            ).all()
            await session.execute(
                delete(AuditLog).where(AuditLog.entity_id.in_([str(i) for i in ids]))
            )
            await session.execute(delete(Notification).where(Notification.user_id.in_(user_ids)))
            await session.execute(delete(Endorsement).where(Endorsement.geder_id == g.user.id))
            await session.execute(delete(AuthSession).where(AuthSession.user_id.in_(user_ids)))
            await session.execute(delete(User).where(User.id.in_(user_ids)))
            await session.execute(delete(Territory).where(Territory.id == district.id))
            await session.commit()
