"""A Redis cache for GET answers, with ETag and 304 support.

Only the ``data`` part of an answer is cached; the envelope's ``meta`` (timestamp, request id)
is made fresh for each response. The ETag is a hash of the cached data, so it changes exactly
when the data does. Each namespace carries a version number: invalidating a namespace bumps it,
which retires every key in it at once without scanning Redis.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Request, Response
from fastapi.encoders import jsonable_encoder
from redis.asyncio import Redis

from polis.kit.envelope import make_meta
from polis.kit.logging import get_logger
from polis.kit.pagination import PageParams, list_meta

log = get_logger(__name__)

_PREFIX = "polis:cache"


@dataclass(frozen=True)
class Cached:
    data_json: str
    etag: str
    hit: bool


def _etag(data_json: str) -> str:
    return '"' + hashlib.sha256(data_json.encode()).hexdigest()[:32] + '"'


class ResponseCache:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def _version(self, namespace: str) -> int:
        raw = await self._redis.get(f"{_PREFIX}:{namespace}:version")
        return int(raw) if raw is not None else 0

    async def get_or_set(
        self, namespace: str, key: str, ttl_seconds: int, produce: Callable[[], Awaitable[Any]]
    ) -> Cached:
        """The cached data for ``key``, or what ``produce`` returns (then stored for ``ttl``)."""
        try:
            version = await self._version(namespace)
            full_key = f"{_PREFIX}:{namespace}:v{version}:{key}"
            stored = await self._redis.get(full_key)
        except Exception:
            # A cache that is down must not take the answer down with it.
            log.warning("cache.unavailable", namespace=namespace)
            data_json = json.dumps(jsonable_encoder(await produce()), separators=(",", ":"))
            return Cached(data_json=data_json, etag=_etag(data_json), hit=False)
        if stored is not None:
            data_json = stored.decode() if isinstance(stored, bytes) else str(stored)
            return Cached(data_json=data_json, etag=_etag(data_json), hit=True)
        data_json = json.dumps(jsonable_encoder(await produce()), separators=(",", ":"))
        try:
            await self._redis.set(full_key, data_json, ex=ttl_seconds)
        except Exception:
            log.warning("cache.write_failed", namespace=namespace)
        return Cached(data_json=data_json, etag=_etag(data_json), hit=False)

    async def invalidate(self, namespace: str) -> None:
        """Retire every cached answer in ``namespace``."""
        await self._redis.incr(f"{_PREFIX}:{namespace}:version")


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    candidates = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return etag in candidates


def cached_response(
    request: Request, cached: Cached, *, max_age: int, private: bool = False
) -> Response:
    """The envelope around cached data, or 304 when the client already holds this ETag."""
    cache_control = f"{'private' if private else 'public'}, max-age={max_age}"
    headers = {"ETag": cached.etag, "Cache-Control": cache_control}
    if _matches(request.headers.get("if-none-match"), cached.etag):
        return Response(status_code=304, headers=headers)
    meta = make_meta().model_dump(mode="json")
    # The cached data is already JSON: splice it in rather than decoding and encoding it again.
    body = f'{{"success":true,"data":{cached.data_json},"meta":{json.dumps(meta)}}}'
    return Response(content=body.encode(), media_type="application/json", headers=headers)


def response_cache(request: Request) -> ResponseCache:
    cache: ResponseCache = request.app.state.response_cache
    return cache


async def cached_answer(
    request: Request,
    namespace: str,
    key: str,
    ttl_seconds: int,
    produce: Callable[[], Awaitable[Any]],
    *,
    private: bool = False,
) -> Response:
    """The envelope around ``produce()``'s data, cached for ``ttl_seconds`` with ETag/304."""
    cached = await response_cache(request).get_or_set(namespace, key, ttl_seconds, produce)
    return cached_response(request, cached, max_age=ttl_seconds, private=private)


async def cached_page_answer(
    request: Request,
    namespace: str,
    key: str,
    ttl_seconds: int,
    params: PageParams,
    produce: Callable[[], Awaitable[Any]],
    *,
    private: bool = False,
) -> Response:
    """A cached page of a list: ``produce()`` returns ``{"items": [...], "total": n}``, and the
    answer is the list envelope with fresh list meta. ETag/304 as for any cached answer."""
    cached = await response_cache(request).get_or_set(namespace, key, ttl_seconds, produce)
    answer = cached_response(request, cached, max_age=ttl_seconds, private=private)
    if answer.status_code == 304:
        return answer
    data = json.loads(cached.data_json)
    meta = list_meta(int(data["total"]), params).model_dump(mode="json")
    body = json.dumps({"success": True, "data": data["items"], "meta": meta})
    return Response(
        content=body.encode(),
        media_type="application/json",
        headers={"ETag": cached.etag, "Cache-Control": answer.headers["cache-control"]},
    )
