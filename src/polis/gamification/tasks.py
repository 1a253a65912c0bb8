"""Background work of gamification: the hourly milestone sweep."""

from __future__ import annotations

import asyncio

from celery import shared_task

from polis.config import Settings, get_settings
from polis.gamification import service
from polis.kit.db import create_engine, create_sessionmaker
from polis.kit.logging import get_logger
from polis.kit.redis import create_redis

SWEEP_TASK = "polis.gamification.milestone_sweep"

log = get_logger(__name__)


async def run_sweep(settings: Settings) -> int:
    """One sweep on its own small engine (a Celery task runs outside any event loop)."""
    if settings.database_url is None:
        raise RuntimeError("POLIS_DATABASE_URL is not set for this worker")
    engine = create_engine(settings.database_url, pool_size=1, max_overflow=0)
    redis = create_redis(settings.redis_url) if settings.redis_url else None
    try:
        return await service.sweep(create_sessionmaker(engine), redis)
    finally:
        await engine.dispose()
        if redis is not None:
            await redis.aclose()


@shared_task(name=SWEEP_TASK, acks_late=True)
def milestone_sweep() -> int:
    """Award every milestone that is due. Idempotent: a rerun (or a second sweep at once)
    awards and notifies nothing twice."""
    awarded = asyncio.run(run_sweep(get_settings()))
    log.info("gamification.milestone_sweep", awarded=awarded)
    return awarded
