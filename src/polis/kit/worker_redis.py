"""A synchronous Redis client for Celery tasks (which run outside any event loop)."""

from __future__ import annotations

from functools import lru_cache

import redis

from polis.config import get_settings


@lru_cache(maxsize=1)
def sync_redis() -> redis.Redis:
    url = get_settings().redis_url
    if url is None:
        raise RuntimeError("POLIS_REDIS_URL is not set for this worker")
    return redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
