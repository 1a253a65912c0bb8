"""Background work of the endorsements domain: request expiry and the GeD fines outbox.

- ``polis.endorsements.expire_requests`` (hourly): expires pending requests past their
  deadline. Idempotent.
- ``polis.endorsements.send_ged_fine`` (after a penalty commits, and from the sweep): sends one
  fine to the GeD Database. It locks the fine's row while sending, so two copies of the task
  never send at once; a fine already ``sent`` is not sent again; the fine's id is its
  reference at the GeD Database, so a send repeated after a crash is recorded once. A failure
  is written to the row (``failed``, ``attempts``, ``last_error``) and retried with
  exponential backoff.
- ``polis.endorsements.sweep_ged_fines`` (hourly): enqueues every fine not yet ``sent``, so a
  fine whose task was lost, or whose retries ran out, is retried until accepted.
"""

from __future__ import annotations

import uuid
from typing import Any

from celery import Task, shared_task
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from polis.config import Settings, get_settings
from polis.endorsements import penalties, queries, service
from polis.endorsements.models import FineStatus, GedFine
from polis.ged.adapter import ged_database
from polis.kit import clock
from polis.kit.errors import PolisError
from polis.kit.events import SendTask, commit_and_dispatch, send_from_worker
from polis.kit.jobs import JobResources, run_job
from polis.kit.logging import get_logger

EXPIRE_TASK = "polis.endorsements.expire_requests"
SEND_FINE_TASK = penalties.SEND_FINE_TASK
SWEEP_FINES_TASK = "polis.endorsements.sweep_ged_fines"

# Retries of one send: 30 s, 60 s, 120 s … capped at an hour, then the hourly sweep takes over.
FINE_RETRY_BASE_SECONDS = 30
FINE_RETRY_MAX_SECONDS = 3600
FINE_MAX_RETRIES = 8

log = get_logger(__name__)


async def run_expiry(
    maker: async_sessionmaker[AsyncSession],
    *,
    redis: Redis | None = None,
    send_task: SendTask | None = None,
) -> int:
    """Expire what is due, in one transaction; then its notifications go out."""
    async with maker() as session:
        expired = await service.expire_requests(session)
        await commit_and_dispatch(session, redis=redis, send_task=send_task)
    return expired


async def _expire(job: JobResources) -> int:
    return await run_expiry(job.maker, redis=job.redis, send_task=send_from_worker)


@shared_task(name=EXPIRE_TASK, acks_late=True)
def expire_requests() -> int:
    """Expire pending endorsement requests older than seven days. Idempotent."""
    expired = run_job(get_settings(), _expire)
    log.info("endorsements.expired", count=expired)
    return expired


async def send_fine(
    maker: async_sessionmaker[AsyncSession],
    settings: Settings,
    fine_id: uuid.UUID,
    *,
    redis: Redis | None = None,
    send_task: SendTask | None = None,
) -> str | None:
    """Send one fine; returns None when done (sent now, already sent, or in other hands),
    else the failure's reason (already written to the row). Each outcome ends its
    transaction with ``commit_and_dispatch``."""
    async with maker() as session:
        fine = await session.scalar(
            select(GedFine).where(GedFine.id == fine_id).with_for_update(skip_locked=True)
        )
        if fine is None or fine.status is FineStatus.SENT:
            return None
        if fine.ged_number is None:
            # The guarantor's account was anonymised before the fine was recorded: nothing
            # to send it to. Left failed for an admin; no retry can change it.
            fine.status = FineStatus.FAILED
            fine.last_error = "no_ged_number"
            await commit_and_dispatch(session, redis=redis, send_task=send_task)
            return None
        fine.attempts += 1
        try:
            await ged_database(settings).record_fine(fine.ged_number, fine.amount, str(fine.id))
        except PolisError as exc:
            fine.status = FineStatus.FAILED
            fine.last_error = str(exc.details.get("reason") or exc.message)[:200]
            await commit_and_dispatch(session, redis=redis, send_task=send_task)
            return fine.last_error
        fine.status = FineStatus.SENT
        fine.sent_at = clock.now()
        fine.last_error = None
        await commit_and_dispatch(session, redis=redis, send_task=send_task)
    log.info("endorsements.fine_sent", fine_id=str(fine_id))
    return None


@shared_task(name=SEND_FINE_TASK, bind=True, acks_late=True, max_retries=FINE_MAX_RETRIES)
def send_ged_fine(self: Task[Any, Any], fine_id: str) -> bool:
    """Send the fine ``fine_id`` to the GeD Database; retried with backoff until accepted."""
    settings = get_settings()

    async def work(job: JobResources) -> str | None:
        return await send_fine(
            job.maker, settings, uuid.UUID(fine_id), redis=job.redis, send_task=send_from_worker
        )

    failure = run_job(settings, work)
    if failure is None:
        return True
    log.warning("endorsements.fine_failed", fine_id=fine_id, reason=failure)
    if self.request.retries >= FINE_MAX_RETRIES:
        # The hourly sweep enqueues it again.
        return False
    countdown = min(FINE_RETRY_BASE_SECONDS * 2**self.request.retries, FINE_RETRY_MAX_SECONDS)
    raise self.retry(countdown=countdown)


async def unsent_fines(maker: async_sessionmaker[AsyncSession]) -> list[uuid.UUID]:
    """The fines not yet accepted (a read: nothing to commit)."""
    async with maker() as session:
        return await queries.unsent_fine_ids(session)


async def _unsent(job: JobResources) -> list[uuid.UUID]:
    return await unsent_fines(job.maker)


@shared_task(name=SWEEP_FINES_TASK, acks_late=True)
def sweep_ged_fines() -> int:
    """Enqueue a send for every fine not yet accepted. Idempotent (sending is)."""
    ids = run_job(get_settings(), _unsent)
    for fine_id in ids:
        send_ged_fine.delay(str(fine_id))
    log.info("endorsements.fines_swept", count=len(ids))
    return len(ids)
