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
    await _open_each(maker, commit, to_open, report)
    await _finalize_each(maker, commit, to_finalize, report)
    async with maker() as session:
        unit_ids = await elections_lifecycle.due_units(session)
    await _schedule_each(maker, commit, unit_ids, report)
    return report


async def _open_each(
    maker: async_sessionmaker[AsyncSession],
    commit: Commit,
    election_ids: Sequence[uuid.UUID],
    report: LifecycleReport,
) -> None:
    for election_id in election_ids:
        try:
            async with maker() as session:
                outcome = await elections_lifecycle.open_voting(session, election_id)
                await commit(session)
        except Exception:
            report.failed += 1
            log.exception("elections.open_failed", election_id=str(election_id))
            continue
        if outcome is not None:
            setattr(report, outcome, getattr(report, outcome) + 1)


async def _finalize_each(
    maker: async_sessionmaker[AsyncSession],
    commit: Commit,
    election_ids: Sequence[uuid.UUID],
    report: LifecycleReport,
) -> None:
    for election_id in election_ids:
        try:
            async with maker() as session:
                done = await finalize(session, election_id)
                await commit(session)
        except Exception:
            report.failed += 1
            log.exception("elections.finalize_failed", election_id=str(election_id))
            continue
        report.finalized += int(done)


async def _schedule_each(
    maker: async_sessionmaker[AsyncSession],
    commit: Commit,
    unit_ids: Sequence[uuid.UUID],
    report: LifecycleReport,
) -> None:
    for unit_id in unit_ids:
        try:
            async with maker() as session:
                unit = await session.get(Unit, unit_id)
                scheduled = unit is not None and (
                    await elections_lifecycle.schedule_leader_election(session, unit) is not None
                )
                await commit(session)
        except Exception:
            report.failed += 1
            log.exception("elections.schedule_failed", unit_id=str(unit_id))
            continue
        report.scheduled += int(scheduled)


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
