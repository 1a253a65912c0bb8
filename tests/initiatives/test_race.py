"""Races with real committed transactions: the last support, and two sweeps at once."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from redis.asyncio import Redis
from sqlalchemy import delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from polis.audit.models import AuditLog
from polis.config import Settings
from polis.initiatives import handover, tasks
from polis.initiatives.models import (
    Initiative,
    InitiativeCategory,
    InitiativeScope,
    InitiativeStatus,
    InitiativeSupport,
)
from polis.kit import clock
from polis.kit.db import create_sessionmaker
from polis.notifications.models import Notification, NotificationType
from polis.realtime.schemas import user_channel
from polis.territories.models import Territory
from polis.units.models import LeadershipTerm, Unit, UnitLevel, UnitMembership
from polis.users.models import User
from polis.worker import BEAT_SCHEDULE, TASK_MODULES, create_celery
from tests.conftest import client_for, serve_app
from tests.initiatives.helpers import INITIATIVES, Tree, auth, tree

RACERS = 20


async def _cleanup(maker: async_sessionmaker[AsyncSession], t: Tree) -> None:
    user_ids = [uid for ids in t.members for uid in ids]
    unit_ids = [unit.id for unit in (*t.ateulis, *t.ormo)]
    async with maker() as session:
        initiative_ids = [
            str(i)
            for i in (
                await session.scalars(
                    select(Initiative.id).where(Initiative.creator_id.in_(user_ids))
                )
            ).all()
        ]
        await session.execute(delete(Initiative).where(Initiative.creator_id.in_(user_ids)))
        await session.execute(delete(Notification).where(Notification.user_id.in_(user_ids)))
        await session.execute(
            delete(AuditLog).where(
                or_(
                    AuditLog.actor_id.in_(user_ids),
                    AuditLog.entity_id.in_(initiative_ids + [str(u) for u in unit_ids]),
                )
            )
        )
        await session.execute(delete(LeadershipTerm).where(LeadershipTerm.unit_id.in_(unit_ids)))
        await session.execute(delete(UnitMembership).where(UnitMembership.unit_id.in_(unit_ids)))
        await session.execute(delete(Unit).where(Unit.id.in_(unit_ids)))
        await session.execute(delete(User).where(User.id.in_(user_ids)))
        await session.execute(delete(Territory).where(Territory.id == t.district_id))
        await session.commit()


@pytest.fixture
async def committed_tree(engine: AsyncEngine) -> AsyncIterator[Tree]:
    """Five led ateulis under a led ormotsdaateuli, committed for real; removed afterwards."""
    maker = create_sessionmaker(engine)
    async with maker() as session:
        t = await tree(session, ateulis=5)
        await session.commit()
    try:
        yield t
    finally:
        await _cleanup(maker, t)


async def _count(session: AsyncSession, model: type[object], *where: object) -> int:
    return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)  # type: ignore[arg-type]


async def test_twenty_supports_for_the_last_missing_one_make_exactly_one_transition(
    engine: AsyncEngine, settings: Settings, redis: Redis, committed_tree: Tree
) -> None:
    t = committed_tree
    maker = create_sessionmaker(engine)
    members = [uid for ids in t.members for uid in ids]
    creator, leader = t.members[1][9], t.ormo_leader(0)
    early = [m for m in members if m != creator][:20]
    racers = [m for m in members if m != creator][20 : 20 + RACERS]
    async with maker() as session:
        initiative = Initiative(
            title="A crossing by the school",
            description="Zebra crossing and a light by school 51.",
            category=InitiativeCategory.INFRASTRUCTURE,
            scope_type=InitiativeScope.ORMOTSDAATEULI,
            scope_id=t.ormo[0].id,
            target_support=21,
            current_support=20,
            status=InitiativeStatus.ACTIVE,
            creator_id=creator,
            published_at=clock.now(),
            first_supported_at=clock.now(),
        )
        session.add(initiative)
        await session.flush()
        session.add_all(InitiativeSupport(initiative_id=initiative.id, user_id=m) for m in early)
        await session.commit()
    url = f"{INITIATIVES}/{initiative.id}/support"
    pubsub = redis.pubsub()
    await pubsub.subscribe(user_channel(creator))
    await pubsub.get_message(timeout=1)

    async with serve_app(settings) as app, client_for(app) as http:
        answers = await asyncio.gather(
            *(http.post(url, json={}, headers=auth(settings, m)) for m in racers)
        )

    assert sorted(a.status_code for a in answers) == [200] + [409] * (RACERS - 1)
    assert {a.json()["error"]["code"] for a in answers if a.status_code == 409} == {3052}
    async with maker() as session:
        row = await session.get_one(Initiative, initiative.id)
        rows = await _count(
            session, InitiativeSupport, InitiativeSupport.initiative_id == initiative.id
        )
        assert (row.status, row.assignee_id) == (InitiativeStatus.ASSIGNED, leader)
        assert row.current_support == rows == 21
        threshold = NotificationType.INITIATIVE_SUPPORTED_THRESHOLD
        assert (
            await _count(
                session,
                Notification,
                Notification.user_id == creator,
                Notification.type == threshold,
            )
            == 1
        )
        assert (
            await _count(
                session,
                Notification,
                Notification.user_id == leader,
                Notification.type == NotificationType.INITIATIVE_ASSIGNED,
            )
            == 1
        )
        for action in ("initiatives.achieved", "initiatives.assigned"):
            assert (
                await _count(
                    session,
                    AuditLog,
                    AuditLog.entity_id == str(initiative.id),
                    AuditLog.action == action,
                )
                == 1
            )
    events = 0
    while message := await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5):
        events += json.loads(message["data"])["event"] == handover.THRESHOLD_EVENT
    await pubsub.aclose()  # type: ignore[no-untyped-call]
    assert events == 1


async def test_two_sweeps_at_once_move_each_initiative_exactly_once(
    engine: AsyncEngine, settings: Settings, committed_tree: Tree
) -> None:
    t = committed_tree
    maker = create_sessionmaker(engine)
    atistavi, leader = t.members[2][0], t.ormo_leader(0)
    overdue = clock.now() - timedelta(hours=1)
    count = 30
    async with maker() as session:
        ids: list[uuid.UUID] = []
        for n in range(count):
            initiative = Initiative(
                title=f"Initiative {n}",
                description="Overdue and unanswered.",
                category=InitiativeCategory.OTHER,
                scope_type=InitiativeScope.ATEULI,
                scope_id=t.ateulis[2].id,
                target_support=5,
                current_support=0,
                status=InitiativeStatus.ASSIGNED,
                creator_id=t.members[2][5],
                assignee_id=atistavi,
                assigned_unit_id=t.ateulis[2].id,
                assigned_level=UnitLevel.ATEULI,
                assigned_at=overdue - timedelta(days=14),
                answer_due_at=overdue,
            )
            session.add(initiative)
            await session.flush()
            ids.append(initiative.id)
        await session.commit()

    async def run() -> int:
        async with maker() as session:
            return await tasks.answer_deadline_sweep(session, settings, batch_size=4)

    moved = await asyncio.gather(run(), run())

    assert sum(moved) == count
    async with maker() as session:
        rows = (await session.scalars(select(Initiative).where(Initiative.id.in_(ids)))).all()
        assert {(r.assignee_id, r.reassign_count) for r in rows} == {(leader, 1)}
        assert all(r.answer_due_at and r.answer_due_at > clock.now() for r in rows)
        assert (
            await _count(
                session,
                Notification,
                Notification.user_id == leader,
                Notification.type == NotificationType.INITIATIVE_ASSIGNED,
            )
            == count
        )
        assert (
            await _count(
                session,
                AuditLog,
                AuditLog.entity_id.in_([str(i) for i in ids]),
                AuditLog.action == "initiatives.reassigned",
            )
            == count
        )
        # Run again: nothing is due any more.
        assert await tasks.answer_deadline_sweep(session, settings) == 0


async def test_the_hourly_task_runs_the_sweep_on_its_own_engine_and_is_scheduled(
    engine: AsyncEngine, settings: Settings, committed_tree: Tree
) -> None:
    t = committed_tree
    maker = create_sessionmaker(engine)
    overdue = clock.now() - timedelta(minutes=1)
    async with maker() as session:
        initiative = Initiative(
            title="Benches",
            description="Two benches by the bus stop.",
            category=InitiativeCategory.OTHER,
            scope_type=InitiativeScope.ATEULI,
            scope_id=t.ateulis[3].id,
            target_support=5,
            status=InitiativeStatus.ASSIGNED,
            creator_id=t.members[3][5],
            assignee_id=t.members[3][0],
            assigned_unit_id=t.ateulis[3].id,
            assigned_level=UnitLevel.ATEULI,
            assigned_at=overdue - timedelta(days=14),
            answer_due_at=overdue,
        )
        session.add(initiative)
        await session.commit()

    assert await tasks.run_deadline_sweep(settings) == 1

    async with maker() as session:
        row = await session.get_one(Initiative, initiative.id)
        assert (row.assignee_id, row.reassign_count) == (t.ormo_leader(0), 1)
    entry = BEAT_SCHEDULE["initiatives-answer-deadlines"]
    assert (entry["task"], entry["schedule"]) == (tasks.SWEEP_TASK, timedelta(hours=1))
    assert "polis.initiatives.tasks" in TASK_MODULES
    celery = create_celery(settings)
    celery.loader.import_default_modules()
    assert tasks.SWEEP_TASK in celery.tasks
