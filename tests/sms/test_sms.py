"""SMS: the senders, the broker's view of a queued message, the dev outbox route, and real
Celery workers sending through the outbox and through an HTTP provider (with a retry)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import redis as redis_sync
from fastapi import APIRouter
from pydantic import BaseModel, SecretStr
from redis.asyncio import Redis

from polis.config import Settings
from polis.kit import clock
from polis.kit.deps import DbSession, SettingsDep
from polis.kit.envelope import Envelope, ok
from polis.kit.errors import Conflict
from polis.sms.adapter import (
    OUTBOX_KEEP,
    OUTBOX_TTL_SECONDS,
    HttpSmsSender,
    OutboxSmsSender,
    SmsDeliveryError,
    outbox_key,
    sms_sender,
)
from polis.sms.router import dev_router
from polis.sms.schemas import OutboxMessage
from polis.sms.service import SEND_TASK, outbox_messages, queue_sms, seal, unseal
from polis.worker import create_celery
from tests.conftest import client_for, process_env, route_tasks_to, running_worker, serve_app

PHONE = "+995555010203"
PHONE_NATIONAL = "555010203"
OTHER_PHONE = "+995555090807"
CODE = "483920"
TEXT = f"Your Digital Polis code is {CODE}"
TOKEN = "sms-test-token-0123456789abcdef"
# Queues no shared worker consumes: one only the test reads, one only this module's HTTP
# provider worker consumes.
INSPECT_QUEUE = "polis-test-sms-inspect"
HTTP_QUEUE = "polis-test-sms-http"
# How long a test waits for a worker (which may still be booting) to do its part.
WORKER_WAIT_SECONDS = 60.0


# --- a real HTTP SMS provider ---------------------------------------------------------------


@dataclass
class SmsProvider:
    """A real HTTP server on 127.0.0.1 that records what it gets and answers as scripted
    (an HTTP status, or "hang": no answer until the test ends); unscripted requests get 202."""

    url: str = ""
    script: list[int | str] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    changed: threading.Condition = field(default_factory=threading.Condition)

    def reset(self, *replies: int | str) -> None:
        with self.changed:
            self.requests.clear()
            self.script[:] = list(replies)

    def wait_for(self, count: int, timeout: float = 60.0) -> list[dict[str, Any]]:
        """The requests once there are ``count`` of them (fails after ``timeout`` seconds)."""
        with self.changed:
            arrived = self.changed.wait_for(lambda: len(self.requests) >= count, timeout)
            assert arrived, f"the provider got {len(self.requests)} of {count} requests"
            return list(self.requests)


def _provider_handler(provider: SmsProvider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with provider.changed:
                provider.requests.append(
                    {
                        "path": self.path,
                        "authorization": self.headers.get("Authorization"),
                        "content_type": self.headers.get("Content-Type"),
                        "body": json.loads(raw),
                    }
                )
                reply = provider.script.pop(0) if provider.script else 202
                provider.changed.notify_all()
            if reply == "hang":
                provider.release.wait(timeout=60)
                return
            assert isinstance(reply, int)
            self.send_response(reply)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def _serve(provider: SmsProvider) -> Iterator[SmsProvider]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _provider_handler(provider))
    provider.url = f"http://127.0.0.1:{httpd.server_address[1]}/messages"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield provider
    finally:
        provider.release.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


@pytest.fixture
def provider() -> Iterator[SmsProvider]:
    yield from _serve(SmsProvider())


def _assert_no_secrets(text: str) -> None:
    for secret in (PHONE, PHONE_NATIONAL, TEXT, CODE, TOKEN):
        assert secret not in text


# --- HttpSmsSender --------------------------------------------------------------------------


def test_http_sender_posts_to_from_and_text_with_the_token(provider: SmsProvider) -> None:
    HttpSmsSender(provider.url, TOKEN, "Polis").send(PHONE, TEXT)
    assert provider.requests == [
        {
            "path": "/messages",
            "authorization": f"Bearer {TOKEN}",
            "content_type": "application/json",
            "body": {"to": PHONE, "from": "Polis", "text": TEXT},
        }
    ]


@pytest.mark.parametrize("status", [200, 201, 202, 204])
def test_http_sender_accepts_any_2xx(provider: SmsProvider, status: int) -> None:
    provider.reset(status)
    HttpSmsSender(provider.url, TOKEN, "Polis").send(PHONE, TEXT)
    assert len(provider.requests) == 1


@pytest.mark.parametrize("status", [302, 400, 401, 429, 500, 503])
def test_http_sender_raises_on_anything_else(provider: SmsProvider, status: int) -> None:
    provider.reset(status)
    with pytest.raises(SmsDeliveryError) as caught:
        HttpSmsSender(provider.url, TOKEN, "Polis").send(PHONE, TEXT)
    assert str(caught.value) == f"SMS provider answered {status}"
    _assert_no_secrets(repr(caught.value))


def test_http_sender_raises_when_the_provider_is_unreachable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(SmsDeliveryError) as caught:
        HttpSmsSender(f"http://127.0.0.1:{port}/messages", TOKEN, "Polis").send(PHONE, TEXT)
    assert str(caught.value) == "SMS provider unreachable (ConnectError)"
    assert caught.value.__cause__ is None


def test_http_sender_raises_on_a_timeout(provider: SmsProvider) -> None:
    provider.reset("hang")
    sender = HttpSmsSender(provider.url, TOKEN, "Polis", timeout_seconds=0.3)
    with pytest.raises(SmsDeliveryError) as caught:
        sender.send(PHONE, TEXT)
    assert str(caught.value) == "SMS provider unreachable (ReadTimeout)"


# --- the factory ----------------------------------------------------------------------------


def test_factory_defaults_to_the_outbox(settings: Settings) -> None:
    assert settings.sms_provider == "outbox"
    client = redis_sync.Redis.from_url(str(settings.redis_url))
    try:
        assert isinstance(sms_sender(settings, client), OutboxSmsSender)
    finally:
        client.close()


def test_factory_builds_the_http_sender(settings: Settings) -> None:
    configured = settings.model_copy(
        update={
            "sms_provider": "http",
            "sms_http_url": "http://127.0.0.1:9/messages",
            "sms_http_token": SecretStr(TOKEN),
        }
    )
    assert isinstance(sms_sender(configured), HttpSmsSender)


@pytest.mark.parametrize(
    "update",
    [
        {"sms_http_url": None, "sms_http_token": SecretStr(TOKEN)},
        {"sms_http_url": "http://127.0.0.1:9/messages", "sms_http_token": None},
    ],
)
def test_factory_refuses_http_without_url_or_token(
    settings: Settings, update: dict[str, Any]
) -> None:
    configured = settings.model_copy(update={"sms_provider": "http", **update})
    with pytest.raises(ValueError, match="POLIS_SMS_HTTP_URL"):
        sms_sender(configured)


# --- OutboxSmsSender ------------------------------------------------------------------------


@pytest.fixture
def sync_redis_client(settings: Settings) -> Iterator[redis_sync.Redis]:
    client = redis_sync.Redis.from_url(str(settings.redis_url))
    try:
        yield client
    finally:
        client.close()


async def test_outbox_keeps_the_message_under_the_phones_blind_index(
    settings: Settings, redis: Redis, sync_redis_client: redis_sync.Redis
) -> None:
    at = clock.freeze(datetime(2025, 3, 1, 9, 30, tzinfo=UTC))
    OutboxSmsSender(settings, sync_redis_client).send(PHONE, TEXT)
    key = outbox_key(settings, PHONE)
    assert key.startswith("polis:sms:outbox:")
    assert PHONE_NATIONAL not in key
    assert [key.encode()] == [k async for k in redis.scan_iter(match="polis:sms:*")]
    stored = await redis.lrange(key, 0, -1)
    assert [json.loads(record) for record in stored] == [
        {"text": TEXT, "sent_at": at.isoformat(), "sender": "Polis"}
    ]
    assert OUTBOX_TTL_SECONDS - 5 < await redis.ttl(key) <= OUTBOX_TTL_SECONDS


async def test_outbox_keeps_the_newest_50_per_phone(
    settings: Settings, redis: Redis, sync_redis_client: redis_sync.Redis
) -> None:
    sender = OutboxSmsSender(settings, sync_redis_client)
    start = clock.freeze(datetime(2025, 3, 1, tzinfo=UTC))
    for number in range(1, OUTBOX_KEEP + 3):
        sender.send(PHONE, f"message {number}")
        clock.advance(timedelta(seconds=1))
    sender.send(OTHER_PHONE, "for someone else")
    messages = await outbox_messages(redis, settings, PHONE)
    assert len(messages) == OUTBOX_KEEP == 50
    assert messages[0].text == "message 52"
    assert messages[0].sent_at == start + timedelta(seconds=51)
    assert messages[-1].text == "message 3"
    assert [m.text for m in await outbox_messages(redis, settings, OTHER_PHONE)] == [
        "for someone else"
    ]


# --- the dev outbox route -------------------------------------------------------------------


async def test_dev_route_lists_a_phones_messages_newest_first(
    settings: Settings, sync_redis_client: redis_sync.Redis
) -> None:
    sender = OutboxSmsSender(settings, sync_redis_client)
    first = clock.freeze(datetime(2025, 3, 1, 12, 0, tzinfo=UTC))
    sender.send(PHONE, "first")
    second = clock.advance(timedelta(minutes=1))
    sender.send(PHONE, TEXT)
    development = settings.model_copy(update={"env": "development"})
    async with serve_app(development, dev_router) as app, client_for(app) as http:
        # Any format that parses finds the same outbox.
        response = await http.get("/api/v1/dev/sms-outbox", params={"phone_number": "555 01 02 03"})
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    assert body["data"] == [
        {"text": TEXT, "sent_at": second.isoformat().replace("+00:00", "Z"), "sender": "Polis"},
        {"text": "first", "sent_at": first.isoformat().replace("+00:00", "Z"), "sender": "Polis"},
    ]


async def test_dev_route_is_empty_for_a_phone_without_messages(settings: Settings) -> None:
    development = settings.model_copy(update={"env": "development"})
    async with serve_app(development, dev_router) as app, client_for(app) as http:
        response = await http.get("/api/v1/dev/sms-outbox", params={"phone_number": OTHER_PHONE})
    assert response.status_code == 200
    assert response.json()["data"] == []


@pytest.mark.parametrize(
    ("params", "code"),
    [({"phone_number": "12"}, 2002), ({"phone_number": "not a phone"}, 2002), ({}, 2001)],
)
async def test_dev_route_refuses_a_bad_or_missing_number(
    settings: Settings, params: dict[str, str], code: int
) -> None:
    development = settings.model_copy(update={"env": "development"})
    async with serve_app(development, dev_router) as app, client_for(app) as http:
        response = await http.get("/api/v1/dev/sms-outbox", params=params)
    assert response.status_code == 422
    assert response.json()["success"] is False
    assert response.json()["error"]["code"] == code


async def test_the_development_app_serves_the_outbox_by_itself(settings: Settings) -> None:
    # create_app includes the dev router when POLIS_ENV=development: no router passed here.
    development = settings.model_copy(update={"env": "development"})
    async with serve_app(development) as app, client_for(app) as http:
        response = await http.get("/api/v1/dev/sms-outbox", params={"phone_number": PHONE})
    assert response.status_code == 200
    assert response.json()["data"] == []


async def test_dev_route_does_not_exist_in_the_test_app(settings: Settings) -> None:
    # The real app as configured outside development: the route is not there at all.
    assert settings.env == "test"
    async with serve_app(settings) as app, client_for(app) as http:
        response = await http.get("/api/v1/dev/sms-outbox", params={"phone_number": PHONE})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == 4001


# --- queue_sms: what the broker holds -------------------------------------------------------


class _SmsIn(BaseModel):
    phone: str
    text: str
    fail: bool = False


def _queue_router() -> APIRouter:
    router = APIRouter()

    @router.post("/test-sms")
    async def send(body: _SmsIn, session: DbSession, settings: SettingsDep) -> Envelope[str]:
        queue_sms(session, settings, body.phone, body.text)
        if body.fail:
            raise Conflict("rolled back on purpose")
        return ok("queued")

    return router


async def test_the_broker_never_holds_the_phone_or_the_text(
    settings: Settings, redis: Redis
) -> None:
    await redis.delete(INSPECT_QUEUE)
    try:
        async with serve_app(settings, _queue_router()) as app, client_for(app) as http:
            route_tasks_to(app, settings, INSPECT_QUEUE)
            response = await http.post("/api/v1/test-sms", json={"phone": PHONE, "text": TEXT})
        assert response.status_code == 200
        raw_messages = await redis.lrange(INSPECT_QUEUE, 0, -1)
        assert len(raw_messages) == 1
        stored = raw_messages[0]
        assert isinstance(stored, bytes)
        raw = stored.decode()
        _assert_no_secrets(raw)
        message = json.loads(raw)
        assert message["headers"]["task"] == SEND_TASK
        args, kwargs, _ = json.loads(base64.b64decode(message["body"]))
        _assert_no_secrets(json.dumps([args, kwargs]))
        assert args == []
        assert set(kwargs) == {"phone_ciphertext", "text_ciphertext"}
        # What the broker holds opens, with this installation's keys, to the message.
        assert unseal(settings, "phone", kwargs["phone_ciphertext"]) == PHONE
        assert unseal(settings, "sms", kwargs["text_ciphertext"]) == TEXT
    finally:
        await redis.delete(INSPECT_QUEUE)


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        ({"phone": "12345", "text": TEXT}, 422, 2002),
        ({"phone": PHONE, "text": TEXT, "fail": True}, 409, 4002),
    ],
)
async def test_nothing_is_queued_for_a_bad_number_or_a_rollback(
    settings: Settings, redis: Redis, payload: dict[str, Any], status: int, code: int
) -> None:
    await redis.delete(INSPECT_QUEUE)
    try:
        async with serve_app(settings, _queue_router()) as app, client_for(app) as http:
            route_tasks_to(app, settings, INSPECT_QUEUE)
            response = await http.post("/api/v1/test-sms", json=payload)
        assert response.status_code == status
        assert response.json()["error"]["code"] == code
        assert await redis.llen(INSPECT_QUEUE) == 0
    finally:
        await redis.delete(INSPECT_QUEUE)


# --- through a real worker: the outbox ------------------------------------------------------


async def _wait_for_outbox(
    redis: Redis, settings: Settings, phone: str, count: int
) -> list[OutboxMessage]:
    """Poll the outbox until it holds ``count`` messages (bounded: a worker boots first)."""
    messages: list[OutboxMessage] = []
    async with asyncio.timeout(WORKER_WAIT_SECONDS):
        while len(messages) < count:
            messages = await outbox_messages(redis, settings, phone)
            if len(messages) < count:
                await asyncio.sleep(0.1)
    return messages


@pytest.mark.slow
@pytest.mark.usefixtures("worker")
async def test_a_queued_sms_reaches_the_outbox_through_the_worker(
    settings: Settings, redis: Redis
) -> None:
    async with serve_app(settings, _queue_router()) as app, client_for(app) as http:
        first = await http.post("/api/v1/test-sms", json={"phone": PHONE, "text": "hello"})
        assert first.status_code == 200
        assert [m.text for m in await _wait_for_outbox(redis, settings, PHONE, 1)] == ["hello"]
        second = await http.post("/api/v1/test-sms", json={"phone": PHONE, "text": TEXT})
        assert second.status_code == 200
        messages = await _wait_for_outbox(redis, settings, PHONE, 2)
    assert [m.text for m in messages] == [TEXT, "hello"]
    assert messages[0].sent_at >= messages[1].sent_at
    assert {m.sender for m in messages} == {"Polis"}
    assert await outbox_messages(redis, settings, OTHER_PHONE) == []


# --- through a real worker: the HTTP provider, with a retry ---------------------------------


@dataclass
class HttpWorker:
    provider: SmsProvider
    log: Path


@pytest.fixture(scope="module")
def http_worker(
    settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HttpWorker]:
    """A worker with POLIS_SMS_PROVIDER=http pointed at a local provider, consuming only its
    own queue (so the shared outbox worker never takes its tasks), logging at INFO to a file."""
    log = tmp_path_factory.mktemp("sms-worker") / "worker.log"
    for provider in _serve(SmsProvider()):
        env = process_env(
            settings,
            POLIS_SMS_PROVIDER="http",
            POLIS_SMS_HTTP_URL=provider.url,
            POLIS_SMS_HTTP_TOKEN=TOKEN,
            POLIS_LOG_LEVEL="INFO",
        )
        with (
            log.open("wb") as out,
            running_worker(env, "--concurrency", "1", "--queues", HTTP_QUEUE, output=out),
        ):
            yield HttpWorker(provider=provider, log=log)


@pytest.mark.slow
def test_a_failed_send_is_retried_by_the_worker(
    settings: Settings, http_worker: HttpWorker
) -> None:
    provider = http_worker.provider
    provider.reset(503)
    celery = create_celery(settings)
    result = celery.send_task(
        SEND_TASK,
        kwargs={
            "phone_ciphertext": seal(settings, "phone", PHONE),
            "text_ciphertext": seal(settings, "sms", TEXT),
        },
        queue=HTTP_QUEUE,
    )
    assert result.get(timeout=WORKER_WAIT_SECONDS) is None
    requests = provider.wait_for(2, WORKER_WAIT_SECONDS)
    assert len(requests) == 2
    expected = {
        "path": "/messages",
        "authorization": f"Bearer {TOKEN}",
        "content_type": "application/json",
        "body": {"to": PHONE, "from": "Polis", "text": TEXT},
    }
    assert requests == [expected, expected]
    log = http_worker.log.read_text()
    assert "SMS provider answered 503" in log
    assert "sms.sent" in log
    # The worker logged the retry and the send, and never the number or the text.
    _assert_no_secrets(log)


@pytest.mark.slow
def test_an_undecipherable_message_is_dropped_not_retried(
    settings: Settings, http_worker: HttpWorker
) -> None:
    provider = http_worker.provider
    provider.reset()
    celery = create_celery(settings)
    garbage = base64.b64encode(b"\x02\x02t9" + os.urandom(40)).decode()
    result = celery.send_task(
        SEND_TASK,
        kwargs={"phone_ciphertext": garbage, "text_ciphertext": "not base64!"},
        queue=HTTP_QUEUE,
    )
    # SUCCESS at the first attempt: a retry could never open it.
    assert result.get(timeout=WORKER_WAIT_SECONDS) is None
    assert result.state == "SUCCESS"
    assert provider.requests == []
    assert "sms.undecipherable" in http_worker.log.read_text()
