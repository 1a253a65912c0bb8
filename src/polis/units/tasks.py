"""Background work of the units domain: the hourly hierarchy sweep."""

from __future__ import annotations

import asyncio

from celery import shared_task

from polis.config import Settings, get_settings
from polis.kit.events import send_from_worker
from polis.kit.jobs import job_resources
from polis.kit.logging import get_logger
from polis.units import hierarchy

SWEEP_TASK = "polis.units.hierarchy_sweep"

log = get_logger(__name__)


async def run_sweep(settings: Settings) -> int:
    """One sweep on its own small engine (a Celery task runs outside any event loop)."""
    async with job_resources(settings) as job:
        return await hierarchy.sweep(job.maker, redis=job.redis, send_task=send_from_worker)


@shared_task(name=SWEEP_TASK, acks_late=True)
def hierarchy_sweep() -> int:
    """Form every higher unit the data allows; growth after leader installs normally does it,
    the sweep catches what a failed or concurrent request left behind. Idempotent."""
    formed = asyncio.run(run_sweep(get_settings()))
    log.info("units.hierarchy_sweep", formed=formed)
    return formed
