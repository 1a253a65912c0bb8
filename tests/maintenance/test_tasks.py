"""The maintenance tasks run in a real worker process against the real database."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine

from polis.config import Settings
from polis.maintenance import service, tasks
from polis.maintenance.models import ActivityReport
from polis.worker import create_celery
from tests.conftest import process_env, running_worker


@pytest.fixture
def maintenance_worker(settings: Settings) -> Iterator[None]:
    env = process_env(settings, CELERY_CONFIG_MODULE="tests.maintenance.beat_config")
    with running_worker(env, "--concurrency", "1"):
        yield


@pytest.mark.slow
async def test_tasks_run_in_a_real_worker(
    settings: Settings, engine: AsyncEngine, maintenance_worker: None
) -> None:
    celery = create_celery(settings)
    assert isinstance(celery.send_task(tasks.PURGE_NOTIFICATIONS_TASK).get(timeout=60), int)
    cleanup = celery.send_task(tasks.INACTIVE_CLEANUP_TASK).get(timeout=60)
    assert set(cleanup) == {"accounts", "sessions"}
    report_id = uuid.UUID(celery.send_task(tasks.ACTIVITY_REPORT_TASK).get(timeout=60))
    # Idempotent: a second run returns the same stored report.
    assert uuid.UUID(celery.send_task(tasks.ACTIVITY_REPORT_TASK).get(timeout=60)) == report_id
    async with engine.begin() as conn:
        stored = await conn.execute(
            delete(ActivityReport)
            .where(ActivityReport.id == report_id)
            .returning(ActivityReport.period_start, ActivityReport.emailed_at)
        )
        period_start, emailed_at = stored.one()
    assert period_start == service.previous_day()[0]
    assert emailed_at is None
