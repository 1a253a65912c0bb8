"""The Celery application and the beat schedule (DESIGN.md §3.9).

Broker and results live on Redis. Tasks are acknowledged late and rejected when a worker dies,
so a killed worker's task runs again elsewhere; tasks are written to be idempotent for that
reason. Beat runs RedBeat, whose Redis lock lets a second beat host wait instead of firing twice.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from celery import Celery
from celery.schedules import crontab
from celery.signals import setup_logging

from polis.config import Settings, get_settings
from polis.elections.hooks import register as register_election_hooks
from polis.kit.logging import configure_logging
from polis.models import import_all_models

# The periodic jobs of DESIGN.md §3.9, one table (name → entry). Interval jobs use timedelta;
# daily and weekly ones run at fixed UTC times (crontab). Every task is idempotent and bounded
# per run. A job is registered once its task exists; still to come:
#   daily           GeD re-verification batch
HOURLY = timedelta(hours=1)
EVERY_MINUTE = timedelta(minutes=1)


def _job(task: str, schedule: timedelta | crontab) -> dict[str, Any]:
    """One beat entry: the task's name and when it runs."""
    return {"task": task, "schedule": schedule}


BEAT_SCHEDULE: dict[str, dict[str, Any]] = {
    # §3.9 hourly: hierarchy formation sweep
    "units-hierarchy-sweep": _job("polis.units.hierarchy_sweep", HOURLY),
    # §3.9 hourly: endorsement request expiry
    "endorsements-expire-requests": _job("polis.endorsements.expire_requests", HOURLY),
    # Outbox retry of GeD fines (endorsement penalties)
    "endorsements-sweep-ged-fines": _job("polis.endorsements.sweep_ged_fines", HOURLY),
    # Gamification milestones
    "gamification-milestone-sweep": _job("polis.gamification.milestone_sweep", HOURLY),
    # Arbitration: cases waiting for an arbitrator
    "arbitration-assign-waiting": _job("polis.arbitration.assign_waiting", HOURLY),
    # §3.9 every minute: election lifecycle (open, finalise, runoffs, install leaders,
    # schedule (re-)elections)
    "elections-lifecycle": _job("polis.elections.lifecycle", EVERY_MINUTE),
    # §3.9 every 5 minutes: SOS deadline sweep
    "sos-deadline-sweep": _job("polis.sos.deadline_sweep", timedelta(minutes=5)),
    # §3.9 hourly: initiative answer deadlines
    "initiatives-answer-deadlines": _job("polis.initiatives.deadline_sweep", HOURLY),
    # §3.9 daily: member activity report for admins (yesterday, UTC)
    "maintenance-activity-report": _job(
        "polis.maintenance.activity_report", crontab(minute=5, hour=0)
    ),
    # §3.9 daily: notification retention purge (§3.8)
    "maintenance-purge-notifications": _job(
        "polis.maintenance.purge_notifications", crontab(minute=30, hour=2)
    ),
    # §3.9 weekly: inactive cleanup (never-onboarded accounts, dead sessions)
    "maintenance-inactive-cleanup": _job(
        "polis.maintenance.inactive_cleanup", crontab(minute=0, hour=3, day_of_week="sunday")
    ),
    # §3.8 delivery outbox: re-enqueue due deliveries (lost tasks, dead workers)
    "notifications-sweep-deliveries": _job("polis.notifications.sweep_deliveries", EVERY_MINUTE),
}

TASK_MODULES = [
    "polis.ops.tasks",
    "polis.sms.tasks",
    "polis.units.tasks",
    "polis.gamification.tasks",
    "polis.endorsements.tasks",
    "polis.arbitration.tasks",
    "polis.maintenance.tasks",
    "polis.initiatives.tasks",
    "polis.sos.tasks",
    "polis.elections.tasks",
    "polis.notifications.tasks",
    "polis.email.tasks",
]


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    return {
        "ops-heartbeat": _job(
            "polis.ops.heartbeat", timedelta(seconds=settings.heartbeat_interval_seconds)
        ),
        **BEAT_SCHEDULE,
    }


def create_celery(settings: Settings | None = None) -> Celery:
    settings = settings or get_settings()
    import_all_models()
    register_election_hooks()
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
        # A standby beat checks the lock this often; well under the lock timeout so it takes
        # over soon after the holder dies (Celery's default is 300 s).
        beat_max_loop_interval=max(1, settings.beat_lock_timeout // 5),
        worker_hijack_root_logger=False,
    )
    return app


@setup_logging.connect
def _configure_worker_logging(**_: Any) -> None:
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_json)


celery_app = create_celery()
