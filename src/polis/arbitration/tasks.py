"""Background work of arbitration: the hourly sweep that finds arbitrators for waiting cases."""

from __future__ import annotations

import asyncio

from celery import shared_task

from polis.arbitration import service
from polis.config import Settings, get_settings
from polis.kit import events
from polis.kit.jobs import job_resources
from polis.kit.logging import get_logger

ASSIGN_TASK = "polis.arbitration.assign_waiting"

log = get_logger(__name__)


async def run_assign_waiting(settings: Settings) -> int:
    """One sweep, one transaction, on its own small engine (a task runs outside any loop)."""
    async with job_resources(settings) as job, job.maker() as session:
        assigned = await service.assign_waiting(session)
        await events.commit_and_dispatch(session, redis=job.redis)
        return assigned


@shared_task(name=ASSIGN_TASK, acks_late=True)
def assign_waiting() -> int:
    """Give an arbitrator to every case that waits for one: a case filed where no leader and
    no admin could take it gets one once a leader is installed or an admin appointed.
    Idempotent (rows are locked with SKIP LOCKED; an assigned case is no longer waiting)."""
    assigned = asyncio.run(run_assign_waiting(get_settings()))
    log.info("arbitration.assign_waiting", assigned=assigned)
    return assigned
