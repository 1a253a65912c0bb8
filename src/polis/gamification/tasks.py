"""Background work of gamification: the hourly milestone sweep."""

from __future__ import annotations

import asyncio

from celery import shared_task

from polis.config import Settings, get_settings
from polis.gamification import service
from polis.kit.jobs import job_resources
from polis.kit.logging import get_logger

SWEEP_TASK = "polis.gamification.milestone_sweep"

log = get_logger(__name__)


async def run_sweep(settings: Settings) -> int:
    """One sweep on its own small engine (a Celery task runs outside any event loop)."""
    async with job_resources(settings) as job:
        return await service.sweep(job.maker, job.redis)


@shared_task(name=SWEEP_TASK, acks_late=True)
def milestone_sweep() -> int:
    """Award every milestone that is due. Idempotent: a rerun (or a second sweep at once)
    awards and notifies nothing twice."""
    awarded = asyncio.run(run_sweep(get_settings()))
    log.info("gamification.milestone_sweep", awarded=awarded)
    return awarded
