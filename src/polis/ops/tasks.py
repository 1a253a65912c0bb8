"""Background tasks of the platform itself."""

from __future__ import annotations

import json
import socket

from celery import shared_task

from polis.kit import clock
from polis.kit.worker_redis import sync_redis

HEARTBEAT_KEY = "polis:worker:heartbeat"


@shared_task(name="polis.ops.heartbeat", ignore_result=False)
def heartbeat() -> str:
    """Record that a worker is alive and consuming; readiness dashboards read the key."""
    beat_at = clock.now().isoformat()
    record = json.dumps({"at": beat_at, "host": socket.gethostname()})
    sync_redis().set(HEARTBEAT_KEY, record, ex=3600)
    return beat_at
