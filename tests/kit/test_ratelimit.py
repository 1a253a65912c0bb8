"""Rate limits: headers on every answer, 429 in the envelope past the limit, per key and per IP.

The sliding-window counter's window starts at the first hit; limits here are per day, so no run
outlives a window and the remaining counts are exact.
"""

from __future__ import annotations

import time

import httpx
from fastapi import APIRouter, Depends, Request, Response
from redis.asyncio import Redis

from polis.config import Settings
from polis.kit.cache import cached_response, response_cache
from polis.kit.envelope import Envelope, ok
from polis.kit.ratelimit import rate_limit
from tests.conftest import AppFactory, client_for, serve_app

DAY = 24 * 3600


async def _phone(request: Request) -> str:
    return request.query_params.get("phone", "")


def _router(calls: list[str]) -> APIRouter:
    router = APIRouter()

    @router.get("/ping")
    async def ping() -> Envelope[str]:
        calls.append("ping")
        return ok("pong")

    @router.post(
        "/send-code", dependencies=[Depends(rate_limit("rate_limit_send_code", key=_phone))]
    )
    async def send_code(phone: str) -> Envelope[str]:
        calls.append(phone)
        return ok(phone)

    @router.get("/cached")
    async def cached(request: Request) -> Response:
        async def produce() -> dict[str, str]:
            calls.append("cached")
            return {"answer": "cached"}

        hit = await response_cache(request).get_or_set("rl-test", "one", 60, produce)
        return cached_response(request, hit, max_age=60)

    return router


def _limit_headers(response: httpx.Response) -> tuple[int, int, int]:
    return (
        int(response.headers["x-ratelimit-limit"]),
        int(response.headers["x-ratelimit-remaining"]),
        int(response.headers["x-ratelimit-reset"]),
    )


def _assert_rate_limited(response: httpx.Response, limit: int, scope: str) -> None:
    assert response.status_code == 429
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == 1006
    assert body["error"]["name"] == "RATE_LIMITED"
    assert body["meta"]["request_id"] == response.headers["x-request-id"]
    details = body["error"]["details"]
    assert details["limit"] == limit
    assert details["scope"] == scope
    assert _limit_headers(response) == (limit, 0, details["reset_at"])
    retry_after = int(response.headers["retry-after"])
    # The reset is rounded up and "now" down, so Retry-After may exceed the window by a second.
    assert 1 <= retry_after <= DAY + 1
    # Retry-After counts the seconds to the reset the answer announces.
    assert abs(details["reset_at"] - time.time() - retry_after) <= 2


async def _counters(redis: Redis) -> dict[str, int]:
    """Every rate-limit counter in Redis: ``{"<name>/<key>/<rule>": hits in the window}``."""
    counters: dict[str, int] = {}
    for raw in await redis.keys("polis:rl:*"):
        key = raw.decode() if isinstance(raw, bytes) else raw
        # The limits library names a window {LIMITER/<name>/<key>/<amount>/<multiples>/<period>}.
        assert key.startswith("polis:rl:{LIMITER/")
        assert key.endswith("}"), "no earlier window: every test runs inside its first one"
        value = await redis.get(raw)
        assert value is not None
        counters[key.removeprefix("polis:rl:{LIMITER/").removesuffix("}")] = int(value)
    return counters


async def test_answers_carry_limit_headers_and_remaining_decreases(
    make_client: AppFactory, redis: Redis
) -> None:
    calls: list[str] = []
    async with make_client(_router(calls), rate_limit_anonymous="3/day") as http:
        answers = [await http.get("/api/v1/ping") for _ in range(3)]

    before = time.time()
    for expected_remaining, response in zip([2, 1, 0], answers, strict=True):
        assert response.status_code == 200
        assert response.json()["data"] == "pong"
        limit, remaining, reset = _limit_headers(response)
        assert limit == 3
        assert remaining == expected_remaining
        assert before - 5 < reset <= before + DAY + 1
    assert calls == ["ping"] * 3
    assert await _counters(redis) == {"tier:anonymous/ip:127.0.0.1/3/1/day": 3}


async def test_past_the_limit_is_429_in_the_envelope_with_retry_after(
    make_client: AppFactory, redis: Redis
) -> None:
    calls: list[str] = []
    async with make_client(_router(calls), rate_limit_anonymous="2/day") as http:
        for _ in range(2):
            assert (await http.get("/api/v1/ping")).status_code == 200
        refused = await http.get("/api/v1/ping")
        again = await http.get("/api/v1/ping")

    _assert_rate_limited(refused, 2, "tier:anonymous")
    _assert_rate_limited(again, 2, "tier:anonymous")
    # The handler never ran for the refused requests, and they did not count.
    assert calls == ["ping", "ping"]
    assert await _counters(redis) == {"tier:anonymous/ip:127.0.0.1/2/1/day": 2}


