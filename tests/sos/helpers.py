"""SOS test helpers: the app in the test's transaction, a led hierarchy, counting rows."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from polis.audit.models import AuditLog
from polis.config import Settings
from polis.notifications.models import Notification, NotificationType
from polis.sos.models import EscalationReason, SosEscalation, SosSignal
from tests.arbitration.helpers import Tree, make_admin, tree
from tests.conftest import client_for, serve_app
from tests.gamification.helpers import headers_for

SIGNALS = "/api/v1/sos/signals"
MORAL_FILTER = "/api/v1/sos/moral-filter"


@asynccontextmanager
async def sos_app(
    settings: Settings, session: AsyncSession, **overrides: object
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The real app (with ``overrides`` in its settings), its requests in the test's
    transaction."""
    connection = session.bind
    assert isinstance(connection, AsyncConnection)
    async with (
        serve_app(settings, None, connection=connection, **overrides) as app,
        client_for(app) as http,
    ):
        yield app, http


@asynccontextmanager
async def sos_client(
    settings: Settings, session: AsyncSession, **overrides: object
) -> AsyncIterator[httpx.AsyncClient]:
    async with sos_app(settings, session, **overrides) as (_, http):
        yield http


def auth(settings: Settings, user_id: uuid.UUID) -> dict[str, str]:
    return headers_for(settings, user_id)


def signal_body(**extra: object) -> dict[str, object]:
    return {
        "title": "Water cut off for a week",
        "description": "The landlord cut the water of the whole building to force us out.",
        "location": "12 Vazha-Pshavela Ave, Tbilisi",
        "moral_filter_response": "Yes: forty families have no water, it is not a quarrel.",
        **extra,
    }


def data(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is True
    return body["data"]


def error(response: httpx.Response, status: int, code: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == code, body
    result: dict[str, Any] = body["error"]
    return result


async def stored(session: AsyncSession, signal_id: str | uuid.UUID) -> SosSignal:
    key = uuid.UUID(str(signal_id))
    return await session.get_one(SosSignal, key, populate_existing=True)


async def count_signals(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(SosSignal)) or 0)


async def trail(session: AsyncSession, signal_id: str | uuid.UUID) -> list[SosEscalation]:
    rows = await session.scalars(
        select(SosEscalation)
        .where(SosEscalation.signal_id == uuid.UUID(str(signal_id)))
        .order_by(SosEscalation.step)
        .execution_options(populate_existing=True)
    )
    return list(rows.all())


async def steps(session: AsyncSession, signal_id: str | uuid.UUID, reason: EscalationReason) -> int:
    return sum(1 for step in await trail(session, signal_id) if step.reason is reason)


async def notified(session: AsyncSession, user_id: uuid.UUID, kind: NotificationType) -> int:
    return int(
        await session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.user_id == user_id, Notification.type == kind)
        )
        or 0
    )


async def audited(session: AsyncSession, signal_id: str | uuid.UUID, action: str) -> int:
    return int(
        await session.scalar(
            select(func.count())
            .select_from(AuditLog)
            .where(AuditLog.entity_id == str(signal_id), AuditLog.action == action)
        )
        or 0
    )


async def queued_tasks(redis: Redis, queue: str) -> list[tuple[str, list[Any], dict[str, Any]]]:
    """(task name, args, kwargs) of every message the broker holds in ``queue``."""
    found = []
    for raw in await redis.lrange(queue, 0, -1):
        message = json.loads(raw)
        args, kwargs, _ = json.loads(base64.b64decode(message["body"]))
        found.append((message["headers"]["task"], args, kwargs))
    return found


async def raise_as(
    http: httpx.AsyncClient, settings: Settings, reporter: uuid.UUID, **extra: object
) -> dict[str, Any]:
    answer = await http.post(SIGNALS, json=signal_body(**extra), headers=auth(settings, reporter))
    result: dict[str, Any] = data(answer, 201)
    return result


__all__ = ["Tree", "make_admin", "tree"]
