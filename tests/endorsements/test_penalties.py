"""The fraud penalty as arbitration calls it, the fines outbox, and the admin's lift."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from polis.audit.models import AuditLog
from polis.auth.models import AuthSession
from polis.config import Settings
from polis.endorsements import penalties, service
from polis.endorsements.models import (
    Endorsement,
    EndorsementRights,
    EndorsementStatus,
    FineStatus,
    GedFine,
)
from polis.endorsements.tasks import SEND_FINE_TASK
from polis.ged.adapter import DEMO_LEDGER_PATH, LedgerGedDatabase
from polis.kit import clock, events
from polis.kit.db import create_sessionmaker
from polis.kit.errors import PolisError
from polis.notifications.models import Notification, NotificationType
from polis.territories.models import Territory, TerritoryType
from polis.users.models import User, UserRole
from polis.worker import create_celery
from tests.conftest import ROOT, make_member, process_env, route_tasks_to
from tests.endorsements.helpers import (
    approved,
    audit_actions,
    client,
    error_of,
    geder,
    headers_now,
    newcomer,
    notifications_of,
)
from tests.units.factories import next_phone, territory

QUEUE = "polis-test-endorsement-fines"


async def test_first_offence_six_months_second_permanent_fine_and_flags(
    db_session: AsyncSession, settings: Settings, district: Territory, app: FastAPI, redis: Redis
) -> None:
    start = clock.freeze()
    g = await geder(db_session, settings, district.id)
    fraud = await newcomer(db_session, settings, district.id)
    honest = await newcomer(db_session, settings, district.id)
    fraud_link = await approved(db_session, fraud.user.id, g.user.id)
    await approved(db_session, honest.user.id, g.user.id)
    case_id = uuid.uuid4()

    await penalties.apply_fraud_penalty(
        db_session, settings, endorsement_id=fraud_link.id, case_id=case_id, actor_id=None
    )
    # Applying it again (a retried decision) changes nothing.
    await penalties.apply_fraud_penalty(
        db_session, settings, endorsement_id=fraud_link.id, case_id=case_id, actor_id=None
    )

    await db_session.refresh(fraud_link)
    assert (fraud_link.status, fraud_link.penalty, fraud_link.penalty_case_id) == (
        EndorsementStatus.REVOKED,
        True,
        case_id,
    )
    await db_session.refresh(fraud.user)
    assert fraud.user.role is UserRole.UNVERIFIED
    rights = await db_session.get_one(EndorsementRights, g.user.id, populate_existing=True)
    assert rights.suspended_until == penalties.add_months(start, 6)
    assert rights.suspended_permanently is False
    fines = (
        await db_session.scalars(select(GedFine).where(GedFine.guarantor_id == g.user.id))
    ).all()
    assert [(f.amount, f.status, f.ged_number, f.case_id) for f in fines] == [
        (penalties.FRAUD_FINE_GED, FineStatus.PENDING, g.user.ged_number, case_id)
    ]
    await db_session.refresh(honest.user)
    assert honest.user.flagged_for_review_at == start
    assert honest.user.review_reason == penalties.REVIEW_REASON
    assert (
        len(await notifications_of(db_session, honest.user.id, NotificationType.SUPPORTER_FLAGGED))
        == 1
    )
    penalty_notes = await notifications_of(
        db_session, g.user.id, NotificationType.ENDORSEMENT_PENALTY
    )
    assert [n.params["until"] for n in penalty_notes] == [
        penalties.add_months(start, 6).date().isoformat()
    ]
    assert "endorsements.penalty.applied" in await audit_actions(db_session, fraud_link.id)

    # The send is enqueued once, after commit, as the broker holds it.
    await redis.delete(QUEUE)
    try:
        route_tasks_to(app, settings, QUEUE)
        await events.dispatch(db_session, send_task=app.state.send_task, redis=None)
        raw = await redis.lrange(QUEUE, 0, -1)
        assert len(raw) == 1
        message = json.loads(raw[0])
        assert message["headers"]["task"] == SEND_FINE_TASK
        args, kwargs, _ = json.loads(base64.b64decode(message["body"]))
        assert (args, kwargs) == ([str(fines[0].id)], {})
    finally:
        await redis.delete(QUEUE)

    # The GeDer sees the suspension, and cannot approve while it runs.
    async with client(settings, db_session) as http:
        status = await http.get("/api/v1/endorsements/my-status", headers=headers_now(settings, g))
        suspension = status.json()["data"]["suspension"]
        assert suspension["suspended"] is True and suspension["permanent"] is False
        assert status.json()["data"]["can_endorse"] is False

    # Six months on, the suspension is over; a second confirmed fraud is for good.
    clock.freeze(penalties.add_months(start, 6))
    assert not rights.is_suspended(clock.now())
    second = await newcomer(db_session, settings, district.id)
    second_link = await approved(db_session, second.user.id, g.user.id)
    await penalties.apply_fraud_penalty(
        db_session, settings, endorsement_id=second_link.id, case_id=uuid.uuid4(), actor_id=None
    )
    rights = await db_session.get_one(EndorsementRights, g.user.id, populate_existing=True)
    assert rights.suspended_permanently is True
    assert rights.is_suspended(clock.now())
    assert (
        len(
            (
                await db_session.scalars(select(GedFine).where(GedFine.guarantor_id == g.user.id))
            ).all()
        )
        == 2
    )

    # An endorsement never approved cannot be penalised.
    asker = await newcomer(db_session, settings, district.id)
    other_geder = await geder(db_session, settings, district.id)
    request = await service.request_endorsement(
        db_session, asker.user, geder_id=other_geder.user.id, message=None
    )
    with pytest.raises(PolisError) as refused:
        await penalties.apply_fraud_penalty(
            db_session, settings, endorsement_id=request.id, case_id=uuid.uuid4(), actor_id=None
        )
    assert refused.value.error.code == 3019


async def test_admin_lifts_a_suspension(
    db_session: AsyncSession, settings: Settings, district: Territory
) -> None:
    clock.freeze()
    g = await geder(db_session, settings, district.id)
    admin = await make_member(db_session, settings, next_phone(), admin=True)
    fraud = await newcomer(db_session, settings, district.id)
    link = await approved(db_session, fraud.user.id, g.user.id)
    await penalties.apply_fraud_penalty(
        db_session, settings, endorsement_id=link.id, case_id=uuid.uuid4(), actor_id=admin.user.id
    )
    url = f"/api/v1/admin/geders/{g.user.id}/lift-suspension"
    async with client(settings, db_session) as http:
        assert error_of(await http.post(url, headers=g.headers)) == (403, 1004)
        assert error_of(
            await http.post(
                f"/api/v1/admin/geders/{uuid.uuid4()}/lift-suspension", headers=admin.headers
            )
        ) == (404, 4001)
        lifted = await http.post(url, headers=admin.headers)
        assert lifted.status_code == 200
        assert lifted.json()["data"]["suspension"]["suspended"] is False
        status = await http.get("/api/v1/endorsements/my-status", headers=g.headers)
        assert status.json()["data"]["can_endorse"] is True
    rights = await db_session.get_one(EndorsementRights, g.user.id, populate_existing=True)
    assert rights.suspended_until is None and rights.lifted_by_id == admin.user.id
    assert "endorsements.suspension.lifted" in await audit_actions(db_session, g.user.id)
    assert (
        len(
            await notifications_of(
                db_session, g.user.id, NotificationType.ENDORSEMENT_SUSPENSION_LIFTED
            )
        )
        == 1
    )


@pytest.fixture
def fines_dir(settings: Settings, tmp_path: Path) -> Iterator[Path]:
    """A real worker (the product's Celery app plus these tasks) consuming only QUEUE, whose
    ledger records fines under ``tmp_path``."""
    env = process_env(settings, POLIS_DATA_DIR=str(tmp_path))
    command = [sys.executable, "-m", "celery", "-A", "tests.endorsements.worker_app", "worker"]
    worker = subprocess.Popen(
        [*command, "-Q", QUEUE, "-c", "1", "-l", "WARNING"],
        env=env,
        cwd=ROOT,
        start_new_session=True,
    )
    try:
        yield tmp_path
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()


async def _wait_until_sent(engine: AsyncEngine, fine_id: uuid.UUID) -> GedFine:
    """Poll until the worker marked the fine sent (bounded: a worker boots first)."""
    maker = create_sessionmaker(engine)
    stored: GedFine | None = None
    async with asyncio.timeout(60):
        while stored is None or stored.status is not FineStatus.SENT:
            async with maker() as session:
                stored = await session.get_one(GedFine, fine_id)
            if stored.status is not FineStatus.SENT:
                await asyncio.sleep(0.2)
    return stored


@pytest.mark.slow
async def test_the_worker_sends_the_fine_to_the_ledger(
    engine: AsyncEngine, settings: Settings, fines_dir: Path
) -> None:
    maker = create_sessionmaker(engine)
    async with maker() as session:
        district = await territory(session, TerritoryType.ELECTORAL_DISTRICT)
        g = await geder(session, settings, district.id)
        fraud = await newcomer(session, settings, district.id)
        link = await approved(session, fraud.user.id, g.user.id)
        await penalties.apply_fraud_penalty(
            session, settings, endorsement_id=link.id, case_id=uuid.uuid4(), actor_id=None
        )
        fine = await session.scalar(select(GedFine).where(GedFine.endorsement_id == link.id))
        assert fine is not None
        await session.commit()
        events.discard(session)
    user_ids = [g.user.id, fraud.user.id]
    try:
        create_celery(settings).send_task(SEND_FINE_TASK, args=[str(fine.id)], queue=QUEUE)
        stored = await _wait_until_sent(engine, fine.id)
        assert stored.attempts == 1 and stored.last_error is None
        ledger = LedgerGedDatabase(DEMO_LEDGER_PATH, fines_dir / "ged_fines.jsonl")
        assert ledger.fines() == [
            {"ged_number": g.user.ged_number, "amount": 500, "reference": str(fine.id)}
        ]
        # Sending again (the sweep, a redelivery) records nothing new.
        await ledger.record_fine(g.user.ged_number or "", 500, str(fine.id))
        assert len(ledger.fines()) == 1
    finally:
        async with maker() as session:
            await session.execute(delete(AuditLog).where(AuditLog.entity_id == str(link.id)))
            await session.execute(delete(Notification).where(Notification.user_id.in_(user_ids)))
            await session.execute(delete(GedFine).where(GedFine.guarantor_id == g.user.id))
            await session.execute(delete(Endorsement).where(Endorsement.geder_id == g.user.id))
            await session.execute(
                delete(EndorsementRights).where(EndorsementRights.user_id == g.user.id)
            )
            await session.execute(delete(AuthSession).where(AuthSession.user_id.in_(user_ids)))
            await session.execute(delete(User).where(User.id.in_(user_ids)))
            await session.execute(delete(Territory).where(Territory.id == district.id))
            await session.commit()
