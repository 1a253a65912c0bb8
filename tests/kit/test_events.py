"""Jobs and real-time events leave only after the request's transaction commits."""

from __future__ import annotations

import asyncio
import json

from fastapi import APIRouter
from redis.asyncio import Redis
from sqlalchemy import func, select

from polis.config import Settings
from polis.kit.deps import DbSession
from polis.kit.envelope import Envelope, ok
from polis.kit.errors import Conflict
from polis.kit.events import enqueue_task, publish_event
from polis.users import service as users
from polis.users.models import User
from tests.conftest import client_for, route_tasks_to, serve_app

CHANNEL = "polis:test:events"
QUEUE = "polis-test-events"
PHONE = "+995555000777"


def _router(settings: Settings) -> APIRouter:
    router = APIRouter()

    @router.post("/things")
    async def create(session: DbSession, fail: bool = False) -> Envelope[str]:
        user, _ = await users.get_or_create_by_phone(session, settings, PHONE)
        enqueue_task(session, "polis.ops.heartbeat")
        publish_event(session, CHANNEL, "thing.created", {"user_id": str(user.id)})
        if fail:
            raise Conflict("rolled back on purpose")
        return ok(str(user.id))

    return router


async def _next_message(pubsub: object, wait_seconds: float = 2.0) -> dict[str, object] | None:
    get = pubsub.get_message  # type: ignore[attr-defined]
    deadline = asyncio.get_running_loop().time() + wait_seconds
    while asyncio.get_running_loop().time() < deadline:
        message = await get(ignore_subscribe_messages=True, timeout=0.1)
        if message is not None:
            result: dict[str, object] = json.loads(message["data"])
            return result
    return None


async def test_commit_sends_the_job_and_the_event(settings: Settings, redis: Redis) -> None:
    await redis.delete(QUEUE)
    pubsub = redis.pubsub()
    await pubsub.subscribe(CHANNEL)
    try:
        async with serve_app(settings, _router(settings)) as app, client_for(app) as http:
            route_tasks_to(app, settings, QUEUE)
            response = await http.post("/api/v1/things")
        assert response.status_code == 200
        user_id = response.json()["data"]
        message = await _next_message(pubsub)
        assert message == {"event": "thing.created", "data": {"user_id": user_id}}
        # The job is on a Celery queue in the real broker.
        assert await redis.llen(QUEUE) == 1
        queued = json.loads(await redis.lindex(QUEUE, 0))  # type: ignore[arg-type]
        assert queued["headers"]["task"] == "polis.ops.heartbeat"
    finally:
        await pubsub.aclose()  # type: ignore[no-untyped-call]
        await _delete_user(settings)


async def test_rollback_drops_the_job_and_the_event(settings: Settings, redis: Redis) -> None:
    await redis.delete(QUEUE)
    pubsub = redis.pubsub()
    await pubsub.subscribe(CHANNEL)
    try:
        async with serve_app(settings, _router(settings)) as app, client_for(app) as http:
            route_tasks_to(app, settings, QUEUE)
            response = await http.post("/api/v1/things", params={"fail": "true"})
        assert response.status_code == 409
        assert await _next_message(pubsub, wait_seconds=0.5) is None
        assert await redis.llen(QUEUE) == 0
        assert await _count_users(settings) == 0
    finally:
        await pubsub.aclose()  # type: ignore[no-untyped-call]
        await _delete_user(settings)


async def _count_users(settings: Settings) -> int:
    from polis.kit.db import create_engine, create_sessionmaker

    assert settings.database_url
    engine = create_engine(settings.database_url, pool_size=1, max_overflow=0)
    try:
        async with create_sessionmaker(engine)() as session:
            index = users.phone_protector(settings).blind_index(PHONE)
            count = await session.scalar(
                select(func.count()).select_from(User).where(User.phone_index == index)
            )
            return int(count or 0)
    finally:
        await engine.dispose()


async def _delete_user(settings: Settings) -> None:
    from sqlalchemy import delete

    from polis.kit.db import create_engine

    assert settings.database_url
    engine = create_engine(settings.database_url, pool_size=1, max_overflow=0)
    try:
        async with engine.begin() as conn:
            index = users.phone_protector(settings).blind_index(PHONE)
            await conn.execute(delete(User).where(User.phone_index == index))
    finally:
        await engine.dispose()