async def test_route_limit_counts_per_key_and_keys_do_not_share_a_budget(
    make_client: AppFactory, redis: Redis
) -> None:
    calls: list[str] = []
    async with make_client(
        _router(calls), rate_limit_anonymous="100/day", rate_limit_send_code="2/day"
    ) as http:
        first = await http.post("/api/v1/send-code", params={"phone": "+995555000001"})
        second = await http.post("/api/v1/send-code", params={"phone": "+995555000001"})
        third = await http.post("/api/v1/send-code", params={"phone": "+995555000001"})
        other = await http.post("/api/v1/send-code", params={"phone": "+995555000002"})
        ping = await http.get("/api/v1/ping")

    # The route limit is tighter than the tier's, so the headers show the route limit.
    assert first.status_code == 200
    assert _limit_headers(first)[:2] == (2, 1)
    assert second.status_code == 200
    assert _limit_headers(second)[:2] == (2, 0)
    _assert_rate_limited(third, 2, "rate_limit_send_code")
    # Another phone has a budget of its own, even from the same client.
    assert other.status_code == 200
    assert _limit_headers(other)[:2] == (2, 1)
    # The tier limit counted every request, the refused one too, independently of the route's.
    assert ping.status_code == 200
    assert _limit_headers(ping)[:2] == (100, 95)
    assert calls == ["+995555000001", "+995555000001", "+995555000002", "ping"]
    assert await _counters(redis) == {
        "tier:anonymous/ip:127.0.0.1/100/1/day": 5,
        "rate_limit_send_code/+995555000001/2/1/day": 2,
        "rate_limit_send_code/+995555000002/2/1/day": 1,
    }


async def test_the_headers_show_the_tighter_of_the_tier_and_the_route_limit(
    make_client: AppFactory, redis: Redis
) -> None:
    calls: list[str] = []
    async with make_client(
        _router(calls), rate_limit_anonymous="2/day", rate_limit_send_code="5/day"
    ) as http:
        first = await http.post("/api/v1/send-code", params={"phone": "+995555000001"})
        second = await http.post("/api/v1/send-code", params={"phone": "+995555000001"})
        third = await http.post("/api/v1/send-code", params={"phone": "+995555000001"})

    # The route's limit runs last but has more left, so the tier's headers stay.
    assert _limit_headers(first)[:2] == (2, 1)
    assert _limit_headers(second)[:2] == (2, 0)
    _assert_rate_limited(third, 2, "tier:anonymous")
    assert calls == ["+995555000001", "+995555000001"]
    assert await _counters(redis) == {
        "tier:anonymous/ip:127.0.0.1/2/1/day": 2,
        "rate_limit_send_code/+995555000001/5/1/day": 2,
    }


async def test_disabled_limits_neither_count_nor_refuse(
    make_client: AppFactory, redis: Redis
) -> None:
    calls: list[str] = []
    async with make_client(
        _router(calls),
        rate_limit_enabled=False,
        rate_limit_anonymous="1/day",
        rate_limit_send_code="1/day",
    ) as http:
        pings = [await http.get("/api/v1/ping") for _ in range(3)]
        codes = [
            await http.post("/api/v1/send-code", params={"phone": "+995555000001"})
            for _ in range(3)
        ]

    for response in pings + codes:
        assert response.status_code == 200
        assert "x-ratelimit-limit" not in response.headers
        assert "x-ratelimit-remaining" not in response.headers
        assert "x-ratelimit-reset" not in response.headers
    assert len(calls) == 6
    assert await _counters(redis) == {}


async def test_limits_are_kept_per_client_ip(settings: Settings, redis: Redis) -> None:
    calls: list[str] = []
    async with (
        serve_app(settings, _router(calls), rate_limit_anonymous="2/day") as app,
        client_for(app, "1.2.3.4") as first,
        client_for(app, "5.6.7.8") as second,
    ):
        a1 = await first.get("/api/v1/ping")
        a2 = await first.get("/api/v1/ping")
        a3 = await first.get("/api/v1/ping")
        b1 = await second.get("/api/v1/ping")
        b2 = await second.get("/api/v1/ping")
        b3 = await second.get("/api/v1/ping")

    assert [_limit_headers(r)[:2] for r in (a1, a2)] == [(2, 1), (2, 0)]
    _assert_rate_limited(a3, 2, "tier:anonymous")
    # The second address starts with a full budget although the first one is spent.
    assert [_limit_headers(r)[:2] for r in (b1, b2)] == [(2, 1), (2, 0)]
    _assert_rate_limited(b3, 2, "tier:anonymous")
    assert len(calls) == 4
    assert await _counters(redis) == {
        "tier:anonymous/ip:1.2.3.4/2/1/day": 2,
        "tier:anonymous/ip:5.6.7.8/2/1/day": 2,
    }


async def test_a_route_answering_with_its_own_response_carries_the_headers(
    make_client: AppFactory,
) -> None:
    """Cached GETs return a ``Response`` themselves; their answers must carry the limit too."""
    calls: list[str] = []
    async with make_client(_router(calls), rate_limit_anonymous="3/day") as http:
        first = await http.get("/api/v1/cached")
        second = await http.get("/api/v1/cached")

    assert first.status_code == 200
    assert second.status_code == 200
    assert calls == ["cached"]
    assert _limit_headers(first)[:2] == (3, 2)
    assert _limit_headers(second)[:2] == (3, 1)
