"""Test infrastructure: real PostgreSQL and Redis, a schema built by Alembic, per-test rollback.

By default the suite starts the embedded servers in ``var/test`` (``POLIS_TEST_DATA_DIR``).
Set ``POLIS_TEST_DATABASE_URL`` and ``POLIS_TEST_REDIS_URL`` to use external servers instead;
the suite then empties that database's ``public`` schema and that Redis database.
"""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
)

from polis.app import api_router, create_app
from polis.config import Settings
from polis.kit import clock, migrations
from polis.kit.db import create_engine
from polis.kit.embedded import EmbeddedServers, recreate_database
from polis.kit.redis import create_redis

ROOT = Path(__file__).resolve().parents[1]
TEST_DATABASE = "polis_test"
# Two keys, so that rotation is exercised: "t2" encrypts, "t1" still decrypts.
TEST_KEYRING = ",".join(
    f"{key_id}:{base64.b64encode(secrets.token_bytes(32)).decode()}" for key_id in ("t2", "t1")
)


async def _reset_external_database(url: str) -> None:
    engine = create_engine(url, pool_size=1, max_overflow=0)
    async with engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    await engine.dispose()


@pytest.fixture(scope="session")
def server_urls() -> Iterator[tuple[str, str]]:
    """(database_url, redis_url) of a freshly migrated test database and an empty Redis."""
    database_url = os.environ.get("POLIS_TEST_DATABASE_URL")
    redis_url = os.environ.get("POLIS_TEST_REDIS_URL")
    servers: EmbeddedServers | None = None
    if database_url and redis_url:
        asyncio.run(_reset_external_database(database_url))
    else:
        data_dir = Path(os.environ.get("POLIS_TEST_DATA_DIR", ROOT / "var" / "test"))
        servers = EmbeddedServers(data_dir).start()
        asyncio.run(recreate_database(servers.postgres.admin_dsn, TEST_DATABASE))
        database_url = servers.postgres.dsn(TEST_DATABASE)
        redis_url = servers.redis_url
    migrations.upgrade(database_url)
    try:
        yield database_url, redis_url
    finally:
        if servers is not None:
            servers.stop()


@pytest.fixture(scope="session")
def settings(server_urls: tuple[str, str]) -> Settings:
    database_url, redis_url = server_urls
    return Settings(
        env="test",
        database_url=database_url,
        redis_url=redis_url,
        log_json=True,
        log_level="WARNING",
        secret_key=secrets.token_urlsafe(48),
        encryption_keys=TEST_KEYRING,
        blind_index_key=base64.b64encode(secrets.token_bytes(32)).decode(),
        _env_file=None,
    )


def process_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment for a child process (worker, CLI, server) that must share the suite's
    servers and keys."""
    assert settings.database_url
    assert settings.redis_url
    return {
        **os.environ,
        "POLIS_ENV": settings.env,
        "POLIS_DATABASE_URL": settings.database_url,
        "POLIS_REDIS_URL": settings.redis_url,
        "POLIS_SECRET_KEY": settings.secret("secret_key"),
        "POLIS_ENCRYPTION_KEYS": settings.secret("encryption_keys"),
        "POLIS_BLIND_INDEX_KEY": settings.secret("blind_index_key"),
        "POLIS_LOG_LEVEL": "WARNING",
        **extra,
    }


@pytest.fixture(scope="session")
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    assert settings.database_url
    engine = create_engine(settings.database_url, pool_size=5, max_overflow=5)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
async def redis(settings: Settings) -> AsyncIterator[Redis]:
    assert settings.redis_url
    client = create_redis(settings.redis_url)
    yield client
    await client.aclose()


async def clear_app_keys(redis: Redis) -> None:
    """Delete the application's keys (``polis:*``), leaving Celery's broker state alone."""
    async for key in redis.scan_iter(match="polis:*", count=1000):
        await redis.delete(key)


@pytest.fixture(autouse=True)
async def _clean_redis_and_clock(redis: Redis) -> AsyncIterator[None]:
    await clear_app_keys(redis)
    yield
    clock.unfreeze()


@pytest.fixture(scope="session")
def worker(server_urls: tuple[str, str], settings: Settings) -> Iterator[subprocess.Popen[bytes]]:
    """One real Celery worker process for the tests that need tasks to run (SMS, deliveries)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "polis", "worker", "--concurrency", "2"],
        env=process_env(settings),
        start_new_session=True,
    )
    try:
        yield process
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def client_for(app: FastAPI, ip: str = "127.0.0.1") -> httpx.AsyncClient:
    """An in-process HTTP client for ``app``, seen by the app as coming from ``ip``."""
    transport = httpx.ASGITransport(app=app, client=(ip, 123))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


def savepoint_sessionmaker(connection: AsyncConnection) -> async_sessionmaker[AsyncSession]:
    """Sessions on ``connection`` whose commits only release savepoints of its transaction."""
    return async_sessionmaker(
        bind=connection,
        expire_on_commit=False,
        autoflush=False,
        join_transaction_mode="create_savepoint",
    )


@asynccontextmanager
async def serve_app(
    settings: Settings,
    router: APIRouter | None = None,
    *,
    connection: AsyncConnection | None = None,
    **overrides: object,
) -> AsyncIterator[FastAPI]:
    """The real app, running, with ``router`` under /api/v1 and ``overrides`` in its settings.

    With ``connection``, requests run inside that connection's transaction (a test's
    ``db_session.bind``), so the test sees their writes and they vanish with its rollback.
    """
    app = create_app(settings.model_copy(update=overrides))
    if router is not None:
        app.include_router(api_router(router))
    async with app.router.lifespan_context(app):
        if connection is not None:
            app.state.sessionmaker = savepoint_sessionmaker(connection)
        yield app


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def db_session(app: FastAPI, engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """A session inside a transaction that is rolled back after the test.

    The app's requests share the same connection: their commits release savepoints, so the
    test sees what a request wrote and nothing outlives the test.
    """
    async with engine.connect() as connection:
        transaction = await connection.begin()
        maker = savepoint_sessionmaker(connection)
        original = app.state.sessionmaker
        app.state.sessionmaker = maker
        async with maker() as session:
            try:
                yield session
            finally:
                app.state.sessionmaker = original
                await transaction.rollback()


@pytest.fixture
async def client(app: FastAPI, db_session: AsyncSession) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


AppFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def make_client(settings: Settings) -> AppFactory:
    """A client for a fresh app with extra test routes under /api/v1 and changed settings.

    Used where a test needs a route the product does not have (one that fails on purpose) or
    settings of its own (a tiny rate limit); the app is otherwise the real one.
    """

    @asynccontextmanager
    async def factory(
        router: APIRouter | None = None, **overrides: object
    ) -> AsyncIterator[httpx.AsyncClient]:
        changed = settings.model_copy(update=overrides)
        async with serve_app(changed, router) as app, client_for(app) as http:
            yield http

    return factory
