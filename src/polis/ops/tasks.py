"""Background tasks of the platform itself."""

from __future__ import annotations

import json
import socket

from celery import shared_task

from polis.kit import clock
from polis.kit.worker_redis import sync_redis

HEARTBEAT_KEY = "polis:worker:heartbeat"
# Every run, newest last (bounded): shows how often beat fired, e.g. never twice per period
# when two beat hosts run (the beat test reads it).
HEARTBEAT_RUNS_KEY = "polis:worker:heartbeat:runs"
HEARTBEAT_RUNS_KEPT = 1000


@shared_task(name="polis.ops.heartbeat", ignore_result=False)
def heartbeat() -> str:
    """Record that a worker is alive and consuming; readiness dashboards read the key."""
    beat_at = clock.now().isoformat()
    record = json.dumps({"at": beat_at, "host": socket.gethostname()})
    with sync_redis().pipeline() as pipe:
        pipe.set(HEARTBEAT_KEY, record, ex=3600)
        pipe.rpush(HEARTBEAT_RUNS_KEY, beat_at)
        pipe.ltrim(HEARTBEAT_RUNS_KEY, -HEARTBEAT_RUNS_KEPT, -1)
        pipe.expire(HEARTBEAT_RUNS_KEY, 3600)
        pipe.execute()
    return beat_at
