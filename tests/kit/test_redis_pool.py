"""The Redis pool makes a burst wait for a free connection instead of failing it."""

from __future__ import annotations

import asyncio

from polis.kit.redis import create_redis


async def test_a_burst_larger_than_the_pool_waits_and_succeeds(
    server_urls: tuple[str, str],
) -> None:
    redis = create_redis(server_urls[1], max_connections=2)
    try:
        # Each BLPOP holds its connection for 50 ms on the server: 20 of them need the pool
        # ten times over. redis-py's default pool raised "Too many connections" here.
        results = await asyncio.gather(
            *(redis.blpop(["polis:test:pool-burst"], timeout=0.05) for _ in range(20))
        )
        assert results == [None] * 20
        assert len(redis.connection_pool._in_use_connections) == 0
    finally:
        await redis.aclose()
