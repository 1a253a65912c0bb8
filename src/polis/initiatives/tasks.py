"""Background work of initiatives: the hourly answer-deadline sweep (DESIGN.md §3.9).

``polis.initiatives.deadline_sweep`` moves every initiative whose assignee did not answer
within the answer period one leader up, with the system as actor, and gives an assignee to
those that reached their target while nobody could take them. Bounded batches, one
transaction each; idempotent (a moved initiative has a fresh deadline) and safe when two
workers run it at once (rows are claimed with ``FOR UPDATE SKIP LOCKED``).
"""

from __future__ import annotations

import asyncio

from celery import shared_task
from sqlalchemy.ext.asyncio import AsyncSession

from polis.config import Settings, get_settings
from polis.initiatives import service
from polis.kit import events
from polis.kit.jobs import job_resources
from polis.kit.logging import get_logger

SWEEP_TASK = "polis.initiatives.deadline_sweep"

log = get_logger(__name__)


async def run_deadline_sweep(
    settings: Settings,
    *,
    batch_size: int = service.SWEEP_BATCH_SIZE,
    max_batches: int = service.SWEEP_MAX_BATCHES,
) -> int:
    """One sweep on its own small engine (a task runs outside any event loop)."""
    async with job_resources(settings) as job, job.maker() as session:

        async def send(session: AsyncSession) -> None:
            # The notifications' real-time events go out only once each batch's commit stands.
            await events.dispatch(session, send_task=events.send_from_worker, redis=job.redis)

        return await service.answer_deadline_sweep(
            session,
            settings,
            batch_size=batch_size,
            max_batches=max_batches,
            after_commit=send,
        )


@shared_task(name=SWEEP_TASK, acks_late=True)
def deadline_sweep() -> int:
    """Move unanswered initiatives one leader up once their answer deadline has passed."""
    moved = asyncio.run(run_deadline_sweep(get_settings()))
    log.info("initiatives.deadline_sweep", moved=moved)
    return moved
