"""Background work of arbitration: the hourly sweep that finds arbitrators for waiting cases."""

from __future__ import annotations

import asyncio

from celery import shared_task

from polis.arbitration import service
from polis.config import Settings, get_settings
from polis.kit import events
from polis.kit.db import create_engine, create_sessionmaker
from polis.kit.logging import get_logger
from polis.kit.redis import create_redis

ASSIGN_TASK = "polis.arbitration.assign_waiting"

log = get_logger(__name__)


async def run_assign_waiting(settings: Settings) -> int:
    """One sweep, one transaction, on its own small engine (a task runs outside any loop)."""
    if settings.database_url is None:
        raise RuntimeError("POLIS_DATABASE_URL is not set for this worker")
    engine = create_engine(settings.database_url, pool_size=1, max_overflow=0)
    redis = create_redis(settings.redis_url) if settings.redis_url else None
    try:
        async with create_sessionmaker(engine)() as session:
            assigned = await service.assign_waiting(session)
            await session.commit()
            # The notifications' real-time events go out only once the commit stands.
            await events.dispatch(session, send_task=events.send_from_worker, redis=redis)
            return assigned
    finally:
        await engine.dispose()
        if redis is not None:
            await redis.aclose()


@shared_task(name=ASSIGN_TASK, acks_late=True)
def assign_waiting() -> int:
    """Give an arbitrator to every case that waits for one: a case filed where no leader and
    no admin could take it gets one once a leader is installed or an admin appointed.
    Idempotent (rows are locked with SKIP LOCKED; an assigned case is no longer waiting)."""
    assigned = asyncio.run(run_assign_waiting(get_settings()))
    log.info("arbitration.assign_waiting", assigned=assigned)
    return assigned
