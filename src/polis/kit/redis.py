"""Redis client plumbing (redis-py asyncio)."""

from __future__ import annotations

from redis.asyncio import Redis


def create_redis(url: str, *, max_connections: int = 50) -> Redis:
    return Redis.from_url(
        url,
        max_connections=max_connections,
        decode_responses=False,
        health_check_interval=30,
        socket_connect_timeout=2,
        socket_timeout=5,
    )
