"""Background work of gamification: the hourly milestone sweep.

``polis.gamification.milestone_sweep`` awards every milestone that is due, in one
transaction, and ends it with ``commit_and_dispatch``: the real-time ``notification.new``
events and the delivery jobs of the push and email copies leave once the commit stands, as
they do after a request (the delivery outbox sweep stays the safety net for a lost send).
"""

from __future__ import annotations

from celery import shared_task
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from polis.config import Settings, get_settings
from polis.gamification import service
from polis.kit.events import SendTask, commit_and_dispatch, send_from_worker
from polis.kit.jobs import JobResources, run_job
from polis.kit.logging import get_logger

SWEEP_TASK = "polis.gamification.milestone_sweep"

log = get_logger(__name__)


async def sweep(
    maker: async_sessionmaker[AsyncSession],
    *,
    send_task: SendTask | None,
    redis: Redis | None,
) -> int:
    """Award whatever is due, in one transaction; the number of awards made.

    After the commit the notifications' delivery jobs go out through ``send_task`` and their
    real-time events through ``redis``; without them the notifications and delivery rows are
    still written (the outbox sweep sends them, the list shows them).
    """
    async with maker() as session:
        awarded = await service.award_milestones(session)
        await commit_and_dispatch(session, redis=redis, send_task=send_task)
    return len(awarded)


def run_sweep(settings: Settings, *, send_task: SendTask | None = None) -> int:
    """One sweep on a small engine of its own, in an event loop of its own (``run_job``: a
    Celery task runs outside any)."""

    async def work(job: JobResources) -> int:
        return await sweep(job.maker, send_task=send_task, redis=job.redis)

    return run_job(settings, work)


@shared_task(name=SWEEP_TASK, acks_late=True)
def milestone_sweep() -> int:
    """Award every milestone that is due. Idempotent: a rerun (or a second sweep at once)
    awards and notifies nothing twice."""
    awarded = run_sweep(get_settings(), send_task=send_from_worker)
    log.info("gamification.milestone_sweep", awarded=awarded)
    return awarded
