"""``GET /ws?token=ACCESS_TOKEN``: a member's real-time events (DESIGN.md §3.8).

The token is checked like the HTTP dependency checks it (signature, type, audience, issuer,
expiry against the clock seam, the revoked-session denylist). A refused token gets the
handshake accepted and then a close with code 4401: a close *before* accept becomes a plain
HTTP 403 in uvicorn, which neither browsers nor clients can tell apart from other failures.

Frames are text JSON ``{"event": ..., "data": ...}``. The first is
``{"event": "ready", "data": {"heartbeat_seconds": N}}``, sent once the connection is
subscribed: anything published after it reaches the client. The server sends ``{"event": "ping"}``
every ``HEARTBEAT_SECONDS`` (``app.state.realtime_heartbeat_seconds`` overrides it); at each
ping it checks the token again (expiry, revocation) and closes with 4401 when it no longer
holds. A client that cannot take a frame within ``SEND_TIMEOUT_SECONDS``, or lets
``QUEUE_SIZE`` frames pile up, is closed. What clients send is read and ignored.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from fastapi import APIRouter, Query, WebSocket, WebSocketDisconnect
from redis.asyncio import Redis
from starlette.websockets import WebSocketState

from polis.auth import tokens
from polis.auth.deps import is_session_revoked
from polis.auth.tokens import AccessClaims
from polis.config import Settings
from polis.kit import clock
from polis.kit.errors import AuthError
from polis.kit.logging import get_logger
from polis.realtime.hub import RealtimeHub, Subscriber
from polis.realtime.schemas import (
    CLOSE_GOING_AWAY,
    CLOSE_TOO_SLOW,
    CLOSE_TRY_AGAIN,
    CLOSE_UNAUTHORIZED,
    PING,
    READY,
)

log = get_logger(__name__)

HEARTBEAT_SECONDS = 25.0
SEND_TIMEOUT_SECONDS = 10.0
HEARTBEAT_STATE_ATTR = "realtime_heartbeat_seconds"
PING_FRAME = json.dumps({"event": PING})

router = APIRouter(tags=["realtime"])


async def _authorize(settings: Settings, redis: Redis, token: str | None) -> AccessClaims | None:
    if not token:
        return None
    try:
        claims = tokens.decode_access_token(settings, token)
    except AuthError:
        return None
    if await is_session_revoked(redis, str(claims.session_id)):
        return None
    return claims


async def _still_valid(redis: Redis, claims: AccessClaims) -> bool:
    if claims.expires_at <= clock.now():
        return False
    return not await is_session_revoked(redis, str(claims.session_id))


async def _close(websocket: WebSocket, code: int) -> None:
    if websocket.application_state is WebSocketState.CONNECTED:
        with contextlib.suppress(Exception):
            await websocket.close(code=code)


async def _send_loop(
    websocket: WebSocket,
    subscriber: Subscriber,
    redis: Redis,
    claims: AccessClaims,
    heartbeat: float,
) -> int:
    """Forward the subscriber's frames and the heartbeat; returns the close code to use."""
    loop = asyncio.get_running_loop()
    next_ping = loop.time() + heartbeat
    overflow = asyncio.ensure_future(subscriber.overflowed.wait())
    getter: asyncio.Future[str] | None = None
    try:
        while True:
            if getter is None:
                getter = asyncio.ensure_future(subscriber.queue.get())
            waiting: set[asyncio.Future[Any]] = {getter, overflow}
            done, _ = await asyncio.wait(
                waiting,
                timeout=max(0.0, next_ping - loop.time()),
                return_when=asyncio.FIRST_COMPLETED,
            )
            if overflow in done:
                return CLOSE_TOO_SLOW
            if getter in done:
                frame = getter.result()
                getter = None
            else:
                if not await _still_valid(redis, claims):
                    return CLOSE_UNAUTHORIZED
                frame = PING_FRAME
                next_ping = loop.time() + heartbeat
            await asyncio.wait_for(websocket.send_text(frame), SEND_TIMEOUT_SECONDS)
    finally:
        overflow.cancel()
        if getter is not None:
            getter.cancel()


async def _receive_loop(websocket: WebSocket) -> None:
    """Read (and ignore) what the client sends, until it goes away."""
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return


@router.websocket("/ws")
async def realtime(websocket: WebSocket, token: str | None = Query(default=None)) -> None:
    app = websocket.app
    settings: Settings = app.state.settings
    redis: Redis = app.state.redis
    await websocket.accept()
    claims = await _authorize(settings, redis, token)
    if claims is None:
        await websocket.close(code=CLOSE_UNAUTHORIZED, reason="invalid or expired token")
        return
    hub: RealtimeHub | None = getattr(app.state, "realtime_hub", None)
    if hub is None or not hub.running:
        await websocket.close(code=CLOSE_TRY_AGAIN)
        return
    subscriber = hub.add(str(claims.user_id))
    heartbeat = float(getattr(app.state, HEARTBEAT_STATE_ATTR, HEARTBEAT_SECONDS))
    try:
        # Subscribed from here on: what is published after this frame reaches the client.
        ready = {"event": READY, "data": {"heartbeat_seconds": heartbeat}}
        await asyncio.wait_for(websocket.send_text(json.dumps(ready)), SEND_TIMEOUT_SECONDS)
    except (Exception, asyncio.CancelledError):
        hub.remove(subscriber)
        raise
    sender = asyncio.ensure_future(_send_loop(websocket, subscriber, redis, claims, heartbeat))
    receiver = asyncio.ensure_future(_receive_loop(websocket))
    code = CLOSE_GOING_AWAY
    try:
        done, _ = await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
        if sender in done and not sender.cancelled() and sender.exception() is None:
            code = sender.result()
    except asyncio.CancelledError:
        code = CLOSE_GOING_AWAY
        raise
    finally:
        hub.remove(subscriber)
        for task in (sender, receiver):
            task.cancel()
        for task in (sender, receiver):
            with contextlib.suppress(asyncio.CancelledError, Exception, WebSocketDisconnect):
                await task
        await _close(websocket, code)
