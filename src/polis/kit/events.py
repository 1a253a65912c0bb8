"""The after-commit buffer: Celery jobs and real-time events raised while handling a request.

Services append to the buffer of their session; nothing leaves the process until the
transaction commits. A rollback drops the buffer, so no worker ever sees a job about a row
that does not exist.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from polis.kit.logging import get_logger

log = get_logger(__name__)

_BUFFER_KEY = "polis.after_commit"


@dataclass(frozen=True)
class TaskJob:
    """A Celery task to send by name; tasks take ids, not objects."""

    name: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RealtimeEvent:
    """An event for WebSocket subscribers, published on a Redis channel."""

    channel: str
    event: str
    data: dict[str, Any]


AfterCommitItem = TaskJob | RealtimeEvent
SendTask = Callable[[TaskJob], None]


def pending(session: AsyncSession) -> list[AfterCommitItem]:
    """The items buffered on ``session`` (created on first use)."""
    buffer: list[AfterCommitItem] = session.info.setdefault(_BUFFER_KEY, [])
    return buffer


def enqueue_task(session: AsyncSession, name: str, *args: Any, **kwargs: Any) -> None:
    """Send Celery task ``name`` once ``session`` commits."""
    pending(session).append(TaskJob(name=name, args=args, kwargs=kwargs))


def publish_event(session: AsyncSession, channel: str, event: str, data: dict[str, Any]) -> None:
    """Publish ``event`` on ``channel`` once ``session`` commits."""
    pending(session).append(RealtimeEvent(channel=channel, event=event, data=data))


def discard(session: AsyncSession) -> None:
    session.info.pop(_BUFFER_KEY, None)


async def dispatch(
    session: AsyncSession, *, send_task: SendTask | None, redis: Redis | None
) -> int:
    """Send what ``session`` buffered. Call only after a successful commit.

    A failure to send one item is logged and does not stop the others: the transaction has
    already committed, and periodic sweeps pick up whatever the database says is still due.
    """
    items: list[AfterCommitItem] = session.info.pop(_BUFFER_KEY, [])
    for item in items:
        try:
            if isinstance(item, TaskJob):
                if send_task is not None:
                    # Publishing to the broker is blocking I/O in kombu.
                    await anyio.to_thread.run_sync(send_task, item)
            elif redis is not None:
                payload = json.dumps({"event": item.event, "data": item.data}, default=str)
                await redis.publish(item.channel, payload)
        except Exception:
            log.exception("after_commit.dispatch_failed", item=type(item).__name__)
    return len(items)


def send_from_worker(job: TaskJob) -> None:
    """Publish an after-commit job from inside a Celery worker (the worker's own app), fire
    and forget like the API's publisher: nobody reads these tasks' results."""
    from celery import current_app

    current_app.send_task(job.name, args=list(job.args), kwargs=job.kwargs, ignore_result=True)


async def commit_and_dispatch(
    session: AsyncSession, *, redis: Redis | None, send_task: SendTask | None = send_from_worker
) -> None:
    """Commit ``session``, then send what it buffered: the one way a background job ends a
    transaction, so the notifications and real-time events it raised reach people as a
    request's would."""
    await session.commit()
    await dispatch(session, send_task=send_task, redis=redis)
