"""The Celery application and the beat schedule (DESIGN.md §3.9).

Broker and results live on Redis. Tasks are acknowledged late and rejected when a worker dies,
so a killed worker's task runs again elsewhere; tasks are written to be idempotent for that
reason. Beat runs RedBeat, whose Redis lock lets a second beat host wait instead of firing twice.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from celery import Celery
from celery.signals import setup_logging

from polis.config import Settings, get_settings
from polis.kit.logging import configure_logging
from polis.models import import_all_models

# Domains add their periodic jobs here (name → entry); DESIGN.md §3.9 lists what is due.
BEAT_SCHEDULE: dict[str, dict[str, Any]] = {
    "units-hierarchy-sweep": {
        "task": "polis.units.hierarchy_sweep",
        "schedule": timedelta(hours=1),
    },
    "gamification-milestone-sweep": {
        "task": "polis.gamification.milestone_sweep",
        "schedule": timedelta(hours=1),
    },
    "endorsements-expire-requests": {
        "task": "polis.endorsements.expire_requests",
        "schedule": timedelta(hours=1),
    },
    "endorsements-sweep-ged-fines": {
        "task": "polis.endorsements.sweep_ged_fines",
        "schedule": timedelta(hours=1),
    },
    "arbitration-assign-waiting": {
        "task": "polis.arbitration.assign_waiting",
        "schedule": timedelta(hours=1),
    },
}

TASK_MODULES = [
    "polis.ops.tasks",
    "polis.sms.tasks",
    "polis.units.tasks",
    "polis.gamification.tasks",
    "polis.endorsements.tasks",
    "polis.arbitration.tasks",
]


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    return {
        "ops-heartbeat": {
            "task": "polis.ops.heartbeat",
            "schedule": timedelta(seconds=settings.heartbeat_interval_seconds),
        },
        **BEAT_SCHEDULE,
    }


def create_celery(settings: Settings | None = None) -> Celery:
    settings = settings or get_settings()
    import_all_models()
    # Without a URL (for example when only importing tasks) point at the default local Redis.
    redis_url = settings.redis_url or "redis://127.0.0.1:6379/0"
    app = Celery("polis", include=TASK_MODULES)
    app.conf.update(
        broker_url=redis_url,
        result_backend=redis_url,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_time_limit=settings.celery_task_time_limit,
        task_soft_time_limit=settings.celery_task_soft_time_limit,
        result_expires=24 * 3600,
        broker_connection_retry_on_startup=True,
        # Late acks need a visibility timeout longer than the longest task.
        broker_transport_options={"visibility_timeout": settings.celery_task_time_limit * 4},
        timezone="UTC",
        enable_utc=True,
        beat_scheduler="redbeat.RedBeatScheduler",
        beat_schedule=beat_schedule(settings),
        redbeat_redis_url=redis_url,
        redbeat_key_prefix="polis:redbeat",
        redbeat_lock_timeout=settings.beat_lock_timeout,
        worker_hijack_root_logger=False,
    )
    return app


@setup_logging.connect
def _configure_worker_logging(**_: Any) -> None:
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_json)


celery_app = create_celery()
