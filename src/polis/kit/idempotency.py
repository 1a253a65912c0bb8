"""``Idempotency-Key`` for POSTs that create (DESIGN.md §4).

A route opts in by declaring the :data:`IdempotencyKey` dependency. The dependency claims the
key in Redis before the handler runs; :class:`IdempotencyMiddleware` records the answer once it
has been sent. A replay of the same key and body gets the first answer again (with
``Idempotent-Replayed: true``); the same key with another body gets 422; a replay while the first
request still runs gets 409. A 5xx answer releases the key so the client may retry.

No well-kept library does this for FastAPI on Redis with these three answers, so it is ours.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from redis.asyncio import Redis
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from polis.config import Settings
from polis.kit.errors import ErrorCode, PolisError
from polis.kit.http import request_subject
from polis.kit.logging import get_logger
from polis.kit.routing import errors

log = get_logger(__name__)

_PREFIX = "polis:idem"
_STATE_KEY = "idempotency"
IN_PROGRESS = "in_progress"
DONE = "done"


@dataclass(frozen=True)
class IdempotencyClaim:
    redis_key: str
    fingerprint: str
    ttl_seconds: int


class IdempotentReplay(Exception):
    """Raised by the dependency to answer with the stored response instead of running again."""

    def __init__(self, status: int, body: bytes, headers: list[tuple[str, str]]) -> None:
        self.status = status
        self.body = body
        self.headers = headers
        super().__init__("idempotent replay")


def _redis(request: Request) -> Redis:
    redis: Redis = request.app.state.redis
    return redis


@errors(ErrorCode.IDEMPOTENCY_KEY_REUSED, ErrorCode.REQUEST_IN_PROGRESS)
async def _claim(
    request: Request,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=255,
            description="Send the same key to retry safely: the first answer is replayed.",
        ),
    ] = None,
) -> IdempotencyClaim | None:
    if idempotency_key is None:
        return None
    settings: Settings = request.app.state.settings
    _, subject = request_subject(request)
    body = await request.body()
    fingerprint = hashlib.sha256(
        request.method.encode() + b" " + request.url.path.encode() + b"\n" + body
    ).hexdigest()
    scope_hash = hashlib.sha256(f"{subject}\n{idempotency_key}".encode()).hexdigest()
    redis_key = f"{_PREFIX}:{scope_hash}"
    record = json.dumps({"state": IN_PROGRESS, "fingerprint": fingerprint})
    redis = _redis(request)
    claimed = await redis.set(redis_key, record, nx=True, ex=settings.idempotency_lock_seconds)
    if not claimed:
        raw = await redis.get(redis_key)
        if raw is None:  # expired between SET and GET: treat as in flight, the client retries
            raise PolisError(error=ErrorCode.REQUEST_IN_PROGRESS)
        stored: dict[str, Any] = json.loads(raw)
        if stored["fingerprint"] != fingerprint:
            raise PolisError(
                error=ErrorCode.IDEMPOTENCY_KEY_REUSED, details={"header": "Idempotency-Key"}
            )
        if stored["state"] == IN_PROGRESS:
            raise PolisError(error=ErrorCode.REQUEST_IN_PROGRESS)
        raise IdempotentReplay(
            status=int(stored["status"]),
            body=base64.b64decode(stored["body"]),
            headers=[(k, v) for k, v in stored["headers"]],
        )
    claim = IdempotencyClaim(redis_key, fingerprint, settings.idempotency_ttl_seconds)
    request.state.idempotency = claim
    return claim


IdempotencyKey = Annotated[IdempotencyClaim | None, Depends(_claim)]

# Response headers worth replaying; hop-by-hop and per-request ones are not.
_REPLAYED_HEADERS = {"content-type", "location", "etag"}


class IdempotencyMiddleware:
    """Records the answer to a request whose key the dependency claimed."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        status = 0
        headers: list[tuple[str, str]] = []
        chunks: list[bytes] = []
        claim: IdempotencyClaim | None = None

        async def recording_send(message: Message) -> None:
            nonlocal status, claim
            if message["type"] == "http.response.start":
                claim = scope.get("state", {}).get(_STATE_KEY)
                status = int(message["status"])
                headers.extend(
                    (k.decode("latin-1"), v.decode("latin-1"))
                    for k, v in message.get("headers", [])
                    if k.decode("latin-1").lower() in _REPLAYED_HEADERS
                )
            elif message["type"] == "http.response.body" and claim is not None:
                chunks.append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            claim = claim or scope.get("state", {}).get(_STATE_KEY)
            if claim is not None:
                await self._finish(scope, claim, status, headers, b"".join(chunks))

    async def _finish(
        self,
        scope: Scope,
        claim: IdempotencyClaim,
        status: int,
        headers: list[tuple[str, str]],
        body: bytes,
    ) -> None:
        redis: Redis = scope["app"].state.redis
        try:
            if status == 0 or status >= 500:
                await redis.delete(claim.redis_key)
                return
            record = {
                "state": DONE,
                "fingerprint": claim.fingerprint,
                "status": status,
                "headers": headers,
                "body": base64.b64encode(body).decode(),
            }
            await redis.set(claim.redis_key, json.dumps(record), ex=claim.ttl_seconds)
        except Exception:
            log.warning("idempotency.record_failed")
