"""The delivery pipeline through real processes: a Celery worker, the FCM v1 stand-in, a real
SMTP server, PostgreSQL and Redis (DESIGN.md §3.8, issue 5 "failure behaviour").

- a push and an email reach their servers, once each;
- a worker SIGKILLed while FCM holds its request: a new worker finishes the delivery, and the
  member sees it once (see ``test_a_worker_killed_mid_send…`` for the provider-side copy);
- FCM answering 500/503: retried with backoff (at least ``Retry-After``), then dead-lettered,
  visible to admins, and sent after an admin's retry;
- Redis killed and started again (empty) during a burst: every committed notification is
  delivered, the lost broker messages replaced by the sweep from the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import secrets
import signal
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from celery import Celery
from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from polis.auth.models import AuthSession
from polis.auth.tokens import issue_access_token
from polis.config import Settings
from polis.kit.db import create_sessionmaker
from polis.kit.deps import DbSession
from polis.kit.envelope import Envelope, ok
from polis.kit.events import TaskJob, dispatch
from polis.notifications import service
from polis.notifications.delivery import SWEEP_TASK
from polis.notifications.models import Delivery, DeliveryStatus, NotificationType, PushPlatform
from polis.users.models import Language, User
from polis.worker import create_celery
from tests.conftest import client_for, make_member, process_env, running_worker, serve_app
from tests.support.fcm_standin import FcmStandIn, running_fcm_standin
from tests.support.redis_server import private_redis
from tests.support.smtp_server import SmtpServer, running_smtp_server

pytestmark = pytest.mark.slow

QUEUE = "polis-test-deliveries"
WAIT_SECONDS = 60.0
# Small budgets so that backoff and leases pass in a second, never a sleep in the test.
FAST = {
    "POLIS_DELIVERY_MAX_ATTEMPTS": "3",
    "POLIS_DELIVERY_BACKOFF_BASE_SECONDS": "0.2",
    "POLIS_DELIVERY_BACKOFF_MAX_SECONDS": "2",
    "POLIS_DELIVERY_LEASE_SECONDS": "2",
}


@pytest.fixture(scope="module")
def standin() -> Iterator[FcmStandIn]:
    with running_fcm_standin() as server:
        yield server


@pytest.fixture(scope="module")
def smtp_server() -> Iterator[SmtpServer]:
    with running_smtp_server() as server:
        yield server


def worker_env(
    settings: Settings, standin: FcmStandIn, smtp: SmtpServer, **extra: str
) -> dict[str, str]:
    assert standin.account is not None
    return process_env(
        settings,
        POLIS_PUSH_PROVIDER="fcm",
        POLIS_FCM_CREDENTIALS_JSON=standin.account.json,
        POLIS_FCM_BASE_URL=standin.url,
        POLIS_EMAIL_PROVIDER="smtp",
        POLIS_SMTP_HOST=smtp.host,
        POLIS_SMTP_PORT=str(smtp.port),
        POLIS_SMTP_TLS="none",
        POLIS_SMTP_FROM="Polis <noreply@polis.test>",
        POLIS_LOG_LEVEL="INFO",
        **FAST,
        **extra,
    )


@dataclass
class Person:
    user_id: uuid.UUID
    token: str
    email: str | None


@dataclass
class Pipeline:
    settings: Settings
    engine: AsyncEngine
    celery: Celery
    people: list[uuid.UUID]

    def send(self, job: TaskJob) -> None:
        # As the app publishes (polis.app): fire and forget.
        self.celery.send_task(
            job.name, args=list(job.args), kwargs=job.kwargs, queue=QUEUE, ignore_result=True
        )

    async def person(self, *, email: bool = False, admin: bool = False) -> Person:
        """A member with one push device (and an email), committed for the worker to see."""
        token = "standin:" + secrets.token_urlsafe(60)
        address = f"m{secrets.token_hex(4)}@example.ge" if email else None
        async with create_sessionmaker(self.engine)() as session:
            member = await make_member(
                session,
                self.settings,
                f"+995555{secrets.randbelow(10**6):06d}",
                admin=admin,
                language=Language.EN,
            )
            member.user.email = address
            await service.register_device(session, member.user, token, PushPlatform.ANDROID)
            await session.commit()
        self.people.append(member.user.id)
        return Person(member.user.id, token, address)

    async def notify(self, user_id: uuid.UUID, achievement: str = "first_steps") -> list[str]:
        """Notify as a request does: commit, then hand the queued sends to the broker."""
        async with create_sessionmaker(self.engine)() as session:
            notification = await service.notify(
                session,
                user_id,
                NotificationType.ACHIEVEMENT_UNLOCKED,
                {"achievement": achievement},
            )
            assert notification is not None
            ids = await session.scalars(
                select(Delivery.id).where(Delivery.notification_id == notification.id)
            )
            delivery_ids = [str(i) for i in ids.all()]
            await session.commit()
            await dispatch(session, send_task=self.send, redis=None)
        return delivery_ids

    async def statuses(self, ids: list[str]) -> dict[str, Delivery]:
        async with create_sessionmaker(self.engine)() as session:
            rows = await session.scalars(
                select(Delivery).where(Delivery.id.in_([uuid.UUID(i) for i in ids]))
            )
            return {str(row.id): row for row in rows.all()}

    async def wait_until(
        self, ids: list[str], *wanted: DeliveryStatus, sweep: bool = False
    ) -> dict[str, Delivery]:
        """The rows once each has one of ``wanted`` statuses; with ``sweep``, the beat's sweep
        is sent meanwhile (as beat would, every minute)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT_SECONDS
        next_sweep = 0.0
        while loop.time() < deadline:
            rows = await self.statuses(ids)
            if len(rows) == len(ids) and all(r.status in wanted for r in rows.values()):
                return rows
            if sweep and loop.time() >= next_sweep:
                with contextlib.suppress(Exception):
                    self.celery.send_task(SWEEP_TASK, queue=QUEUE, ignore_result=True)
                next_sweep = loop.time() + 0.5
            await asyncio.sleep(0.05)  # the worker process is at work
        summary = {i: r.status.value for i, r in (await self.statuses(ids)).items()}
        raise AssertionError(f"deliveries never reached {wanted}: {summary}")


