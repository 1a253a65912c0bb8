"""Redis client plumbing (redis-py asyncio)."""

from __future__ import annotations

from redis.asyncio import BlockingConnectionPool, Redis

# How long a command waits for a free pooled connection before it fails.
POOL_WAIT_SECONDS = 5.0


def create_redis(url: str, *, max_connections: int = 50) -> Redis:
    """A client whose pool makes callers wait for a free connection under load.

    redis-py's default pool raises "Too many connections" as soon as ``max_connections`` are
    busy: under a burst (64 concurrent votes, each touching Redis for its rate limit, token
    check and cache) that turned into 503s. Waiting a few milliseconds is the right answer.
    """
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=POOL_WAIT_SECONDS,
        decode_responses=False,
        health_check_interval=30,
        socket_connect_timeout=2,
        socket_timeout=5,
    )
    return Redis.from_pool(pool)
