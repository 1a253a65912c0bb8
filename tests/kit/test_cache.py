"""The GET cache: data kept in Redis for its TTL, ETag and Cache-Control, 304, invalidation."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta

import httpx
from fastapi import APIRouter, Request, Response
from redis.asyncio import Redis

from polis.kit import clock
from polis.kit.cache import cached_response, response_cache
from polis.kit.envelope import Envelope, ok
from tests.conftest import AppFactory

TTL = 300
MAX_AGE = 60
ETAG = re.compile(r'^"[0-9a-f]{32}"$')


def _router(produced: list[str]) -> APIRouter:
    """``produced`` records every time the data is really made, as ``namespace/name``."""
    router = APIRouter()

    @router.get("/cached/{namespace}/{name}")
    async def cached(
        request: Request, namespace: str, name: str, private: bool = False
    ) -> Response:
        async def produce() -> dict[str, object]:
            produced.append(f"{namespace}/{name}")
            return {"name": name, "made": len(produced)}

        hit = await response_cache(request).get_or_set(namespace, name, TTL, produce)
        return cached_response(request, hit, max_age=MAX_AGE, private=private)

    @router.post("/cached/{namespace}/invalidate")
    async def invalidate(request: Request, namespace: str) -> Envelope[str]:
        await response_cache(request).invalidate(namespace)
        return ok(namespace)

    return router


def _assert_cached_answer(response: httpx.Response, data: dict[str, object]) -> None:
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert ETAG.match(response.headers["etag"])
    assert response.headers["cache-control"] == f"public, max-age={MAX_AGE}"
    body = response.json()
    assert body["success"] is True
    assert body["data"] == data
    assert body["meta"]["request_id"] == response.headers["x-request-id"]


def _etag_of(stored: bytes) -> str:
    return '"' + hashlib.sha256(stored).hexdigest()[:32] + '"'


async def test_first_answer_has_etag_and_cache_control_and_the_data_is_stored_for_its_ttl(
    make_client: AppFactory, redis: Redis
) -> None:
    produced: list[str] = []
    async with make_client(_router(produced)) as http:
        response = await http.get("/api/v1/cached/things/alpha")

    _assert_cached_answer(response, {"name": "alpha", "made": 1})
    assert produced == ["things/alpha"]
    stored = await redis.get("polis:cache:things:v0:alpha")
    assert stored == b'{"name":"alpha","made":1}'
    # The ETag is the hash of exactly what is cached.
    assert response.headers["etag"] == _etag_of(stored)
    # The Redis TTL is the cache's, not the client's max-age.
    assert TTL - 5 < await redis.ttl("polis:cache:things:v0:alpha") <= TTL
    # Nothing has been invalidated yet, so the namespace has no version key.
    assert await redis.get("polis:cache:things:version") is None


async def test_second_request_is_served_from_the_cache_with_a_fresh_meta(
    make_client: AppFactory,
) -> None:
    produced: list[str] = []
    start = clock.freeze(datetime(2030, 5, 1, 12, 0, tzinfo=UTC))
    async with make_client(_router(produced)) as http:
        first = await http.get("/api/v1/cached/things/alpha")
        clock.advance(timedelta(minutes=3))
        second = await http.get("/api/v1/cached/things/alpha")

    data = {"name": "alpha", "made": 1}
    _assert_cached_answer(first, data)
    _assert_cached_answer(second, data)
    assert produced == ["things/alpha"]
    assert second.headers["etag"] == first.headers["etag"]
    # Only ``data`` was cached: each answer has its own request id and timestamp.
    assert first.json()["meta"]["request_id"] != second.json()["meta"]["request_id"]
    first_at = datetime.fromisoformat(first.json()["meta"]["timestamp"])
    second_at = datetime.fromisoformat(second.json()["meta"]["timestamp"])
    assert first_at == start
    assert second_at == start + timedelta(minutes=3)


async def test_if_none_match_with_the_etag_is_304_with_an_empty_body(
    make_client: AppFactory,
) -> None:
    produced: list[str] = []
    async with make_client(_router(produced)) as http:
        first = await http.get("/api/v1/cached/things/alpha")
        etag = first.headers["etag"]
        exact = await http.get("/api/v1/cached/things/alpha", headers={"If-None-Match": etag})
        weak = await http.get("/api/v1/cached/things/alpha", headers={"If-None-Match": f"W/{etag}"})
        among = await http.get(
            "/api/v1/cached/things/alpha",
            headers={"If-None-Match": f'"00000000000000000000000000000000", {etag}'},
        )
        star = await http.get("/api/v1/cached/things/alpha", headers={"If-None-Match": "*"})

    for response in (exact, weak, among, star):
        assert response.status_code == 304
        assert response.content == b""
        assert response.headers["etag"] == etag
        assert response.headers["cache-control"] == f"public, max-age={MAX_AGE}"
        assert response.headers["x-request-id"]
    assert produced == ["things/alpha"]


async def test_another_or_stale_etag_gets_the_full_answer(make_client: AppFactory) -> None:
    produced: list[str] = []
    async with make_client(_router(produced)) as http:
        first = await http.get("/api/v1/cached/things/alpha")
        other = await http.get(
            "/api/v1/cached/things/alpha",
            headers={"If-None-Match": '"00000000000000000000000000000000"'},
        )
        empty = await http.get("/api/v1/cached/things/alpha", headers={"If-None-Match": ""})

    data = {"name": "alpha", "made": 1}
    _assert_cached_answer(other, data)
    _assert_cached_answer(empty, data)
    assert other.headers["etag"] == first.headers["etag"]
    assert produced == ["things/alpha"]


async def test_invalidate_retires_every_key_of_the_namespace_and_only_that(
    make_client: AppFactory, redis: Redis
) -> None:
    produced: list[str] = []
    async with make_client(_router(produced)) as http:
        alpha = await http.get("/api/v1/cached/things/alpha")
        await http.get("/api/v1/cached/things/beta")
        await http.get("/api/v1/cached/others/gamma")
        invalidated = await http.post("/api/v1/cached/things/invalidate")
        assert invalidated.status_code == 200
        assert await redis.get("polis:cache:things:version") == b"1"

        # The client's ETag is stale now: the data is made again and answered in full.
        fresh = await http.get(
            "/api/v1/cached/things/alpha", headers={"If-None-Match": alpha.headers["etag"]}
        )
        again = await http.get("/api/v1/cached/things/alpha")
        beta = await http.get("/api/v1/cached/things/beta")
        gamma = await http.get("/api/v1/cached/others/gamma")

    _assert_cached_answer(fresh, {"name": "alpha", "made": 4})
    assert fresh.headers["etag"] != alpha.headers["etag"]
    _assert_cached_answer(again, {"name": "alpha", "made": 4})
    assert again.headers["etag"] == fresh.headers["etag"]
    _assert_cached_answer(beta, {"name": "beta", "made": 5})
    # Another namespace is untouched.
    _assert_cached_answer(gamma, {"name": "gamma", "made": 3})
    assert produced == [
        "things/alpha",
        "things/beta",
        "others/gamma",
        "things/alpha",
        "things/beta",
    ]
    assert await redis.get("polis:cache:others:version") is None
    stored = await redis.get("polis:cache:things:v1:alpha")
    assert stored == b'{"name":"alpha","made":4}'
    assert fresh.headers["etag"] == _etag_of(stored)
    assert TTL - 5 < await redis.ttl("polis:cache:things:v1:alpha") <= TTL


async def test_private_answers_say_so_in_cache_control(make_client: AppFactory) -> None:
    produced: list[str] = []
    async with make_client(_router(produced)) as http:
        response = await http.get("/api/v1/cached/me/alpha", params={"private": "true"})
        not_modified = await http.get(
            "/api/v1/cached/me/alpha",
            params={"private": "true"},
            headers={"If-None-Match": response.headers["etag"]},
        )

    assert response.status_code == 200
    assert response.headers["cache-control"] == f"private, max-age={MAX_AGE}"
    assert not_modified.status_code == 304
    assert not_modified.headers["cache-control"] == f"private, max-age={MAX_AGE}"
    assert produced == ["me/alpha"]
