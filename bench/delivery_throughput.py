"""Delivery pipeline throughput: push deliveries per second through ONE Celery worker process
against the local FCM v1 stand-in.

    .venv/bin/python -m bench.delivery_throughput [--deliveries 2000] [--concurrency 1]

Starts the embedded PostgreSQL and Redis in a scratch folder (migrated), the FCM stand-in
(tests/support/fcm_standin.py: the OAuth grant and ``messages:send``, answering 200) in this
process, and one `polis worker` with ``--concurrency`` pool processes using the FCM sender.
Members with one push device each get notifications through ``notify`` (one delivery row per
notification, committed in batches); every row's ``polis.notifications.deliver`` task is then
published at once, and the clock runs from the first publish until the database says every
row is ``sent``. Each send is the whole path: claim (conditional UPDATE, commit), render in
the member's language, the HTTP POST to the stand-in, the ``sent`` mark (commit).

A warm-up round (OAuth token, connection pools, the worker's imports) is not counted. The
stand-in, PostgreSQL, Redis and the worker share the machine's cores, so the figure is a floor.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from celery import Celery
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from tests.support.fcm_standin import FcmStandIn, running_fcm_standin

from bench.report import record, show
from polis.config import Settings
from polis.kit import migrations
from polis.kit.db import create_engine, create_sessionmaker
from polis.kit.embedded import EmbeddedServers
from polis.notifications import service
from polis.notifications.delivery import DELIVER_TASK
from polis.notifications.models import Delivery, DeliveryStatus, NotificationType, PushPlatform
from polis.users import service as users_service
from polis.worker import create_celery

QUEUE = "polis-bench-deliveries"
MEMBERS = 50
BATCH = 200
WAIT_SECONDS = 600.0


async def _seed(settings: Settings, engine: AsyncEngine, deliveries: int) -> list[str]:
    """``deliveries`` push deliveries (pending), to MEMBERS members with one device each."""
    sessions = create_sessionmaker(engine)
    members: list[uuid.UUID] = []
    async with sessions() as session:
        for n in range(MEMBERS):
            user, _ = await users_service.get_or_create_by_phone(
                session, settings, f"+995555{700000 + n:06d}"
            )
            await service.register_device(
                session, user, f"bench:{uuid.uuid4().hex}:{n}", PushPlatform.ANDROID
            )
            members.append(user.id)
        await session.commit()
    for start in range(0, deliveries, BATCH):
        async with sessions() as session:
            for n in range(start, min(start + BATCH, deliveries)):
                notification = await service.notify(
                    session,
                    members[n % MEMBERS],
                    NotificationType.ACHIEVEMENT_UNLOCKED,
                    {"achievement": f"bench-{n}"},
                )
                assert notification is not None
            await session.commit()
    async with sessions() as session:
        rows = await session.scalars(select(Delivery.id).order_by(Delivery.created_at))
        return [str(i) for i in rows.all()]


async def _sent(engine: AsyncEngine) -> int:
    async with create_sessionmaker(engine)() as session:
        count = await session.scalar(
            select(func.count()).select_from(Delivery).where(Delivery.status == DeliveryStatus.SENT)
        )
    return int(count or 0)


async def _drain(engine: AsyncEngine, celery: Celery, ids: list[str], already: int) -> float:
    """Publish a deliver task per id; seconds until every one is sent."""
    started = time.perf_counter()
    for delivery_id in ids:
        celery.send_task(DELIVER_TASK, args=[delivery_id], queue=QUEUE, ignore_result=True)
    deadline = started + WAIT_SECONDS
    while time.perf_counter() < deadline:
        if await _sent(engine) >= already + len(ids):
            return time.perf_counter() - started
        await asyncio.sleep(0.05)
    raise SystemExit(f"only {await _sent(engine) - already} of {len(ids)} sent in time")


def _worker(settings: Settings, standin: FcmStandIn, data_dir: Path, concurrency: int) -> Any:
    assert standin.account is not None and settings.database_url and settings.redis_url
    env = {
        **os.environ,
        "POLIS_DATA_DIR": str(data_dir),
        "POLIS_DATABASE_URL": settings.database_url,
        "POLIS_REDIS_URL": settings.redis_url,
        "POLIS_PUSH_PROVIDER": "fcm",
        "POLIS_FCM_CREDENTIALS_JSON": standin.account.json,
        "POLIS_FCM_BASE_URL": standin.url,
        "POLIS_LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "polis",
            "worker",
            "--concurrency",
            str(concurrency),
            "--queues",
            QUEUE,
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


async def _measure(
    settings: Settings, data_dir: Path, deliveries: int, concurrency: int
) -> dict[str, Any]:
    assert settings.database_url
    engine = create_engine(settings.database_url, pool_size=2, max_overflow=0)
    warmup = max(20, deliveries // 20)
    ids = await _seed(settings, engine, warmup + deliveries)
    celery = create_celery(settings)
    with running_fcm_standin() as standin:
        worker = _worker(settings, standin, data_dir, concurrency)
        try:
            await _drain(engine, celery, ids[:warmup], 0)
            standin.reset()
            seconds = await _drain(engine, celery, ids[warmup:], warmup)
            accepted = len(standin.accepted())
        finally:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=30)
    await engine.dispose()
    return {
        "deliveries": deliveries,
        "worker processes": concurrency,
        "seconds": round(seconds, 2),
        "deliveries/s": round(deliveries / seconds, 1),
        "ms/delivery": round(1000 * seconds / deliveries, 2),
        "FCM requests": accepted,
    }


def _run(deliveries: int, concurrency: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="polis-bench-") as scratch:
        data_dir = Path(scratch)
        servers = EmbeddedServers(data_dir / "servers").start()
        try:
            settings = Settings(
                data_dir=data_dir,
                database_url=servers.database_url,
                redis_url=servers.redis_url,
                _env_file=None,
            )
            migrations.upgrade(servers.database_url)
            return asyncio.run(_measure(settings, data_dir, deliveries, concurrency))
        finally:
            servers.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--deliveries", type=int, default=2000)
    parser.add_argument(
        "--concurrency", type=int, default=1, help="pool processes of the one worker"
    )
    args = parser.parse_args()
    result = _run(args.deliveries, args.concurrency)
    show("Delivery throughput: push through one worker to the FCM stand-in", result)
    record("delivery_throughput", **result)


if __name__ == "__main__":
    main()
