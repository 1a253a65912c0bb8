"""Prometheus metrics: HTTP traffic by route template, the database pool and Redis."""

from __future__ import annotations

import os
import time

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import QueuePool

HTTP_REQUESTS = Counter(
    "polis_http_requests_total",
    "HTTP requests by route template, method and status.",
    ["method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "polis_http_request_duration_seconds",
    "HTTP request latency by route template and method.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
HTTP_IN_PROGRESS = Gauge(
    "polis_http_requests_in_progress",
    "HTTP requests being handled.",
    multiprocess_mode="livesum",
)
DB_POOL = Gauge(
    "polis_db_pool_connections",
    "Database pool connections by state.",
    ["state"],
    multiprocess_mode="livesum",
)
REDIS_UP = Gauge("polis_redis_up", "1 when Redis answered PING.", multiprocess_mode="liveall")
REDIS_PING = Gauge(
    "polis_redis_ping_seconds", "Round trip of a Redis PING.", multiprocess_mode="liveall"
)
REDIS_CLIENTS = Gauge(
    "polis_redis_connected_clients", "Clients connected to Redis.", multiprocess_mode="liveall"
)
REDIS_MEMORY = Gauge(
    "polis_redis_used_memory_bytes", "Memory used by Redis.", multiprocess_mode="liveall"
)


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    HTTP_REQUESTS.labels(method=method, route=route, status=str(status)).inc()
    HTTP_LATENCY.labels(method=method, route=route).observe(seconds)


def _sample_db_pool(engine: AsyncEngine) -> None:
    pool = engine.sync_engine.pool
    if isinstance(pool, QueuePool):
        DB_POOL.labels(state="size").set(pool.size())
        DB_POOL.labels(state="checked_out").set(pool.checkedout())
        DB_POOL.labels(state="checked_in").set(pool.checkedin())
        DB_POOL.labels(state="overflow").set(pool.overflow())


async def _sample_redis(redis: Redis) -> None:
    started = time.perf_counter()
    try:
        await redis.ping()
        REDIS_PING.set(time.perf_counter() - started)
        info = await redis.info()
        REDIS_CLIENTS.set(float(info.get("connected_clients", 0)))
        REDIS_MEMORY.set(float(info.get("used_memory", 0)))
        REDIS_UP.set(1)
    except Exception:
        REDIS_UP.set(0)


async def render(engine: AsyncEngine | None, redis: Redis | None) -> tuple[bytes, str]:
    """Sample the pool and Redis, then render every metric in the text format."""
    if engine is not None:
        _sample_db_pool(engine)
    if redis is not None:
        await _sample_redis(redis)
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        # Several server processes: aggregate what each wrote into the shared folder.
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
