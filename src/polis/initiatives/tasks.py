"""Background work of initiatives: the hourly answer-deadline sweep (DESIGN.md §3.9).

``polis.initiatives.deadline_sweep`` moves every initiative whose assignee did not answer
within the answer period one leader up, with the system as actor, and gives an assignee to
those that reached their target while nobody could take them. Bounded batches, one
transaction each, ended by ``commit_and_dispatch`` (what a batch raised leaves once its commit
stands); idempotent (a moved initiative has a fresh deadline) and safe when two workers run it
at once (rows are claimed with ``FOR UPDATE SKIP LOCKED``).
"""

from __future__ import annotations

from celery import shared_task
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from polis.config import Settings, get_settings
from polis.initiatives import handover
from polis.kit.events import SendTask, commit_and_dispatch, send_from_worker
from polis.kit.jobs import JobResources, job_resources, run_job
from polis.kit.logging import get_logger

SWEEP_TASK = "polis.initiatives.deadline_sweep"
# The sweep's bounds per run: what is left waits for the next hourly run.
SWEEP_BATCH_SIZE = 200
SWEEP_MAX_BATCHES = 20

log = get_logger(__name__)


async def answer_deadline_sweep(
    session: AsyncSession,
    settings: Settings,
    *,
    batch_size: int = SWEEP_BATCH_SIZE,
    max_batches: int = SWEEP_MAX_BATCHES,
    redis: Redis | None = None,
    send_task: SendTask | None = None,
) -> int:
    """Move every initiative past its answer deadline one leader up (the system as actor),
    and assign those that reached their target while nobody could take them. Commits after
    each batch, then sends what it buffered through ``redis`` and ``send_task`` (without
    them nothing is sent). Returns how many changed hands. Idempotent: a moved initiative has
    a fresh deadline; safe with two runs at once (SKIP LOCKED)."""
    total = 0
    for _ in range(max_batches):
        taken, moved = await handover.sweep_batch(session, settings, limit=batch_size)
        await commit_and_dispatch(session, redis=redis, send_task=send_task)
        total += moved
        # A short batch is the last; a batch where nothing could move (achieved initiatives
        # with nobody to take them) would only be read again.
        if taken < batch_size or moved == 0:
            break
    return total


async def sweep_job(
    job: JobResources,
    settings: Settings,
    *,
    batch_size: int = SWEEP_BATCH_SIZE,
    max_batches: int = SWEEP_MAX_BATCHES,
) -> int:
    """One sweep on a job's resources; follow-up tasks leave through the worker's app."""
    async with job.maker() as session:
        return await answer_deadline_sweep(
            session,
            settings,
            batch_size=batch_size,
            max_batches=max_batches,
            redis=job.redis,
            send_task=send_from_worker,
        )


async def run_deadline_sweep(
    settings: Settings,
    *,
    batch_size: int = SWEEP_BATCH_SIZE,
    max_batches: int = SWEEP_MAX_BATCHES,
) -> int:
    """One sweep on its own small engine, from code that already runs an event loop (the
    Celery task goes through ``run_job`` instead)."""
    async with job_resources(settings) as job:
        return await sweep_job(job, settings, batch_size=batch_size, max_batches=max_batches)


@shared_task(name=SWEEP_TASK, acks_late=True)
def deadline_sweep() -> int:
    """Move unanswered initiatives one leader up once their answer deadline has passed."""
    settings = get_settings()

    async def work(job: JobResources) -> int:
        return await sweep_job(job, settings)

    moved = run_job(settings, work)
    log.info("initiatives.deadline_sweep", moved=moved)
    return moved
