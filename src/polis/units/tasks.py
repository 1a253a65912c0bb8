"""Background work of the units domain: the hourly hierarchy sweep."""

from __future__ import annotations

import asyncio

from celery import shared_task

from polis.config import Settings, get_settings
from polis.kit.db import create_engine, create_sessionmaker
from polis.kit.events import send_from_worker
from polis.kit.logging import get_logger
from polis.kit.redis import create_redis
from polis.units import hierarchy

SWEEP_TASK = "polis.units.hierarchy_sweep"

log = get_logger(__name__)


async def run_sweep(settings: Settings) -> int:
    """One sweep on its own small engine (a Celery task runs outside any event loop)."""
    if settings.database_url is None:
        raise RuntimeError("POLIS_DATABASE_URL is not set for this worker")
    engine = create_engine(settings.database_url, pool_size=1, max_overflow=0)
    redis = create_redis(settings.redis_url) if settings.redis_url else None
    try:
        return await hierarchy.sweep(
            create_sessionmaker(engine), redis=redis, send_task=send_from_worker
        )
    finally:
        await engine.dispose()
        if redis is not None:
            await redis.aclose()


@shared_task(name=SWEEP_TASK, acks_late=True)
def hierarchy_sweep() -> int:
    """Form every higher unit the data allows; growth after leader installs normally does it,
    the sweep catches what a failed or concurrent request left behind. Idempotent."""
    formed = asyncio.run(run_sweep(get_settings()))
    log.info("units.hierarchy_sweep", formed=formed)
    return formed
