"""What a background job runs on: a small engine and a Redis client of its own.

A Celery task runs outside any event loop, so each run opens its own connections inside the
loop ``asyncio.run`` gives it and closes them before that loop ends.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TypeVar

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from polis.config import Settings
from polis.kit.db import create_engine, create_sessionmaker
from polis.kit.redis import create_redis


@dataclass(frozen=True)
class JobResources:
    maker: async_sessionmaker[AsyncSession]
    # None without POLIS_REDIS_URL: the job then publishes no real-time events.
    redis: Redis | None


@asynccontextmanager
async def job_resources(settings: Settings) -> AsyncIterator[JobResources]:
    """A one-connection engine and a (lazily connecting) Redis client for one job run."""
    if settings.database_url is None:
        raise RuntimeError("POLIS_DATABASE_URL is not set for this worker")
    engine = create_engine(settings.database_url, pool_size=1, max_overflow=0)
    redis = create_redis(settings.redis_url) if settings.redis_url else None
    try:
        yield JobResources(maker=create_sessionmaker(engine), redis=redis)
    finally:
        await engine.dispose()
        if redis is not None:
            await redis.aclose()


T = TypeVar("T")


def run_job(settings: Settings, work: Callable[[JobResources], Awaitable[T]]) -> T:
    """Run one job's ``work`` to the end on resources of its own, in a fresh event loop.

    The one way a Celery task enters async code: the engine and the Redis client live and die
    inside the loop ``asyncio.run`` gives this run.
    """

    async def main() -> T:
        async with job_resources(settings) as job:
            return await work(job)

    return asyncio.run(main())
