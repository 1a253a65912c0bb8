"""The vote with no web framework: the ceiling an HTTP vote could reach on this machine.

    make bench-elections ARGS="--api ceiling [--workers N]"

Not part of Polis: a measuring stick for ``bench.elections_vote``. It answers
``POST /api/v1/elections/{id}/vote`` with what the API's vote cannot do without: the same
uvicorn server, the same outermost middleware (request id, access log, metrics, idempotency
recording), the access token verified by ``polis.auth.tokens`` and its session's revocation
mark checked in Redis, then the service's own two statements
(``polis.elections.base.OPEN_BALLOT_BOX`` and ``polis.elections.casting.CAST_VOTE``) in one
transaction on a connection from the same SQLAlchemy pool, driven directly through asyncpg.
What it skips is what FastAPI and the ORM session add: routing through the included routers,
dependency solving, request and response models, the session's bookkeeping. It refuses nothing
the benchmark does not send (no eligibility order, no rate limit, no envelope for errors).

The server runs it as ``uvicorn bench.vote_ceiling:app`` with the ``POLIS_*`` environment of
the scratch `polis dev`.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import Receive, Scope, Send

from bench.elections_vote import cast_directly
from polis.auth.tokens import REVOKED_SESSION_KEY, decode_access_token
from polis.config import Settings
from polis.kit.db import create_engine
from polis.kit.idempotency import IdempotencyMiddleware
from polis.kit.logging import configure_logging
from polis.kit.middleware import RequestContextMiddleware
from polis.kit.redis import create_redis

ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class _State:
    """What the lifespan opens; ``scope["app"].state`` for the idempotency middleware."""

    settings: Settings
    engine: AsyncEngine
    redis: Redis


class _CeilingApp:
    def __init__(self) -> None:
        self.state = _State()
        self._wrapped: ASGIApp = RequestContextMiddleware(IdempotencyMiddleware(self._vote))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        scope["app"] = self
        await self._wrapped(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                settings = Settings(
                    data_dir=Path(os.environ["POLIS_DATA_DIR"]),
                    database_url=os.environ["POLIS_DATABASE_URL"],
                    redis_url=os.environ["POLIS_REDIS_URL"],
                    _env_file=None,
                )
                configure_logging(settings.log_level, settings.log_json)
                self.state.settings = settings
                self.state.engine = create_engine(
                    os.environ["POLIS_DATABASE_URL"],
                    pool_size=settings.db_pool_size,
                    max_overflow=settings.db_max_overflow,
                )
                self.state.redis = create_redis(os.environ["POLIS_REDIS_URL"])
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.state.redis.aclose()
                await self.state.engine.dispose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _vote(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] == "GET":  # the benchmark's readiness poll of /health
            await _answer(send, 200, {"status": "ok"})
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        election_id = uuid.UUID(scope["path"].split("/")[4])
        header = dict(scope["headers"])[b"authorization"].decode("latin-1")
        claims = decode_access_token(self.state.settings, header.partition(" ")[2])
        if await self.state.redis.exists(REVOKED_SESSION_KEY.format(claims.session_id)):
            await _answer(send, 401, {"success": False})
            return
        candidate_id = uuid.UUID(json.loads(body)["candidate_id"])
        async with self.state.engine.connect() as connection:
            driver = (await connection.get_raw_connection()).driver_connection
            assert driver is not None
            cast = await cast_directly(driver, election_id, claims.user_id, candidate_id)
        if cast is None:
            await _answer(send, 409, {"success": False})
            return
        vote_hash, now = cast
        vote = {"election_id": str(election_id), "vote_hash": vote_hash, "cast_at": now.isoformat()}
        await _answer(send, 200, {"success": True, "data": {"vote": vote}})


async def _answer(send: Send, status: int, payload: dict[str, Any]) -> None:
    body = json.dumps(payload).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


app = _CeilingApp()
