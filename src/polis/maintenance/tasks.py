"""Scheduled housekeeping tasks (DESIGN.md §3.9); beat entries in ``polis.worker``.

- ``polis.maintenance.purge_notifications`` (daily): notification retention (§3.8).
- ``polis.maintenance.inactive_cleanup`` (weekly): never-onboarded accounts, dead sessions.
- ``polis.maintenance.activity_report`` (daily): stores yesterday's member activity report and
  emails it to the admins.

Each takes no arguments, is bounded per run and idempotent (a retry or a repeated run does
nothing more), and acknowledged late.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from celery import shared_task
from sqlalchemy.ext.asyncio import AsyncSession

from polis.config import Settings, get_settings
from polis.email.tasks import send_email
from polis.kit.jobs import job_resources
from polis.kit.logging import get_logger
from polis.maintenance import service

PURGE_NOTIFICATIONS_TASK = "polis.maintenance.purge_notifications"
INACTIVE_CLEANUP_TASK = "polis.maintenance.inactive_cleanup"
ACTIVITY_REPORT_TASK = "polis.maintenance.activity_report"

log = get_logger(__name__)

T = TypeVar("T")


async def _in_session(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run ``work`` in one session of a small engine of its own (a Celery task runs outside any
    event loop)."""
    async with job_resources(settings) as job, job.maker() as session:
        return await work(session)


@shared_task(name=PURGE_NOTIFICATIONS_TASK, acks_late=True)
def purge_notifications() -> int:
    deleted = asyncio.run(_in_session(get_settings(), service.purge_notifications))
    log.info("maintenance.notifications_purged", count=deleted)
    return deleted


@shared_task(name=INACTIVE_CLEANUP_TASK, acks_late=True)
def inactive_cleanup() -> dict[str, int]:
    result = asyncio.run(_in_session(get_settings(), service.inactive_cleanup))
    log.info(
        "maintenance.inactive_cleanup",
        accounts=result.accounts_anonymised,
        sessions=result.sessions_deleted,
    )
    return {"accounts": result.accounts_anonymised, "sessions": result.sessions_deleted}


def _queue_email(email: service.ReportEmail) -> None:
    send_email.apply_async(
        kwargs={
            "to": email.to,
            "subject": email.subject,
            "body": email.body,
            "dedupe_key": email.dedupe_key,
        }
    )


async def _report(session: AsyncSession) -> str:
    start, end = service.previous_day()
    report, created = await service.create_activity_report(session, start, end)
    emailed = await service.email_activity_report(session, report.id, _queue_email)
    await session.commit()
    log.info(
        "maintenance.activity_report", report_id=str(report.id), created=created, emailed=emailed
    )
    return str(report.id)


@shared_task(name=ACTIVITY_REPORT_TASK, acks_late=True)
def activity_report() -> str:
    """Store yesterday's report (UTC) and email it to the admins who have an email address
    (``polis.email.send``), once: ``emailed_at`` is stamped, and a rerun sends nothing."""
    return asyncio.run(_in_session(get_settings(), _report))
