"""Operational checks: is each backing service reachable right now?"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from polis.ops.schemas import CheckResult, Readiness

CHECK_TIMEOUT_SECONDS = 2.0


async def _timed(probe: Callable[[], Awaitable[object]]) -> CheckResult:
    started = time.perf_counter()
    try:
        await asyncio.wait_for(probe(), timeout=CHECK_TIMEOUT_SECONDS)
    except TimeoutError:
        return CheckResult(ok=False, error="timed out")
    except Exception as exc:
        # The class name says what failed without echoing connection strings or hosts.
        return CheckResult(ok=False, error=type(exc).__name__)
    return CheckResult(ok=True, latency_ms=round((time.perf_counter() - started) * 1000, 2))


async def check_readiness(engine: AsyncEngine, redis: Redis) -> Readiness:
    """Probe PostgreSQL and Redis at once; ready only when both answer."""

    async def database() -> None:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def cache() -> None:
        await redis.ping()

    db_result, redis_result = await asyncio.gather(_timed(database), _timed(cache))
    ready = db_result.ok and redis_result.ok
    return Readiness(
        status="ready" if ready else "unavailable",
        checks={"database": db_result, "redis": redis_result},
    )
