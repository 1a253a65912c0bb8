"""Scheduled housekeeping tasks (DESIGN.md §3.9); beat entries in ``polis.worker``.

- ``polis.maintenance.purge_notifications`` (daily): notification retention (§3.8).
- ``polis.maintenance.inactive_cleanup`` (weekly): never-onboarded accounts, dead sessions.
- ``polis.maintenance.activity_report`` (daily): stores yesterday's member activity report and
  emails it to the admins.

Each takes no arguments, is bounded per run and idempotent (a retry or a repeated run does
nothing more), acknowledged late, and enters async code through ``run_job``. The jobs here
own the transactions: the rules (service.py) only flush, and every transaction ends with
``commit_and_dispatch``. A job takes a session, so the tests run it inside their own
transaction (a commit there releases a savepoint).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from celery import shared_task
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from polis.config import get_settings
from polis.email.tasks import send_email
from polis.kit import clock
from polis.kit.events import SendTask, commit_and_dispatch, send_from_worker
from polis.kit.jobs import JobResources, run_job
from polis.kit.logging import get_logger
from polis.maintenance import service
from polis.maintenance.service import ACCOUNT_BATCH_SIZE, BATCH_SIZE, MAX_BATCHES

PURGE_NOTIFICATIONS_TASK = "polis.maintenance.purge_notifications"
INACTIVE_CLEANUP_TASK = "polis.maintenance.inactive_cleanup"
ACTIVITY_REPORT_TASK = "polis.maintenance.activity_report"

log = get_logger(__name__)


class Batch(Protocol):
    """One bounded batch of a job (service.py): how many rows it handled."""

    def __call__(
        self, session: AsyncSession, *, now: datetime, batch_size: int
    ) -> Awaitable[int]: ...


@dataclass(frozen=True)
class CleanupResult:
    accounts_anonymised: int
    sessions_deleted: int


async def in_batches(
    session: AsyncSession,
    batch: Batch,
    *,
    batch_size: int,
    max_batches: int,
    redis: Redis | None = None,
    send_task: SendTask | None = None,
) -> int:
    """Run ``batch`` until one comes back short, at most ``max_batches`` times, each in its own
    transaction ended with ``commit_and_dispatch``; the rows handled in all."""
    now = clock.now()
    total = 0
    for _ in range(max_batches):
        done = await batch(session, now=now, batch_size=batch_size)
        await commit_and_dispatch(session, redis=redis, send_task=send_task)
        total += done
        if done < batch_size:
            break
    return total


async def purge_expired_notifications(
    session: AsyncSession,
    *,
    batch_size: int = BATCH_SIZE,
    max_batches: int = MAX_BATCHES,
    redis: Redis | None = None,
    send_task: SendTask | None = None,
) -> int:
    """Delete notifications past retention; returns how many. Commits after each batch."""
    return await in_batches(
        session,
        service.purge_notifications_batch,
        batch_size=batch_size,
        max_batches=max_batches,
        redis=redis,
        send_task=send_task,
    )


async def anonymise_never_onboarded(
    session: AsyncSession,
    *,
    batch_size: int = ACCOUNT_BATCH_SIZE,
    max_batches: int = MAX_BATCHES,
    redis: Redis | None = None,
    send_task: SendTask | None = None,
) -> int:
    """Anonymise accounts never onboarded 30 days after registering (with their sessions);
    returns how many. Commits after each batch."""
    return await in_batches(
        session,
        service.anonymise_never_onboarded_batch,
        batch_size=batch_size,
        max_batches=max_batches,
        redis=redis,
        send_task=send_task,
    )


async def delete_dead_sessions(
    session: AsyncSession,
    *,
    batch_size: int = BATCH_SIZE,
    max_batches: int = MAX_BATCHES,
    redis: Redis | None = None,
    send_task: SendTask | None = None,
) -> int:
    """Delete sessions expired or revoked more than 30 days ago (their refresh tokens go with
    them); returns how many sessions. Commits after each batch."""
    return await in_batches(
        session,
        service.delete_dead_sessions_batch,
        batch_size=batch_size,
        max_batches=max_batches,
        redis=redis,
        send_task=send_task,
    )


async def clean_up_inactive(
    session: AsyncSession,
    *,
    batch_size: int = BATCH_SIZE,
    max_batches: int = MAX_BATCHES,
    redis: Redis | None = None,
    send_task: SendTask | None = None,
) -> CleanupResult:
    """The weekly job: never-onboarded accounts first, then dead sessions."""
    accounts = await anonymise_never_onboarded(
        session,
        batch_size=min(batch_size, ACCOUNT_BATCH_SIZE),
        max_batches=max_batches,
        redis=redis,
        send_task=send_task,
    )
    sessions = await delete_dead_sessions(
        session, batch_size=batch_size, max_batches=max_batches, redis=redis, send_task=send_task
    )
    return CleanupResult(accounts_anonymised=accounts, sessions_deleted=sessions)


def _queue_email(email: service.ReportEmail) -> None:
    send_email.apply_async(
        kwargs={
            "to": email.to,
            "subject": email.subject,
            "body": email.body,
            "dedupe_key": email.dedupe_key,
        }
    )


async def make_activity_report(
    session: AsyncSession,
    send: Callable[[service.ReportEmail], None],
    *,
    redis: Redis | None = None,
    send_task: SendTask | None = None,
) -> str:
    """Store yesterday's report (one transaction), then email it (a second one); its id.

    The report stands once its own transaction commits, whatever the email step does.
    ``send`` queues each email before ``emailed_at`` is stamped and committed, on purpose: a
    run that dies in between queues them again, and their dedupe keys send each once
    (``service.email_activity_report``).
    """
    start, end = service.previous_day()
    report, created = await service.create_activity_report(session, start, end)
    await commit_and_dispatch(session, redis=redis, send_task=send_task)
    emailed = await service.email_activity_report(session, report.id, send)
    await commit_and_dispatch(session, redis=redis, send_task=send_task)
    log.info(
        "maintenance.activity_report", report_id=str(report.id), created=created, emailed=emailed
    )
    return str(report.id)


@shared_task(name=PURGE_NOTIFICATIONS_TASK, acks_late=True)
def purge_notifications() -> int:
    async def work(job: JobResources) -> int:
        async with job.maker() as session:
            return await purge_expired_notifications(
                session, redis=job.redis, send_task=send_from_worker
            )

    deleted = run_job(get_settings(), work)
    log.info("maintenance.notifications_purged", count=deleted)
    return deleted


@shared_task(name=INACTIVE_CLEANUP_TASK, acks_late=True)
def inactive_cleanup() -> dict[str, int]:
    async def work(job: JobResources) -> CleanupResult:
        async with job.maker() as session:
            return await clean_up_inactive(session, redis=job.redis, send_task=send_from_worker)

    result = run_job(get_settings(), work)
    log.info(
        "maintenance.inactive_cleanup",
        accounts=result.accounts_anonymised,
        sessions=result.sessions_deleted,
    )
    return {"accounts": result.accounts_anonymised, "sessions": result.sessions_deleted}


@shared_task(name=ACTIVITY_REPORT_TASK, acks_late=True)
def activity_report() -> str:
    """Store yesterday's report (UTC) and email it to the admins who have an email address
    (``polis.email.send``), once: ``emailed_at`` is stamped, and a rerun sends nothing."""

    async def work(job: JobResources) -> str:
        async with job.maker() as session:
            return await make_activity_report(
                session, _queue_email, redis=job.redis, send_task=send_from_worker
            )

    return run_job(get_settings(), work)
