"""Two real beat processes and one real worker: each period fires exactly once, and when the
beat holding the RedBeat lock is killed the other takes over within the lock timeout.

Beat runs on real time, so this test waits on real processes (no clock seam).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime
from pathlib import Path

import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from polis.config import Settings
from polis.kit import clock
from polis.ops.tasks import HEARTBEAT_RUNS_KEY
from polis.worker import create_celery
from tests.conftest import ROOT, process_env, running_worker

INTERVAL = 2.0
LOCK_TIMEOUT = 5
ACQUIRED = "Acquired lock"


@contextmanager
def running_beat(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "polis", "beat"],
            env=env,
            cwd=ROOT,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def holds_lock(log: Path) -> bool:
    return ACQUIRED in log.read_text(errors="replace")


async def wait_for(condition: Callable[[], bool], within: float) -> float:
    """Poll ``condition`` until true; returns the seconds it took."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > within:
            raise AssertionError(f"not within {within} s")
        await asyncio.sleep(0.1)
    return time.monotonic() - started


async def runs(redis: Redis) -> list[datetime]:
    stored = await redis.lrange(HEARTBEAT_RUNS_KEY, 0, -1)
    return [datetime.fromisoformat(r.decode() if isinstance(r, bytes) else r) for r in stored]


def gaps(times: list[datetime]) -> list[float]:
    return [(b - a).total_seconds() for a, b in itertools.pairwise(times)]


@pytest.mark.slow
async def test_two_beats_fire_once_per_period_and_fail_over(
    settings: Settings, redis: Redis, engine: AsyncEngine, tmp_path: Path
) -> None:
    started_at = clock.now()
    beat_env = process_env(
        settings,
        POLIS_HEARTBEAT_INTERVAL_SECONDS=str(INTERVAL),
        POLIS_BEAT_LOCK_TIMEOUT=str(LOCK_TIMEOUT),
        POLIS_LOG_LEVEL="INFO",
        CELERY_CONFIG_MODULE="tests.maintenance.beat_config",
    )
    logs = [tmp_path / "beat-a.log", tmp_path / "beat-b.log"]
    try:
        with ExitStack() as stack:
            stack.enter_context(running_worker(process_env(settings), "--concurrency", "2"))
            # The worker is up (it answers) before any beat starts, so run times are send times.
            create_celery(settings).send_task("polis.ops.heartbeat").get(timeout=60)
            await redis.delete(HEARTBEAT_RUNS_KEY)

            beats = [stack.enter_context(running_beat(beat_env, log)) for log in logs]
            await wait_for(lambda: any(holds_lock(log) for log in logs), 60)
            holder = 0 if holds_lock(logs[0]) else 1
            standby = 1 - holder

            # Both beats run; one fires.
            await asyncio.sleep(12)
            assert all(beat.poll() is None for beat in beats)
            assert not holds_lock(logs[standby])
            first = await runs(redis)
            assert 5 <= len(first) <= 8, first
            # A period fired twice would show as two runs a moment apart; a missed one as a gap.
            assert all(INTERVAL / 2 <= gap <= INTERVAL * 1.75 for gap in gaps(first)), gaps(first)

            # The lock holder dies without releasing its lock: the standby takes over once the
            # lock expires (plus one poll of the standby, 1 s here).
            os.killpg(beats[holder].pid, signal.SIGKILL)
            beats[holder].wait()
            took = await wait_for(lambda: holds_lock(logs[standby]), LOCK_TIMEOUT + 10)
            assert took <= LOCK_TIMEOUT + 2.5, took

            await asyncio.sleep(10)
            assert beats[standby].poll() is None
            every = await runs(redis)
            after = every[len(first) :]
            assert 4 <= len(after) <= 7, after
            assert all(INTERVAL / 2 <= gap <= INTERVAL * 1.75 for gap in gaps(after)), gaps(after)
            # Across the takeover: nothing doubled, and the pause is bounded by the lock timeout.
            assert all(gap >= INTERVAL / 2 for gap in gaps(every)), gaps(every)
            assert max(gaps(every)) <= LOCK_TIMEOUT + INTERVAL + 2.5, gaps(every)
    finally:
        # Beat fires every job once when it starts; keep the suite's database as it was.
        async with engine.begin() as conn:
            await conn.execute(
                text("DELETE FROM activity_reports WHERE created_at >= :t"), {"t": started_at}
            )
