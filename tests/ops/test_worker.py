"""The heartbeat task goes through a real Celery worker process on the real broker."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

import pytest
from redis.asyncio import Redis

from polis.config import Settings
from polis.ops.tasks import HEARTBEAT_KEY
from polis.worker import create_celery
from tests.conftest import process_env, running_worker


@pytest.fixture
def worker_process(settings: Settings) -> Iterator[subprocess.Popen[bytes]]:
    with running_worker(process_env(settings), "--concurrency", "1") as process:
        yield process


@pytest.mark.slow
async def test_heartbeat_runs_in_a_real_worker(
    settings: Settings, redis: Redis, worker_process: subprocess.Popen[bytes]
) -> None:
    celery = create_celery(settings)
    result = celery.send_task("polis.ops.heartbeat")
    # Blocking wait for the worker's answer; the worker needs a moment to boot.
    beat_at = result.get(timeout=60)
    assert worker_process.poll() is None
    stored = await redis.get(HEARTBEAT_KEY)
    assert stored is not None
    record = json.loads(stored)
    assert record["at"] == beat_at
    assert record["host"]
    assert 0 < await redis.ttl(HEARTBEAT_KEY) <= 3600


def test_beat_schedule_has_the_heartbeat_and_uses_redbeat(settings: Settings) -> None:
    celery = create_celery(settings)
    assert celery.conf.beat_scheduler == "redbeat.RedBeatScheduler"
    assert celery.conf.redbeat_redis_url == settings.redis_url
    entry = celery.conf.beat_schedule["ops-heartbeat"]
    assert entry["task"] == "polis.ops.heartbeat"
    assert entry["schedule"].total_seconds() == settings.heartbeat_interval_seconds
    assert celery.conf.task_acks_late is True
    assert celery.conf.task_reject_on_worker_lost is True
    assert celery.conf.accept_content == ["json"]
