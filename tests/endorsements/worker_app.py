"""A Celery app for tests: the product's, plus the endorsements tasks (until worker.py lists
them). Started as ``python -m celery -A tests.endorsements.worker_app worker``."""

from __future__ import annotations

from polis.worker import create_celery

celery_app = create_celery()
celery_app.conf.include = [*celery_app.conf.include, "polis.endorsements.tasks"]
