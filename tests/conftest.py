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
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import IO, Any

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
from polis.auth.models import AuthSession, Device
from polis.auth.tokens import issue_access_token
from polis.config import Settings
from polis.elections.hooks import register as register_election_hooks
from polis.kit import clock, migrations
from polis.kit.db import create_engine
from polis.kit.embedded import EmbeddedServers, recreate_database
from polis.kit.events import TaskJob
from polis.kit.redis import create_redis
from polis.territories.models import Territory, TerritoryType
from polis.users import service as users_service
from polis.users.models import Language, MemberStatus, User, UserRole
from polis.worker import create_celery
from tests.support.declared_errors import record_errors

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


@pytest.fixture(scope="session", autouse=True)
def _domain_hooks() -> None:
    """The domain hooks, registered as the app and the worker do at start-up: many tests open
    sessions without the app."""
    register_election_hooks()


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


@contextmanager
def running_worker(
    env: dict[str, str], *args: str, output: IO[bytes] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """A real `polis worker` process (its own process group), stopped and reaped afterwards."""
    process = subprocess.Popen(
        [sys.executable, "-m", "polis", "worker", *args],
        env=env,
        stdout=output,
        stderr=subprocess.STDOUT if output is not None else None,
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


@pytest.fixture(scope="session")
def worker(server_urls: tuple[str, str], settings: Settings) -> Iterator[subprocess.Popen[bytes]]:
    """One real Celery worker process for the tests that need tasks to run (SMS, deliveries)."""
    with running_worker(process_env(settings), "--concurrency", "2") as process:
        yield process


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
    record_errors(app)
    if router is not None:
        app.include_router(api_router(router))
    async with app.router.lifespan_context(app):
        if connection is not None:
            app.state.sessionmaker = savepoint_sessionmaker(connection)
        yield app


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run tests/test_declared_errors.py last: it reads what every other test's requests
    answered."""
    last = [item for item in items if item.path.name == "test_declared_errors.py"]
    items[:] = [item for item in items if item.path.name != "test_declared_errors.py"] + last


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    record_errors(application)
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


def route_tasks_to(app: FastAPI, settings: Settings, queue: str) -> None:
    """Publish ``app``'s after-commit tasks through real Celery to ``queue``, which no worker
    consumes, so a test reads each message exactly as the broker holds it. Only the routing
    differs from the app's own publisher."""
    celery = create_celery(settings)

    def send_task(job: TaskJob) -> None:
        celery.send_task(job.name, args=list(job.args), kwargs=job.kwargs, queue=queue)

    app.state.send_task = send_task


@asynccontextmanager
async def app_client(
    settings: Settings,
    session: AsyncSession,
    router: APIRouter | None = None,
    *,
    ip: str = "127.0.0.1",
) -> AsyncIterator[httpx.AsyncClient]:
    """The real app (plus ``router``), its requests in the transaction of ``session``."""
    connection = session.bind
    assert isinstance(connection, AsyncConnection)
    async with (
        serve_app(settings, router, connection=connection) as app,
        client_for(app, ip=ip) as client,
    ):
        yield client


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


# --- answers -------------------------------------------------------------------------------


def envelope_body(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    """The envelope of ``response``, after checking its status, success flag and request id."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["success"] is (status < 400)
    assert body["meta"]["request_id"] == response.headers["x-request-id"]
    return body


def envelope_error(response: httpx.Response, status: int, code: int) -> dict[str, Any]:
    """The ``error`` of a failure envelope with this status and code (and no ``data``)."""
    body = envelope_body(response, status)
    assert body["error"]["code"] == code
    assert "data" not in body
    error: dict[str, Any] = body["error"]
    return error


# --- members -------------------------------------------------------------------------------


@dataclass
class Member:
    """A member with a live session and an access token, made straight in the database."""

    user: User
    session_id: uuid.UUID
    device_id: uuid.UUID
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def make_member(
    session: AsyncSession,
    settings: Settings,
    phone: str,
    *,
    onboarded: bool = False,
    role: UserRole = UserRole.UNVERIFIED,
    status: MemberStatus | None = None,
    admin: bool = False,
    first_name: str | None = None,
    last_name: str | None = None,
    territory_id: uuid.UUID | None = None,
    language: Language = Language.KA,
) -> Member:
    """A member in the given state, logged in on a device of their own."""
    user, _ = await users_service.get_or_create_by_phone(
        session, settings, phone, first_name=first_name, last_name=last_name, language=language
    )
    user.role = role
    user.is_admin = admin
    user.territory_id = territory_id
    if onboarded:
        user.onboarded_at = clock.now()
        user.constitution_agreed_at = clock.now()
        user.status = status or MemberStatus.PASSIVE
    device = Device(fingerprint_index=secrets.token_hex(16), device_type="android")
    session.add(device)
    await session.flush()
    now = clock.now()
    auth_session = AuthSession(
        user_id=user.id,
        device_id=device.id,
        last_seen_at=now,
        expires_at=now + timedelta(days=settings.refresh_token_ttl_days),
    )
    session.add(auth_session)
    await session.flush()
    token, _ = issue_access_token(settings, user.id, auth_session.id)
    return Member(user=user, session_id=auth_session.id, device_id=device.id, token=token)


@pytest.fixture
async def district(db_session: AsyncSession) -> Territory:
    """An electoral district (with its municipality and region) to live in."""
    suffix = secrets.token_hex(3)
    region = Territory(
        type=TerritoryType.REGION, code=f"R-{suffix}", name_ka="თბილისი", name_en="Tbilisi"
    )
    db_session.add(region)
    await db_session.flush()
    municipality = Territory(
        type=TerritoryType.MUNICIPALITY,
        code=f"M-{suffix}",
        name_ka="ვაკე",
        name_en="Vake",
        parent_id=region.id,
    )
    db_session.add(municipality)
    await db_session.flush()
    electoral = Territory(
        type=TerritoryType.ELECTORAL_DISTRICT,
        code=f"D-{suffix}",
        name_ka="ვაკის ოლქი",
        name_en="Vake district",
        parent_id=municipality.id,
    )
    db_session.add(electoral)
    await db_session.flush()
    return electoral
