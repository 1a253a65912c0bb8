"""Background work of the elections domain: the every-minute lifecycle job (DESIGN.md §3.9).

``polis.elections.lifecycle`` opens voting (or extends nominations once, then cancels and
reschedules when nobody stands), finalises every election whose voting has ended (tally,
Merkle root, winner or runoff, leader installed), and schedules the leader elections that are
due (a vacant seat, a new unit, a term near its end). One transaction per election or unit,
ended by ``commit_and_dispatch``, so one failure stops nothing else; the steps themselves
(``lifecycle.open_voting``, ``tally.finalize``, ``lifecycle.schedule_leader_election``) only
flush. Idempotent, and safe when two copies run at once: every step holds the row lock of its
election, and the open-seat unique index refuses a second election for one seat.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass

from celery import shared_task
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from polis.config import Settings, get_settings
from polis.elections import lifecycle as elections_lifecycle
from polis.elections.tally import finalize
from polis.kit import clock
from polis.kit.events import SendTask, commit_and_dispatch, send_from_worker
from polis.kit.jobs import JobResources, run_job
from polis.kit.logging import get_logger
from polis.units.models import Unit

LIFECYCLE_TASK = "polis.elections.lifecycle"

log = get_logger(__name__)


@dataclass
class LifecycleReport:
    opened: int = 0
    extended: int = 0
    cancelled: int = 0
    finalized: int = 0
    scheduled: int = 0
    failed: int = 0


Commit = Callable[[AsyncSession], Awaitable[None]]


async def lifecycle_pass(
    maker: async_sessionmaker[AsyncSession],
    *,
    redis: Redis | None = None,
    send_task: SendTask | None = None,
) -> LifecycleReport:
    """One pass of the every-minute job, one transaction per election or unit, so one failure
    stops nothing else. Safe to run twice at once (row locks; the open-seat unique index).
    After each commit the transaction's notifications and ``election.started`` events go out
    (through ``redis`` and ``send_task``)."""

    async def commit(session: AsyncSession) -> None:
        await commit_and_dispatch(session, redis=redis, send_task=send_task)

    report = LifecycleReport()
    async with maker() as session:
        to_open, to_finalize = await elections_lifecycle.due_elections(session, clock.now())
    await _each(
        maker,
        commit,
        to_open,
        elections_lifecycle.open_voting,
        report,
        failed="elections.open_failed",
    )
    await _each(maker, commit, to_finalize, _finalize, report, failed="elections.finalize_failed")
    async with maker() as session:
        unit_ids = await elections_lifecycle.due_units(session)
    await _each(
        maker,
        commit,
        unit_ids,
        _schedule,
        report,
        failed="elections.schedule_failed",
        key="unit_id",
    )
    return report


# A step of the pass on one election or unit: the LifecycleReport counter it adds to, if any.
Step = Callable[[AsyncSession, uuid.UUID], Awaitable[str | None]]


async def _finalize(session: AsyncSession, election_id: uuid.UUID) -> str | None:
    return "finalized" if await finalize(session, election_id) else None


async def _schedule(session: AsyncSession, unit_id: uuid.UUID) -> str | None:
    unit = await session.get(Unit, unit_id)
    if unit is None or await elections_lifecycle.schedule_leader_election(session, unit) is None:
        return None
    return "scheduled"


async def _each(
    maker: async_sessionmaker[AsyncSession],
    commit: Commit,
    ids: Sequence[uuid.UUID],
    step: Step,
    report: LifecycleReport,
    *,
    failed: str,
    key: str = "election_id",
) -> None:
    """Run ``step`` on each id in a transaction of its own: a failure is counted and logged,
    and stops nothing else."""
    for each_id in ids:
        try:
            async with maker() as session:
                counter = await step(session, each_id)
                await commit(session)
        except Exception:
            report.failed += 1
            log.exception(failed, **{key: str(each_id)})
            continue
        if counter is not None:
            setattr(report, counter, getattr(report, counter) + 1)


def run_lifecycle(settings: Settings, *, send_task: SendTask | None = None) -> LifecycleReport:
    """One pass on a small engine of its own, in an event loop of its own (``run_job``: a
    Celery task runs outside any)."""

    async def work(job: JobResources) -> LifecycleReport:
        return await lifecycle_pass(job.maker, redis=job.redis, send_task=send_task)

    return run_job(settings, work)


@shared_task(name=LIFECYCLE_TASK, acks_late=True)
def lifecycle() -> dict[str, int]:
    """Open, finalise and schedule what the clock says is due. Idempotent."""
    report = asdict(run_lifecycle(get_settings(), send_task=send_from_worker))
    log.info("elections.lifecycle", **report)
    return report
