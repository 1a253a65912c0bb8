"""Background work of notifications: sending the delivery outbox (delivery.py).

- ``polis.notifications.deliver(delivery_id)`` (after ``notify`` commits, on retries, from the
  sweep and from an admin's retry): one attempt of one delivery. Claim in one transaction,
  send outside any transaction (a slow provider holds no row lock and no connection), record
  the outcome in a second one. Idempotent: a sent, final or claimed row is left alone.
- ``polis.notifications.sweep_deliveries`` (beat, every minute):
  enqueues every due row, so a send whose task the broker lost (Redis restarted) or whose
  worker died (lease expired) still happens.

A worker process keeps one event loop, one small engine and one sender per channel for its
whole life (a fresh engine per task would cost more than the send): these tasks are the one
place that does not enter async code through ``polis.kit.jobs.run_job``, which opens and
closes them per run. Every transaction still ends with ``commit_and_dispatch``.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from celery import Task, shared_task
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from polis.config import Settings, get_settings
from polis.email.adapter import EmailRejected, EmailSender, email_sender
from polis.kit.db import create_engine, create_sessionmaker
from polis.kit.events import commit_and_dispatch, send_from_worker
from polis.kit.logging import get_logger
from polis.notifications import delivery, service
from polis.notifications.delivery import DELIVER_TASK, SWEEP_TASK, NotDue, Outgoing
from polis.notifications.models import Channel
from polis.push.adapter import (
    PushMessage,
    PushRetryable,
    PushSender,
    PushTokenRejected,
    push_sender,
)
from polis.sms.adapter import SmsSender, sms_sender

log = get_logger(__name__)

T = TypeVar("T")


@dataclass
class WorkerRuntime:
    """What one worker process keeps for its life: its event loop, sessions and senders."""

    pid: int
    loop: asyncio.AbstractEventLoop
    sessions: async_sessionmaker[AsyncSession]
    push: PushSender
    email: EmailSender
    sms: SmsSender


_runtime: WorkerRuntime | None = None


def _get_runtime(settings: Settings) -> WorkerRuntime:
    """This process's loop, engine and senders (made again in a forked child)."""
    global _runtime
    if _runtime is None or _runtime.pid != os.getpid():
        if settings.database_url is None:
            raise RuntimeError("POLIS_DATABASE_URL is not set for this worker")
        loop = asyncio.new_event_loop()
        engine = create_engine(settings.database_url, pool_size=2, max_overflow=0)
        _runtime = WorkerRuntime(
            pid=os.getpid(),
            loop=loop,
            sessions=create_sessionmaker(engine),
            push=push_sender(settings),
            email=email_sender(settings),
            sms=sms_sender(settings),
        )
    return _runtime


def _run(settings: Settings, work: Callable[[WorkerRuntime], Awaitable[T]]) -> T:
    runtime = _get_runtime(settings)
    return runtime.loop.run_until_complete(work(runtime))


@dataclass(frozen=True)
class Attempt:
    """How one run of the task ended: ``outcome`` for the log and the test, ``retry_in`` when
    the broker should bring the task back (the row holds the deadline either way)."""

    outcome: str
    retry_in: float | None = None


def send_outgoing(runtime: WorkerRuntime, outgoing: Outgoing) -> None:
    """Hand ``outgoing`` to its channel's sender (blocking; raises what the sender raises)."""
    assert outgoing.address is not None  # attempt_delivery never sends without one
    if outgoing.channel is Channel.PUSH:
        runtime.push.send(
            PushMessage(
                token=outgoing.address,
                title=outgoing.title,
                body=outgoing.body,
                collapse_key=str(outgoing.notification_id),
                data={
                    "delivery_id": str(outgoing.delivery_id),
                    "notification_id": str(outgoing.notification_id),
                    "type": outgoing.type,
                },
            )
        )
    elif outgoing.channel is Channel.EMAIL:
        runtime.email.send(
            outgoing.address,
            outgoing.title,
            outgoing.body,
            message_id=str(outgoing.delivery_id),
        )
    else:
        runtime.sms.send(outgoing.address, f"{outgoing.title}: {outgoing.body}")


async def _commit(session: AsyncSession) -> None:
    """End one of the attempt's transactions. Nothing in them raises a job or an event today;
    should one, it leaves after the commit like everywhere else (the retry hint is no such job:
    it needs a countdown and a queue, and ``deliver`` sends it once the attempt is over)."""
    await commit_and_dispatch(session, redis=None, send_task=send_from_worker)


