"""Background work of the elections domain: the every-minute lifecycle job (DESIGN.md §3.9).

``polis.elections.lifecycle`` opens voting (or extends nominations once, then cancels and
reschedules when nobody stands), finalises every election whose voting has ended (tally,
Merkle root, winner or runoff, leader installed), and schedules the leader elections that are
due (a vacant seat, a new unit, a term near its end). Idempotent, and safe when two copies
run at once: every step holds the row lock of its election, and the open-seat unique index
refuses a second election for one seat.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict

from celery import shared_task

from polis.config import Settings, get_settings
from polis.elections import lifecycle as elections_lifecycle
from polis.kit.events import send_from_worker
from polis.kit.jobs import job_resources
from polis.kit.logging import get_logger

LIFECYCLE_TASK = "polis.elections.lifecycle"

log = get_logger(__name__)


async def run_lifecycle(settings: Settings) -> elections_lifecycle.LifecycleReport:
    """One pass on its own small engine (a Celery task runs outside any event loop)."""
    async with job_resources(settings) as job:
        return await elections_lifecycle.run_lifecycle(
            job.maker, redis=job.redis, send_task=send_from_worker
        )


@shared_task(name=LIFECYCLE_TASK, acks_late=True)
def lifecycle() -> dict[str, int]:
    """Open, finalise and schedule what the clock says is due. Idempotent."""
    report = asdict(asyncio.run(run_lifecycle(get_settings())))
    log.info("elections.lifecycle", **report)
    return report