@pytest.fixture
async def pipeline(settings: Settings, engine: AsyncEngine) -> AsyncIterator[Pipeline]:
    flow = Pipeline(settings, engine, create_celery(settings), [])
    yield flow
    async with engine.begin() as conn:
        await conn.execute(delete(User).where(User.id.in_(flow.people)))


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


async def test_a_push_and_an_email_reach_their_servers_once(
    settings: Settings,
    pipeline: Pipeline,
    standin: FcmStandIn,
    smtp_server: SmtpServer,
    tmp_path: Path,
) -> None:
    standin.reset()
    smtp_server.reset()
    person = await pipeline.person(email=True)
    with running_worker(
        worker_env(settings, standin, smtp_server), "--concurrency", "1", "--queues", QUEUE
    ):
        ids = await pipeline.notify(person.user_id)
        rows = await pipeline.wait_until(ids, DeliveryStatus.SENT)
    assert len(ids) == 2
    push = next(i for i, r in rows.items() if r.channel.value == "push")
    [message] = standin.by_delivery(push)
    assert (message.token, message.status, message.title) == (person.token, 200, "New achievement")
    assert message.collapse_key == str(rows[push].notification_id)
    [email] = smtp_server.wait_for(1)
    assert (email["To"], email["Subject"]) == (person.email, "New achievement")
    email_id = next(i for i in ids if i != push)
    assert email["Message-ID"] == f"<{email_id}@polis>"
    assert {r.attempts for r in rows.values()} == {1}


async def test_a_worker_killed_mid_send_is_replaced_and_the_member_sees_it_once(
    settings: Settings, pipeline: Pipeline, standin: FcmStandIn, smtp_server: SmtpServer
) -> None:
    """The first worker dies while FCM holds its request. Whether FCM delivered that copy is
    unknowable to us (at least once): the new worker sends again, with the same collapse key
    (the notification id) and delivery id, so the phone shows one notification."""
    standin.reset("hold")
    person = await pipeline.person()
    env = worker_env(settings, standin, smtp_server)
    with (
        contextlib.suppress(ProcessLookupError),
        running_worker(env, "--concurrency", "1", "--queues", QUEUE) as first,
    ):
        [delivery_id] = await pipeline.notify(person.user_id)
        await asyncio.to_thread(standin.wait_for, lambda s: s.held == 1, WAIT_SECONDS, "hold")
        _kill_group(first)
    # Killed mid-send: the row is claimed by nobody alive, until its lease ends.
    [row] = (await pipeline.statuses([delivery_id])).values()
    assert (row.status, row.attempts) == (DeliveryStatus.SENDING, 1)
    standin.release()
    with running_worker(env, "--concurrency", "1", "--queues", QUEUE):
        rows = await pipeline.wait_until([delivery_id], DeliveryStatus.SENT, sweep=True)
    assert rows[delivery_id].attempts == 2
    copies = standin.by_delivery(delivery_id)
    assert len(copies) == 2  # the held one and the one that finished the delivery
    assert {(m.token, m.collapse_key) for m in copies} == {
        (person.token, str(rows[delivery_id].notification_id))
    }
    # One delivery row, one notification on the phone.
    assert len([s for s in standin.seen_by_user() if s[0] == person.token]) == 1


