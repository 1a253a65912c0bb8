"""Real-time tests: the real app served by uvicorn on a real socket, in the test's loop."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import pytest
import uvicorn
from fastapi import APIRouter, FastAPI
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from polis.app import api_router, create_app
from polis.config import Settings
from polis.kit.deps import DbSession
from polis.kit.errors import NotFound
from polis.notifications import service as notifications
from polis.notifications.models import NotificationType
from polis.realtime import install_realtime
from polis.realtime.router import HEARTBEAT_STATE_ATTR
from tests.conftest import savepoint_sessionmaker

START_WAIT_SECONDS = 30.0

test_router = APIRouter(prefix="/realtime-test")


@test_router.post("/notify/{user_id}")
async def notify_route(user_id: uuid.UUID, session: DbSession, fail: bool = False) -> str:
    """Notify ``user_id`` in the request's transaction; with ``fail``, roll it back."""
    notification = await notifications.notify(
        session, user_id, NotificationType.NEW_DEVICE_LOGIN, {"device": "test rig"}
    )
    assert notification is not None
    if fail:
        raise NotFound("rolled back on purpose")
    return str(notification.id)


@asynccontextmanager
async def live_app(app: FastAPI) -> AsyncIterator[str]:
    """Serve ``app`` with uvicorn on a free port in this loop; yields ``host:port``."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="on"))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + START_WAIT_SECONDS
    try:
        while not server.started:
            assert not serving.done(), "uvicorn stopped while starting"
            assert loop.time() < deadline, "uvicorn did not start"
            await asyncio.sleep(0.01)  # polling a server that is starting
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await serving
        sock.close()


LiveServer = Callable[..., AbstractAsyncContextManager[tuple[FastAPI, str]]]


@pytest.fixture
def live_server(settings: Settings, db_session: AsyncSession) -> LiveServer:
    """The real app plus /ws and the test route, served for real; requests share the test's
    transaction (their commits release savepoints)."""

    @asynccontextmanager
    async def factory(**state: Any) -> AsyncIterator[tuple[FastAPI, str]]:
        app = create_app(settings)
        app.include_router(api_router(test_router))
        install_realtime(app)
        for name, value in state.items():
            setattr(app.state, name, value)
        async with live_app(app) as host:
            connection = db_session.bind
            assert isinstance(connection, AsyncConnection)
            app.state.sessionmaker = savepoint_sessionmaker(connection)
            yield app, host

    return factory


__all__ = ["HEARTBEAT_STATE_ATTR", "LiveServer", "live_app"]
