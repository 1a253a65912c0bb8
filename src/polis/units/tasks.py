"""Background work of the units domain: the hourly hierarchy sweep.

``polis.units.hierarchy_sweep`` grows every region where some led unit still waits for a
parent, one transaction per region, ended by ``commit_and_dispatch`` (what a region's growth
raised leaves once its commit stands). The growth itself, the rules, is
``hierarchy.grow``, which only flushes. Idempotent, and safe when two sweeps run at once: each
region's growth waits for the other's advisory lock and then finds nothing left to form.
"""

from __future__ import annotations

from celery import shared_task
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from polis.config import Settings, get_settings
from polis.kit.events import SendTask, commit_and_dispatch, send_from_worker
from polis.kit.jobs import JobResources, run_job
from polis.kit.logging import get_logger
from polis.units import hierarchy

SWEEP_TASK = "polis.units.hierarchy_sweep"

log = get_logger(__name__)


async def sweep(
    maker: async_sessionmaker[AsyncSession],
    *,
    redis: Redis | None = None,
    send_task: SendTask | None = None,
) -> int:
    """Grow every region, one transaction per region; return how many units formed. After
    each commit the region's notifications and events go out (``redis``, ``send_task``).

    Safe to run twice at once: each region's growth waits for the other's lock and then
    finds nothing left to form.
    """
    async with maker() as session:
        regions = await hierarchy.regions_with_candidates(session)
    formed = 0
    for region_id in regions:
        async with maker() as session:
            await hierarchy.lock_region(session, region_id)
            formed += len(await hierarchy.grow(session, region_id))
            await commit_and_dispatch(session, redis=redis, send_task=send_task)
    return formed


def run_sweep(settings: Settings, *, send_task: SendTask | None = None) -> int:
    """One sweep on a small engine of its own, in an event loop of its own (``run_job``: a
    Celery task runs outside any)."""

    async def work(job: JobResources) -> int:
        return await sweep(job.maker, redis=job.redis, send_task=send_task)

    return run_job(settings, work)


@shared_task(name=SWEEP_TASK, acks_late=True)
def hierarchy_sweep() -> int:
    """Form every higher unit the data allows; growth after leader installs normally does it,
    the sweep catches what a failed or concurrent request left behind. Idempotent."""
    formed = run_sweep(get_settings(), send_task=send_from_worker)
    log.info("units.hierarchy_sweep", formed=formed)
    return formed
