"""Background work of SOS signals: the deadline sweep, every 5 minutes (DESIGN.md §3.9).

``polis.sos.deadline_sweep`` moves every overdue signal up one leader, with the system as
actor: pending signals past their verification deadline (1 h critical, 6 h high, 24 h normal,
72 h low) and verified or escalated ones unresolved 48 h at their level. It works in bounded
batches, one transaction each: lock up to ``sos_sweep_batch_size`` overdue rows with
``FOR UPDATE SKIP LOCKED`` (ids first), move them, commit, then send what the batch raised
(real-time events, media emails). Two sweeps at once split the rows between them; a moved
signal's deadline is in the future, so a repeated run finds nothing to do (idempotent).
"""

from __future__ import annotations

from dataclasses import dataclass

from celery import shared_task
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from polis.config import Settings, get_settings
from polis.kit.events import SendTask, commit_and_dispatch, send_from_worker
from polis.kit.jobs import JobResources, run_job
from polis.kit.logging import get_logger
from polis.sos import escalation

SWEEP_TASK = "polis.sos.deadline_sweep"

log = get_logger(__name__)


@dataclass(frozen=True)
class SweepResult:
    batches: int
    taken: int
    moved: int


async def sweep(
    maker: async_sessionmaker[AsyncSession],
    settings: Settings,
    *,
    send_task: SendTask | None,
    redis: Redis | None,
) -> SweepResult:
    """Batches until none is full (nothing overdue is left unlocked), at most
    ``sos_sweep_max_batches`` of them; the next run takes the rest."""
    batches = taken = moved = 0
    size = settings.sos_sweep_batch_size
    while batches < settings.sos_sweep_max_batches:
        async with maker() as session:
            batch_taken, batch_moved = await escalation.sweep_batch(session, settings, limit=size)
            # Events and emails leave only once the batch's commit stands.
            await commit_and_dispatch(session, redis=redis, send_task=send_task)
        batches += 1
        taken += batch_taken
        moved += batch_moved
        if batch_taken < size:
            break
    return SweepResult(batches=batches, taken=taken, moved=moved)


def run_sweep(settings: Settings, *, send_task: SendTask | None = None) -> SweepResult:
    """One sweep on a small engine of its own, in an event loop of its own (``run_job``: a
    Celery task runs outside any)."""

    async def work(job: JobResources) -> SweepResult:
        return await sweep(job.maker, settings, send_task=send_task, redis=job.redis)

    return run_job(settings, work)


@shared_task(name=SWEEP_TASK, acks_late=True)
def deadline_sweep() -> int:
    """Move every overdue signal up one leader. Idempotent; safe with two workers at once."""
    result = run_sweep(get_settings(), send_task=send_from_worker)
    log.info("sos.deadline_sweep", batches=result.batches, moved=result.moved)
    return result.moved
