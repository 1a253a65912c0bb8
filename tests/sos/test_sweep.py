"""The deadline sweep: what moves when, with the system as actor; idempotent; two at once."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from polis.audit.models import AuditLog
from polis.config import Settings
from polis.kit import clock
from polis.kit.db import create_sessionmaker
from polis.kit.events import TaskJob
from polis.notifications.models import Notification, NotificationType
from polis.sos import service, tasks
from polis.sos.models import (
    EscalationReason,
    SosEscalation,
    SosLevel,
    SosPriority,
    SosSignal,
    SosStatus,
)
from polis.territories.models import Territory
from polis.units.models import LeadershipTerm, Unit, UnitMembership
from polis.users.models import User
from polis.worker import BEAT_SCHEDULE, TASK_MODULES
from tests.conftest import savepoint_sessionmaker
from tests.sos.helpers import (
    SIGNALS,
    auth,
    data,
    notified,
    raise_as,
    sos_client,
    steps,
    stored,
    trail,
    tree,
)


async def _sweep(
    session: AsyncSession, settings: Settings, sent: list[TaskJob] | None = None
) -> tasks.SweepResult:
    """The Celery task's body, its batches committed as savepoints of the test's transaction."""
    connection = session.bind
    assert isinstance(connection, AsyncConnection)
    return await tasks.sweep(
        savepoint_sessionmaker(connection),
        settings,
        send_task=sent.append if sent is not None else None,
        redis=None,
    )


def test_the_sweep_runs_every_five_minutes() -> None:
    entry = BEAT_SCHEDULE["sos-deadline-sweep"]
    assert entry["task"] == tasks.SWEEP_TASK == "polis.sos.deadline_sweep"
    assert entry["schedule"] == timedelta(minutes=5)
    assert "polis.sos.tasks" in TASK_MODULES
    assert tasks.deadline_sweep.name == tasks.SWEEP_TASK


async def test_a_pending_signal_moves_up_one_leader_at_its_deadline(
    db_session: AsyncSession, settings: Settings
) -> None:
    t = await tree(db_session, ateulis=10)
    reporter = t.members[2][3]
    start = clock.freeze()
    async with sos_client(settings, db_session) as http:
        signal = await raise_as(http, settings, reporter)

    clock.advance(timedelta(hours=24) - timedelta(seconds=1))
    early = await _sweep(db_session, settings)
    clock.advance(timedelta(seconds=2))
    due = await _sweep(db_session, settings)
    again = await _sweep(db_session, settings)

    assert (early.moved, due.moved, again.moved) == (0, 1, 0)
    row = await stored(db_session, signal["id"])
    # Still unverified: the next holder must verify it, within a fresh window.
    assert (row.status, row.current_level, row.holder_id) == (
        SosStatus.PENDING,
        SosLevel.ORMOTSDAATEULI,
        t.ormo_leader(0),
    )
    assert row.deadline_at == start + timedelta(hours=48, seconds=1)
    step = (await trail(db_session, signal["id"]))[-1]
    assert (step.reason, step.actor_id, step.from_level, step.to_level) == (
        EscalationReason.DEADLINE,
        None,
        SosLevel.ATEULI,
        SosLevel.ORMOTSDAATEULI,
    )
    assert step.from_holder_id == t.members[2][0]
    assert await steps(db_session, signal["id"], EscalationReason.DEADLINE) == 1
    assert await notified(db_session, t.ormo_leader(0), NotificationType.SOS_SIGNAL_RECEIVED) == 1
    assert await notified(db_session, reporter, NotificationType.SOS_SIGNAL_ESCALATED) == 1
    audit = await db_session.scalar(
        select(AuditLog).where(
            AuditLog.entity_id == signal["id"], AuditLog.action == "sos.signal.escalated"
        )
    )
    assert audit is not None and audit.actor_id is None


async def test_deadlines_by_priority_and_48_hours_for_a_verified_signal(
    db_session: AsyncSession, settings: Settings
) -> None:
    t = await tree(db_session, ateulis=10)
    reporter, atistavi = t.members[2][3], t.members[2][0]
    clock.freeze()
    async with sos_client(settings, db_session) as http:
        critical = await raise_as(http, settings, reporter, priority="critical")
        high = await raise_as(http, settings, reporter, priority="high")
        verified = await raise_as(http, settings, reporter, priority="low")
        await http.post(
            f"{SIGNALS}/{verified['id']}/verify",
            json={"is_legitimate": True},
            headers=auth(settings, atistavi),
        )

    async def levels() -> list[SosLevel]:
        return [
            (await stored(db_session, signal["id"])).current_level
            for signal in (critical, high, verified)
        ]

    clock.advance(timedelta(hours=1, seconds=1))
    assert (await _sweep(db_session, settings)).moved == 1
    assert await levels() == [SosLevel.ORMOTSDAATEULI, SosLevel.ATEULI, SosLevel.ATEULI]
    # 6 h: the high one moves; the critical one, 1 h at the ormotsdaatistavi, moves again.
    clock.advance(timedelta(hours=5))
    assert (await _sweep(db_session, settings)).moved == 2
    assert await levels() == [SosLevel.ASEULI, SosLevel.ORMOTSDAATEULI, SosLevel.ATEULI]
    # 48 h and a second after its verification, the verified one moves up too.
    clock.advance(timedelta(hours=42))
    assert (await _sweep(db_session, settings)).moved == 3
    assert await levels() == [SosLevel.MODERATORS, SosLevel.ASEULI, SosLevel.ORMOTSDAATEULI]
    moved = await stored(db_session, verified["id"])
    assert moved.status is SosStatus.ESCALATED
    assert moved.holder_id == t.ormo_leader(0)
    assert moved.deadline_at == clock.now() + timedelta(hours=48)


async def test_at_the_top_a_pending_signal_stops_with_the_moderators_a_verified_one_goes_public(
    db_session: AsyncSession, settings: Settings
) -> None:
    t = await tree(db_session, ateulis=5)  # one led ormotsdaateuli, nothing above
    reporter, atistavi = t.members[2][3], t.members[2][0]
    contacts = ["desk@example.ge"]
    media_settings = settings.model_copy(update={"sos_media_contacts": contacts})
    clock.freeze()
    async with sos_client(settings, db_session) as http:
        pending = await raise_as(http, settings, reporter, priority="critical")
        verified = await raise_as(http, settings, reporter, priority="critical")
        await http.post(
            f"{SIGNALS}/{verified['id']}/verify",
            json={"is_legitimate": True},
            headers=auth(settings, atistavi),
        )
    sent: list[TaskJob] = []
    for _ in range(4):
        clock.advance(timedelta(hours=49))
        await _sweep(db_session, media_settings, sent)

    held = await stored(db_session, pending["id"])
    assert (held.current_level, held.holder_id, held.deadline_at) == (
        SosLevel.MODERATORS,
        None,
        None,
    )
    assert [s.to_level for s in await trail(db_session, pending["id"])] == [
        SosLevel.ATEULI,
        SosLevel.ORMOTSDAATEULI,
        SosLevel.MODERATORS,
    ]
    public = await stored(db_session, verified["id"])
    assert (public.current_level, public.deadline_at) == (SosLevel.MEDIA, None)
    assert [s.to_level for s in await trail(db_session, verified["id"])] == [
        SosLevel.ATEULI,
        SosLevel.ORMOTSDAATEULI,
        SosLevel.MEDIA,
    ]
    assert [(job.name, job.kwargs["to"]) for job in sent] == [("polis.email.send", contacts[0])]
    assert sent[0].kwargs["dedupe_key"] == f"sos:{verified['id']}:media:{contacts[0]}"


async def test_a_signal_closed_meanwhile_is_not_moved(
    db_session: AsyncSession, settings: Settings
) -> None:
    t = await tree(db_session, ateulis=5)
    reporter = t.members[2][3]
    clock.freeze()
    async with sos_client(settings, db_session) as http:
        signal = await raise_as(http, settings, reporter)
        data(
            await http.post(
                f"{SIGNALS}/{signal['id']}/resolve",
                json={"resolution_notes": "Sorted out with the landlord."},
                headers=auth(settings, reporter),
            )
        )
    clock.advance(timedelta(days=30))
    assert (await _sweep(db_session, settings)).taken == 0
    assert await steps(db_session, signal["id"], EscalationReason.DEADLINE) == 0


async def test_two_sweeps_at_once_move_each_signal_exactly_once(
    engine: AsyncEngine, settings: Settings
) -> None:
    maker = create_sessionmaker(engine)
    start = clock.freeze()
    async with maker() as session:
        t = await tree(session, ateulis=10)
        reporters = [uid for ids in t.members[2:5] for uid in ids[3:7]]
        signal_ids = []
        for reporter_id in reporters:
            reporter = await session.get_one(User, reporter_id)
            signal = await service.raise_signal(
                session,
                settings,
                reporter,
                title="Overdue",
                description="Nobody verified this.",
                location="Tbilisi",
                latitude=None,
                longitude=None,
                moral_filter_response="Yes",
                priority=SosPriority.NORMAL,
            )
            signal_ids.append(signal.id)
        await session.commit()
    user_ids = [uid for ids in t.members for uid in ids]
    unit_ids = [unit.id for unit in (*t.ateulis, *t.ormo, *([t.aseuli] if t.aseuli else []))]
    small = settings.model_copy(update={"sos_sweep_batch_size": 3})
    try:
        clock.freeze(start + timedelta(hours=25))
        first, second = await asyncio.gather(
            tasks.sweep(create_sessionmaker(engine), small, send_task=None, redis=None),
            tasks.sweep(create_sessionmaker(engine), small, send_task=None, redis=None),
        )
        third = await tasks.sweep(create_sessionmaker(engine), small, send_task=None, redis=None)

        assert first.moved + second.moved == len(signal_ids) == 12
        assert third.moved == 0
        async with maker() as session:
            rows = (
                await session.scalars(select(SosSignal).where(SosSignal.id.in_(signal_ids)))
            ).all()
            assert {row.escalation_count for row in rows} == {1}
            assert {row.current_level for row in rows} == {SosLevel.ORMOTSDAATEULI}
            deadline_steps = (
                await session.scalars(
                    select(SosEscalation.signal_id).where(
                        SosEscalation.signal_id.in_(signal_ids),
                        SosEscalation.reason == EscalationReason.DEADLINE,
                    )
                )
            ).all()
            assert sorted(deadline_steps) == sorted(signal_ids)
            told = (
                await session.scalars(
                    select(Notification.id).where(
                        Notification.user_id == t.ormo_leader(0),
                        Notification.type == NotificationType.SOS_SIGNAL_RECEIVED,
                    )
                )
            ).all()
            assert len(told) == 12
    finally:
        async with maker() as session:
            await _clean(session, signal_ids, user_ids, unit_ids, t.district_id)


async def _clean(
    session: AsyncSession,
    signal_ids: list[uuid.UUID],
    user_ids: list[uuid.UUID],
    unit_ids: list[uuid.UUID],
    district_id: uuid.UUID,
) -> None:
    await session.execute(delete(SosEscalation).where(SosEscalation.signal_id.in_(signal_ids)))
    await session.execute(delete(SosSignal).where(SosSignal.id.in_(signal_ids)))
    await session.execute(delete(Notification).where(Notification.user_id.in_(user_ids)))
    await session.execute(
        delete(AuditLog).where(AuditLog.entity_id.in_([str(s) for s in signal_ids]))
    )
    await session.execute(delete(AuditLog).where(AuditLog.actor_id.in_(user_ids)))
    await session.execute(
        delete(AuditLog).where(AuditLog.entity_id.in_([str(u) for u in unit_ids]))
    )
    await session.execute(delete(LeadershipTerm).where(LeadershipTerm.unit_id.in_(unit_ids)))
    await session.execute(delete(UnitMembership).where(UnitMembership.unit_id.in_(unit_ids)))
    await session.execute(delete(Unit).where(Unit.id.in_(unit_ids)))
    await session.execute(delete(User).where(User.id.in_(user_ids)))
    await session.execute(delete(Territory).where(Territory.id == district_id))
    await session.commit()
