"""Idempotency-Key: a replay gets the first answer, another body 422, a concurrent replay 409.

The test route counts in Redis every time its body really runs, so each test can tell a replay
from a second run.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json

import httpx
import pytest
from fastapi import APIRouter
from pydantic import BaseModel
from redis.asyncio import Redis

from polis.config import Settings
from polis.kit.deps import RedisDep
from polis.kit.envelope import Envelope, ok
from polis.kit.errors import ErrorCode, PolisError
from polis.kit.idempotency import IdempotencyKey
from tests.conftest import AppFactory, client_for, serve_app

RUNS = "polis:test:idempotency:runs"
URL = "/api/v1/orders"


class Order(BaseModel):
    item: str
    quantity: int = 1


class Receipt(BaseModel):
    run: int
    item: str
    quantity: int
    keyed: bool


class Control:
    """What the test route does besides counting: wait for the test, or fail."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.failures: list[Exception] = []


def _router(control: Control) -> APIRouter:
    router = APIRouter()

    @router.post("/orders", status_code=201)
    async def create_order(
        order: Order, claim: IdempotencyKey, redis: RedisDep
    ) -> Envelope[Receipt]:
        run = int(await redis.incr(RUNS))
        if order.item == "slow":
            control.started.set()
            await control.release.wait()
        if control.failures:
            raise control.failures.pop(0)
        return ok(
            Receipt(run=run, item=order.item, quantity=order.quantity, keyed=claim is not None)
        )

    return router


def _redis_key(subject: str, key: str) -> str:
    return "polis:idem:" + hashlib.sha256(f"{subject}\n{key}".encode()).hexdigest()


async def _runs(redis: Redis) -> int:
    raw = await redis.get(RUNS)
    return int(raw) if raw is not None else 0


async def _record(redis: Redis, key: str, subject: str = "ip:127.0.0.1") -> dict[str, object]:
    raw = await redis.get(_redis_key(subject, key))
    assert raw is not None, "the key is recorded in Redis"
    record: dict[str, object] = json.loads(raw)
    return record


def _assert_error(response: httpx.Response, status: int, code: int, name: str) -> dict[str, object]:
    assert response.status_code == status
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == code
    assert body["error"]["name"] == name
    assert body["meta"]["request_id"] == response.headers["x-request-id"]
    details: dict[str, object] = body["error"]["details"]
    return details


def _assert_created(response: httpx.Response, run: int, item: str, keyed: bool = True) -> None:
    assert response.status_code == 201
    assert response.headers["content-type"] == "application/json"
    assert "idempotent-replayed" not in response.headers
    body = response.json()
    assert body["success"] is True
    assert body["data"] == {"run": run, "item": item, "quantity": 1, "keyed": keyed}


def _assert_replay_of(replay: httpx.Response, first: httpx.Response) -> None:
    assert replay.status_code == first.status_code
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.headers["content-type"] == first.headers["content-type"]
    # The very first answer, byte for byte (its meta names the first request).
    assert replay.content == first.content
    assert replay.headers["x-request-id"] != first.headers["x-request-id"]


async def test_same_key_and_body_replays_the_first_answer_without_running_again(
    make_client: AppFactory, redis: Redis, settings: Settings
) -> None:
    async with make_client(_router(Control())) as http:
        first = await http.post(URL, json={"item": "tea"}, headers={"Idempotency-Key": "k-1"})
        replay = await http.post(URL, json={"item": "tea"}, headers={"Idempotency-Key": "k-1"})
        again = await http.post(URL, json={"item": "tea"}, headers={"Idempotency-Key": "k-1"})

    _assert_created(first, run=1, item="tea")
    _assert_replay_of(replay, first)
    _assert_replay_of(again, first)
    assert await _runs(redis) == 1
    record = await _record(redis, "k-1")
    assert record["state"] == "done"
    assert record["status"] == 201
    assert isinstance(record["body"], str)
    assert base64.b64decode(record["body"]) == first.content
    ttl = await redis.ttl(_redis_key("ip:127.0.0.1", "k-1"))
    assert settings.idempotency_ttl_seconds - 5 < ttl <= settings.idempotency_ttl_seconds


async def test_same_key_with_another_body_is_422_idempotency_key_reused(
    make_client: AppFactory, redis: Redis
) -> None:
    async with make_client(_router(Control())) as http:
        first = await http.post(URL, json={"item": "tea"}, headers={"Idempotency-Key": "k-1"})
        reused = await http.post(URL, json={"item": "coffee"}, headers={"Idempotency-Key": "k-1"})
        replay = await http.post(URL, json={"item": "tea"}, headers={"Idempotency-Key": "k-1"})

    _assert_created(first, run=1, item="tea")
    details = _assert_error(reused, 422, 2005, "IDEMPOTENCY_KEY_REUSED")
    assert details == {"header": "Idempotency-Key"}
    # The refusal neither ran the body nor disturbed the stored answer.
    _assert_replay_of(replay, first)
    assert await _runs(redis) == 1
    assert (await _record(redis, "k-1"))["state"] == "done"


