"""``/ws``: who may connect, what they receive, and when."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from polis.auth.tokens import REVOKED_SESSION_KEY
from polis.config import Settings
from polis.kit import clock
from polis.realtime.router import HEARTBEAT_STATE_ATTR
from polis.realtime.schemas import BROADCAST_CHANNEL, CLOSE_UNAUTHORIZED
from tests.conftest import make_member
from tests.realtime.conftest import LiveServer

WAIT = 10.0  # an upper bound on waiting for a frame the server sends, never a pause


async def receive(ws: ClientConnection) -> dict[str, Any]:
    async with asyncio.timeout(WAIT):
        frame = await ws.recv()
    message: dict[str, Any] = json.loads(frame)
    return message


async def receive_event(ws: ClientConnection) -> dict[str, Any]:
    """The next frame that is not a heartbeat."""
    while True:
        message = await receive(ws)
        if message["event"] != "ping":
            return message


async def close_code(ws: ClientConnection) -> int | None:
    """The code the server closes ``ws`` with, after whatever frames it still sends."""
    with pytest.raises(ConnectionClosed) as closed:  # noqa: PT012 - frames may come first
        while True:
            await receive(ws)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code


@asynccontextmanager
async def subscribed(host: str, token: str) -> AsyncIterator[ClientConnection]:
    """A connection the server has subscribed (its first frame, ``ready``, arrived)."""
    async with connect(f"ws://{host}/ws?token={token}") as ws:
        ready = await receive(ws)
        assert ready["event"] == "ready", ready
        yield ws


@pytest.mark.parametrize("token", ["", "not-a-jwt", "eyJhbGciOiJIUzI1NiJ9.e30.bad"])
async def test_a_bad_token_is_closed_with_4401(live_server: LiveServer, token: str) -> None:
    async with live_server() as (_, host), connect(f"ws://{host}/ws?token={token}") as ws:
        assert await close_code(ws) == CLOSE_UNAUTHORIZED


async def test_no_token_is_closed_with_4401(live_server: LiveServer) -> None:
    async with live_server() as (_, host), connect(f"ws://{host}/ws") as ws:
        assert await close_code(ws) == CLOSE_UNAUTHORIZED


async def test_an_expired_token_is_closed_with_4401(
    live_server: LiveServer, db_session: AsyncSession, settings: Settings
) -> None:
    clock.freeze()
    member = await make_member(db_session, settings, "+995555700001")
    clock.advance(timedelta(seconds=settings.access_token_ttl_seconds + 1))
    async with live_server() as (_, host), connect(f"ws://{host}/ws?token={member.token}") as ws:
        assert await close_code(ws) == CLOSE_UNAUTHORIZED


async def test_a_revoked_session_is_closed_with_4401(
    live_server: LiveServer, db_session: AsyncSession, settings: Settings, redis: Redis
) -> None:
    member = await make_member(db_session, settings, "+995555700002")
    await redis.set(REVOKED_SESSION_KEY.format(member.session_id), "1")
    async with live_server() as (_, host), connect(f"ws://{host}/ws?token={member.token}") as ws:
        assert await close_code(ws) == CLOSE_UNAUTHORIZED


async def test_a_session_revoked_while_connected_is_closed_at_the_next_heartbeat(
    live_server: LiveServer, db_session: AsyncSession, settings: Settings, redis: Redis
) -> None:
    member = await make_member(db_session, settings, "+995555700003")
    state = {HEARTBEAT_STATE_ATTR: 0.05}
    async with (
        live_server(**state) as (_, host),
        subscribed(host, member.token) as ws,
    ):
        assert await receive(ws) == {"event": "ping"}
        await redis.set(REVOKED_SESSION_KEY.format(member.session_id), "1")
        assert await close_code(ws) == CLOSE_UNAUTHORIZED


async def test_the_heartbeat_ping_arrives(
    live_server: LiveServer, db_session: AsyncSession, settings: Settings
) -> None:
    member = await make_member(db_session, settings, "+995555700004")
    async with (
        live_server(**{HEARTBEAT_STATE_ATTR: 0.05}) as (_, host),
        subscribed(host, member.token) as ws,
    ):
        assert await receive(ws) == {"event": "ping"}
        assert await receive(ws) == {"event": "ping"}


async def test_a_committed_notification_arrives_and_a_rolled_back_one_does_not(
    live_server: LiveServer, db_session: AsyncSession, settings: Settings
) -> None:
    member = await make_member(db_session, settings, "+995555700005")
    other = await make_member(db_session, settings, "+995555700006")
    async with (
        live_server() as (app, host),
        subscribed(host, member.token) as ws,
        subscribed(host, other.token) as other_ws,
        httpx.AsyncClient(base_url=f"http://{host}") as http,
    ):
        rolled_back = await http.post(f"/api/v1/realtime-test/notify/{member.user.id}?fail=1")
        assert rolled_back.status_code == 404, rolled_back.text
        committed = await http.post(f"/api/v1/realtime-test/notify/{member.user.id}")
        assert committed.status_code == 200, committed.text
        message = await receive_event(ws)
        # The first event is the committed one: the rolled-back notify sent nothing.
        assert message["event"] == "notification.new"
        assert message["data"]["id"] == committed.json()
        assert message["data"]["type"] == "new_device_login"
        assert message["data"]["title"]
        # Another member's connection hears nothing of it, but does hear a broadcast.
        await app.state.redis.publish(
            BROADCAST_CHANNEL, json.dumps({"event": "system.notice", "data": {"n": 1}})
        )
        assert await receive_event(other_ws) == {"event": "system.notice", "data": {"n": 1}}
        assert await receive_event(ws) == {"event": "system.notice", "data": {"n": 1}}


async def test_one_redis_subscription_serves_many_connections(
    live_server: LiveServer, db_session: AsyncSession, settings: Settings, redis: Redis
) -> None:
    member = await make_member(db_session, settings, "+995555700007")
    count = 20
    # Other apps of the suite (the session-wide one) may hold their own subscription.
    [(_, before)] = await redis.pubsub_numsub(BROADCAST_CHANNEL)
    async with live_server() as (app, host):
        clients = [await connect(f"ws://{host}/ws?token={member.token}") for _ in range(count)]
        try:
            for ws in clients:
                assert (await receive(ws))["event"] == "ready"
            assert app.state.realtime_hub.connection_count == count
            # One subscription in Redis serves them all: this process added exactly one.
            assert await redis.pubsub_numsub(BROADCAST_CHANNEL) == [
                (BROADCAST_CHANNEL.encode(), before + 1)
            ]
            await redis.publish(
                f"polis:user:{member.user.id}",
                json.dumps({"event": "election.started", "data": {"election_id": "e1"}}),
            )
            for ws in clients:
                assert await receive_event(ws) == {
                    "event": "election.started",
                    "data": {"election_id": "e1"},
                }
        finally:
            for ws in clients:
                await ws.close()
