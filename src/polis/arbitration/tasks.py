"""Background work of arbitration: the hourly sweep that finds arbitrators for waiting cases."""

from __future__ import annotations

from celery import shared_task

from polis.arbitration import service
from polis.config import Settings, get_settings
from polis.kit.events import commit_and_dispatch
from polis.kit.jobs import JobResources, run_job
from polis.kit.logging import get_logger

ASSIGN_TASK = "polis.arbitration.assign_waiting"

log = get_logger(__name__)


async def assign_all_waiting(job: JobResources) -> int:
    """One sweep, one transaction; its notifications go out once it commits."""
    async with job.maker() as session:
        assigned = await service.assign_waiting(session)
        await commit_and_dispatch(session, redis=job.redis)
        return assigned


def run_assign_waiting(settings: Settings) -> int:
    """One sweep on its own small engine, in an event loop of its own (``run_job``: a task
    runs outside any)."""
    return run_job(settings, assign_all_waiting)


@shared_task(name=ASSIGN_TASK, acks_late=True)
def assign_waiting() -> int:
    """Give an arbitrator to every case that waits for one: a case filed where no leader and
    no admin could take it gets one once a leader is installed or an admin appointed.
    Idempotent (rows are locked with SKIP LOCKED; an assigned case is no longer waiting)."""
    assigned = run_assign_waiting(get_settings())
    log.info("arbitration.assign_waiting", assigned=assigned)
    return assigned
