"""Synchronous entry points the CLI uses for async service code."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from polis.admin.seed import SeedReport, seed_demo_data
from polis.config import Settings
from polis.elections.hooks import register as register_election_hooks
from polis.kit.events import commit_and_dispatch
from polis.kit.jobs import JobResources, run_job
from polis.models import import_all_models
from polis.users import service as users

T = TypeVar("T")


def in_transaction(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run ``work`` in one transaction on ``settings.database_url`` and commit it, the way a
    background job does (``run_job``, ``commit_and_dispatch``)."""

    import_all_models()
    register_election_hooks()

    async def main(job: JobResources) -> T:
        async with job.maker() as session:
            result = await work(session)
            # The CLI has no Celery app: a job the work raised is left to the sweeps that read
            # what is due from the database (the delivery outbox); events go out through Redis.
            await commit_and_dispatch(session, redis=job.redis, send_task=None)
            return result

    return run_job(settings, main)


def run_seed(settings: Settings) -> SeedReport:
    return in_transaction(settings, lambda session: seed_demo_data(session, settings))


def run_grant_admin(settings: Settings, phone: str) -> bool:
    async def work(session: AsyncSession) -> bool:
        _, changed = await users.grant_admin(session, settings, phone)
        return changed

    return in_transaction(settings, work)