async def _record_failure(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    claimed: Outgoing,
    exc: Exception,
) -> Attempt:
    """Write down why the send of ``claimed`` failed: for good, or the next attempt's time."""
    async with sessions() as session:
        if isinstance(exc, PushTokenRejected):
            await delivery.mark_failed_permanent(session, claimed, exc.reason)
            assert claimed.address is not None
            await service.remove_unregistered(session, claimed.address)
            await _commit(session)
            return Attempt("failed_permanent")
        if isinstance(exc, EmailRejected):
            await delivery.mark_failed_permanent(session, claimed, str(exc))
            await _commit(session)
            return Attempt("failed_permanent")
        # Our own messages only: they never hold the address or the text.
        reason = str(exc) if isinstance(exc, RuntimeError) else type(exc).__name__
        retry_after = exc.retry_after if isinstance(exc, PushRetryable) else None
        wait = await delivery.schedule_retry(session, settings, claimed, reason, retry_after)
        await _commit(session)
    log.warning(
        "delivery.failed",
        delivery_id=str(claimed.delivery_id),
        channel=claimed.channel.value,
        attempt=claimed.attempt,
        reason=reason[:200],
        retry_in=wait,
    )
    return Attempt("retry", retry_in=wait) if wait is not None else Attempt("dead")


async def attempt_delivery(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    delivery_id: uuid.UUID,
    send: Callable[[Outgoing], None],
) -> Attempt:
    """One attempt at ``delivery_id`` through ``send`` (run in a thread).

    Three steps, so a send is at least once and never twice at the same time: the claim
    commits before the send (a second worker sees the lease; a killed worker's lease runs
    out and the sweep retries), the send holds no transaction, and the outcome commits in a
    transaction of its own.
    """
    async with sessions() as session:
        claimed = await delivery.claim(session, settings, delivery_id)
        await _commit(session)
    if claimed is None:
        return Attempt("skipped")
    if isinstance(claimed, NotDue):
        return Attempt("not_due", retry_in=max(claimed.seconds, 0.0))
    if claimed.address is None:
        # The device was removed, or the member has no email or phone any more.
        async with sessions() as session:
            await delivery.mark_failed_permanent(session, claimed, "no address")
            await _commit(session)
        return Attempt("failed_permanent")
    try:
        await asyncio.to_thread(send, claimed)
    except Exception as exc:
        return await _record_failure(sessions, settings, claimed, exc)
    async with sessions() as session:
        await delivery.mark_sent(session, claimed)
        await _commit(session)
    return Attempt("sent")


def _queue_of(task: Task[Any, Any]) -> str:
    """The queue ``task``'s message came from: follow-up sends go to the same workers."""
    info = task.request.delivery_info or {}
    return str(info.get("routing_key") or task.app.conf.task_default_queue)


@shared_task(name=DELIVER_TASK, bind=True, acks_late=True, ignore_result=True)
def deliver(self: Task[Any, Any], delivery_id: str) -> str:
    """One attempt at the delivery ``delivery_id``; the outcome (``sent``, ``retry``, ``dead``,
    ``failed_permanent``, ``skipped``, ``not_due``)."""
    settings = get_settings()

    async def work(runtime: WorkerRuntime) -> Attempt:
        return await attempt_delivery(
            runtime.sessions, settings, uuid.UUID(delivery_id), lambda o: send_outgoing(runtime, o)
        )

    attempt = _run(settings, work)
    if attempt.retry_in is not None:
        # A hint only: if this message is lost, the sweep finds the row when it is due.
        deliver.apply_async((delivery_id,), countdown=attempt.retry_in, queue=_queue_of(self))
    log.info("delivery.attempted", delivery_id=delivery_id, outcome=attempt.outcome)
    return attempt.outcome


@shared_task(name=SWEEP_TASK, bind=True, acks_late=True, ignore_result=True)
def sweep_deliveries(self: Task[Any, Any]) -> int:
    """Enqueue every due delivery (lost tasks, dead workers). Idempotent: claiming is."""
    settings = get_settings()

    async def work(runtime: WorkerRuntime) -> list[uuid.UUID]:
        async with runtime.sessions() as session:
            return await delivery.due_ids(session)

    ids = _run(settings, work)
    queue = _queue_of(self)
    for delivery_id in ids:
        deliver.apply_async((str(delivery_id),), queue=queue)
    if ids:
        log.info("delivery.swept", count=len(ids))
    return len(ids)