async def test_a_replay_while_the_first_request_runs_is_409_request_in_progress(
    make_client: AppFactory, redis: Redis, settings: Settings
) -> None:
    control = Control()
    headers = {"Idempotency-Key": "k-slow"}
    async with make_client(_router(control)) as http, asyncio.timeout(10):
        first_task = asyncio.create_task(http.post(URL, json={"item": "slow"}, headers=headers))
        await control.started.wait()
        in_flight = await _record(redis, "k-slow")
        lock_ttl = await redis.ttl(_redis_key("ip:127.0.0.1", "k-slow"))

        second_task = asyncio.create_task(http.post(URL, json={"item": "slow"}, headers=headers))
        second = await second_task
        control.release.set()
        first = await first_task
        after = await http.post(URL, json={"item": "slow"}, headers=headers)

    assert in_flight["state"] == "in_progress"
    assert 0 < lock_ttl <= settings.idempotency_lock_seconds
    _assert_error(second, 409, 4005, "REQUEST_IN_PROGRESS")
    _assert_created(first, run=1, item="slow")
    _assert_replay_of(after, first)
    assert await _runs(redis) == 1
    assert (await _record(redis, "k-slow"))["state"] == "done"


@pytest.mark.parametrize(
    ("failure", "status", "code", "name"),
    [
        (RuntimeError("the disk is on fire"), 500, 5001, "INTERNAL"),
        (PolisError(error=ErrorCode.EXTERNAL_SERVICE), 502, 5003, "EXTERNAL_SERVICE"),
    ],
    ids=["unhandled", "handled"],
)
async def test_a_5xx_answer_releases_the_key_so_a_retry_runs_again(
    make_client: AppFactory,
    redis: Redis,
    failure: Exception,
    status: int,
    code: int,
    name: str,
) -> None:
    control = Control()
    control.failures.append(failure)
    headers = {"Idempotency-Key": "k-retry"}
    async with make_client(_router(control)) as http:
        failed = await http.post(URL, json={"item": "tea"}, headers=headers)
        released = await redis.exists(_redis_key("ip:127.0.0.1", "k-retry"))
        retried = await http.post(URL, json={"item": "tea"}, headers=headers)
        replay = await http.post(URL, json={"item": "tea"}, headers=headers)

    _assert_error(failed, status, code, name)
    assert "idempotent-replayed" not in failed.headers
    assert released == 0
    _assert_created(retried, run=2, item="tea")
    _assert_replay_of(replay, retried)
    assert await _runs(redis) == 2


async def test_a_4xx_answer_is_kept_and_replayed(make_client: AppFactory, redis: Redis) -> None:
    control = Control()
    control.failures.append(PolisError(error=ErrorCode.GROUP_FULL))
    headers = {"Idempotency-Key": "k-full"}
    async with make_client(_router(control)) as http:
        refused = await http.post(URL, json={"item": "tea"}, headers=headers)
        replay = await http.post(URL, json={"item": "tea"}, headers=headers)

    _assert_error(refused, 409, 3005, "GROUP_FULL")
    _assert_replay_of(replay, refused)
    assert await _runs(redis) == 1
    record = await _record(redis, "k-full")
    assert (record["state"], record["status"]) == ("done", 409)


async def test_without_the_header_every_request_runs(make_client: AppFactory, redis: Redis) -> None:
    async with make_client(_router(Control())) as http:
        answers = [await http.post(URL, json={"item": "tea"}) for _ in range(3)]

    for run, response in enumerate(answers, start=1):
        _assert_created(response, run=run, item="tea", keyed=False)
    assert await _runs(redis) == 3
    assert await redis.keys("polis:idem:*") == []


async def test_an_empty_key_is_refused_before_the_body_runs(
    make_client: AppFactory, redis: Redis
) -> None:
    async with make_client(_router(Control())) as http:
        empty = await http.post(URL, json={"item": "tea"}, headers={"Idempotency-Key": ""})
        too_long = await http.post(
            URL, json={"item": "tea"}, headers={"Idempotency-Key": "k" * 256}
        )

    for response in (empty, too_long):
        details = _assert_error(response, 422, 2002, "BAD_FORMAT")
        errors = details["errors"]
        assert isinstance(errors, list)
        assert [error["field"] for error in errors] == ["header.Idempotency-Key"]
    assert await _runs(redis) == 0
    assert await redis.keys("polis:idem:*") == []


async def test_keys_are_scoped_per_subject(settings: Settings, redis: Redis) -> None:
    headers = {"Idempotency-Key": "shared-key"}
    async with (
        serve_app(settings, _router(Control())) as app,
        client_for(app, "1.2.3.4") as one,
        client_for(app, "5.6.7.8") as two,
    ):
        first_one = await one.post(URL, json={"item": "tea"}, headers=headers)
        first_two = await two.post(URL, json={"item": "tea"}, headers=headers)
        replay_one = await one.post(URL, json={"item": "tea"}, headers=headers)
        replay_two = await two.post(URL, json={"item": "tea"}, headers=headers)

    # The same key from two subjects is two requests: both ran.
    _assert_created(first_one, run=1, item="tea")
    _assert_created(first_two, run=2, item="tea")
    # Each subject gets its own first answer back.
    _assert_replay_of(replay_one, first_one)
    _assert_replay_of(replay_two, first_two)
    assert await _runs(redis) == 2
    assert sorted(await redis.keys("polis:idem:*")) == sorted(
        [
            _redis_key("ip:1.2.3.4", "shared-key").encode(),
            _redis_key("ip:5.6.7.8", "shared-key").encode(),
        ]
    )