async def test_fcm_errors_are_retried_with_backoff_then_dead_lettered_and_retried_by_an_admin(
    settings: Settings, pipeline: Pipeline, standin: FcmStandIn, smtp_server: SmtpServer
) -> None:
    # 503 with Retry-After: 1 → the next try waits ≥ 1 s (not the 0.2 s backoff); then 500 and
    # 500 with 0.4 s between them; three attempts, then dead.
    standin.reset((503, "1"), 500, 500)
    person = await pipeline.person()
    admin = await pipeline.person(admin=True)
    env = worker_env(settings, standin, smtp_server)
    with running_worker(env, "--concurrency", "1", "--queues", QUEUE):
        [delivery_id] = await pipeline.notify(person.user_id)
        rows = await pipeline.wait_until([delivery_id], DeliveryStatus.DEAD)
        tries = standin.by_delivery(delivery_id)
        assert [m.status for m in tries] == [503, 500, 500]
        gaps = [b.at - a.at for a, b in itertools.pairwise(tries)]
        assert gaps[0] >= 1.0 and gaps[1] >= 0.4, gaps
        assert rows[delivery_id].attempts == 3
        assert rows[delivery_id].last_error == "fcm answered 500 INTERNAL"

        async with (
            serve_app(settings) as app,
            client_for(app) as http,
        ):
            app.state.send_task = pipeline.send
            async with create_sessionmaker(pipeline.engine)() as session:
                auth = await session.scalar(
                    select(AuthSession).where(AuthSession.user_id == admin.user_id)
                )
                assert auth is not None
                token, _ = issue_access_token(settings, admin.user_id, auth.id)
            headers = {"Authorization": f"Bearer {token}"}
            listed = await http.get(
                "/api/v1/admin/deliveries",
                params={"status": "dead", "per_page": 100},
                headers=headers,
            )
            assert listed.status_code == 200, listed.text
            assert delivery_id in {item["id"] for item in listed.json()["data"]}
            assert person.token not in listed.text
            retried = await http.post(
                f"/api/v1/admin/deliveries/{delivery_id}/retry", headers=headers
            )
            assert retried.status_code == 200, retried.text
        rows = await pipeline.wait_until([delivery_id], DeliveryStatus.SENT)
    assert [m.status for m in standin.by_delivery(delivery_id)] == [503, 500, 500, 200]


class NotifyIn(BaseModel):
    user_id: uuid.UUID
    achievement: str


def _notify_router() -> APIRouter:
    router = APIRouter()

    @router.post("/test-notify", response_model=Envelope[dict[str, Any]])
    async def notify(body: NotifyIn, session: DbSession) -> Envelope[dict[str, Any]]:
        notification = await service.notify(
            session,
            body.user_id,
            NotificationType.ACHIEVEMENT_UNLOCKED,
            {"achievement": body.achievement},
        )
        assert notification is not None
        return ok({"id": str(notification.id)})

    return router


async def test_redis_restarted_during_a_burst_loses_no_committed_notification(
    settings: Settings,
    pipeline: Pipeline,
    standin: FcmStandIn,
    smtp_server: SmtpServer,
    tmp_path: Path,
) -> None:
    standin.reset()
    person = await pipeline.person()
    with private_redis(tmp_path) as broker:
        private = settings.model_copy(update={"redis_url": broker.url})
        pipeline.celery = create_celery(private)
        env = worker_env(settings, standin, smtp_server, POLIS_REDIS_URL=broker.url)
        committed: list[str] = []
        with running_worker(env, "--concurrency", "1", "--queues", QUEUE):
            async with (
                serve_app(private, _notify_router(), rate_limit_enabled=False) as app,
                client_for(app) as http,
            ):
                app.state.send_task = pipeline.send

                async def burst(count: int, label: str) -> None:
                    for n in range(count):
                        answer = await http.post(
                            "/api/v1/test-notify",
                            json={"user_id": str(person.user_id), "achievement": f"{label}{n}"},
                        )
                        # Each 200 is a committed notification: it must reach the phone.
                        if answer.status_code == 200:
                            committed.append(answer.json()["data"]["id"])

                await burst(15, "before")
                broker.kill()
                await burst(5, "down")
                broker.start()
                await burst(10, "after")
            assert len(committed) >= 25
            async with create_sessionmaker(pipeline.engine)() as session:
                ids = [
                    str(i)
                    for i in await session.scalars(
                        select(Delivery.id).where(
                            Delivery.notification_id.in_([uuid.UUID(c) for c in committed])
                        )
                    )
                ]
            assert len(ids) == len(committed)
            await pipeline.wait_until(ids, DeliveryStatus.SENT, sweep=True)
    # Every committed notification reached the device, and the member sees each once.
    delivered = {m.data["notification_id"] for m in standin.accepted()}
    assert set(committed) <= delivered
    assert len({m.collapse_key for m in standin.accepted()}) == len(committed)
