"""The milestone sweep sends the delivery jobs of its notifications right after its commit.

On committed data, as the hourly task sees it: a recording ``send_task`` stands in for the
broker and, at the moment each job is sent, asks a second session whether the delivery row
is already committed.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from polis.gamification import service, tasks
from polis.gamification.models import Achievement, AchievementCode
from polis.kit.db import create_sessionmaker
from polis.kit.events import TaskJob
from polis.notifications.delivery import DELIVER_TASK
from polis.notifications.models import Delivery, PushDevice, PushPlatform
from polis.territories.models import Territory, TerritoryType
from polis.units.models import Unit
from polis.users.models import User
from tests.units.factories import ateuli_with, bulk_users, territory


@dataclass
class Committed:
    """Ten members with an email (one with a phone app too) in an active ateuli."""

    maker: async_sessionmaker[AsyncSession]
    ids: list[uuid.UUID]


@pytest.fixture
async def committed(engine: AsyncEngine) -> AsyncIterator[Committed]:
    maker = create_sessionmaker(engine)
    async with maker() as session:
        region = await territory(session, TerritoryType.REGION)
        municipality = await territory(session, TerritoryType.MUNICIPALITY, region)
        place = await territory(session, TerritoryType.ELECTORAL_DISTRICT, municipality)
        ids = await bulk_users(session, place.id, 10)
        for user_id in ids:
            await session.execute(
                update(User).where(User.id == user_id).values(email=f"{user_id}@example.ge")
            )
        session.add(
            PushDevice(user_id=ids[0], token=secrets.token_hex(16), platform=PushPlatform.IOS)
        )
        unit = await ateuli_with(session, place.id, ids)
        await session.commit()
    try:
        yield Committed(maker, ids)
    finally:
        async with maker() as session:
            await session.execute(delete(Unit).where(Unit.id == unit.id))
            await session.execute(delete(User).where(User.id.in_(ids)))
            for tid in (place.id, municipality.id, region.id):
                await session.execute(delete(Territory).where(Territory.id == tid))
            await session.commit()


async def _deliveries_of(
    maker: async_sessionmaker[AsyncSession], user_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, uuid.UUID]:
    """Committed delivery rows of ``user_ids``: id → member."""
    async with maker() as session:
        rows = await session.execute(
            select(Delivery.id, Delivery.user_id).where(Delivery.user_id.in_(user_ids))
        )
        return {delivery_id: user_id for delivery_id, user_id in rows}


async def test_the_sweeps_delivery_jobs_are_sent_right_after_its_commit(
    committed: Committed,
) -> None:
    maker, ids = committed.maker, committed.ids
    loop = asyncio.get_running_loop()
    sent: list[TaskJob] = []
    committed_when_sent: dict[uuid.UUID, bool] = {}

    def record(job: TaskJob) -> None:
        # Called in a thread (publishing is blocking I/O): look at the database from the loop.
        sent.append(job)
        delivery_id = uuid.UUID(job.args[0])
        seen = asyncio.run_coroutine_threadsafe(_deliveries_of(maker, ids), loop).result()
        committed_when_sent[delivery_id] = delivery_id in seen

    awarded = await tasks.sweep(maker, send_task=record, redis=None)

    assert awarded >= 20  # 10 joined + 10 activated (and whatever else the database held)
    ours = await _deliveries_of(maker, ids)
    # Every member: an email copy of both achievements; the one with an app: push copies too.
    assert len(ours) == 2 * 10 + 2
    assert {job.name for job in sent} == {DELIVER_TASK}
    sent_ids = [uuid.UUID(job.args[0]) for job in sent]
    assert len(sent_ids) == len(set(sent_ids))
    assert {delivery_id for delivery_id in sent_ids if delivery_id in ours} == set(ours)
    # Each job left once the row it names was committed, never before.
    assert {delivery_id: committed_when_sent[delivery_id] for delivery_id in ours} == dict.fromkeys(
        ours, True
    )


async def test_a_sweep_that_rolls_back_sends_nothing(
    committed: Committed, monkeypatch: pytest.MonkeyPatch
) -> None:
    maker, ids = committed.maker, committed.ids
    award = service.award_milestones

    async def award_then_fail(
        session: AsyncSession, user_ids: Sequence[uuid.UUID] | None = None
    ) -> list[tuple[uuid.UUID, AchievementCode]]:
        awarded = await award(session, user_ids)
        assert awarded  # the notifications and their delivery jobs are in the buffer
        raise RuntimeError("the sweep fails before its commit")

    monkeypatch.setattr(service, "award_milestones", award_then_fail)
    sent: list[TaskJob] = []

    with pytest.raises(RuntimeError, match="before its commit"):
        await tasks.sweep(maker, send_task=sent.append, redis=None)

    assert sent == []
    assert await _deliveries_of(maker, ids) == {}
    async with maker() as session:
        held = await session.scalars(select(Achievement.id).where(Achievement.user_id.in_(ids)))
        assert held.all() == []
