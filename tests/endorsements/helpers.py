"""Helpers for endorsements tests: the routes mounted on the real app, members, rows."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import APIRouter, FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from polis.audit.models import AuditLog
from polis.config import Settings
from polis.endorsements.models import Endorsement, EndorsementStatus
from polis.endorsements.router import admin_router, router
from polis.kit import clock
from polis.notifications.models import Notification, NotificationType
from polis.users.models import UserRole
from tests.conftest import Member, client_for, serve_app
from tests.units.factories import verified


def endorsements_router() -> APIRouter:
    api = APIRouter()
    api.include_router(router)
    api.include_router(admin_router)
    return api


@asynccontextmanager
async def serve(
    settings: Settings, connection: AsyncConnection | None = None
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The real app with the endorsements routes mounted (until app.py registers them)."""
    async with (
        serve_app(settings, endorsements_router(), connection=connection) as app,
        client_for(app) as http,
    ):
        yield app, http


@asynccontextmanager
async def client(settings: Settings, session: AsyncSession) -> AsyncIterator[httpx.AsyncClient]:
    connection = session.bind
    assert isinstance(connection, AsyncConnection)
    async with serve(settings, connection) as (_, http):
        yield http


async def geder(session: AsyncSession, settings: Settings, territory_id: uuid.UUID) -> Member:
    member = await verified(session, settings, territory_id, role=UserRole.GEDER)
    member.user.ged_number = f"GED{secrets.randbelow(10**6):06d}"
    await session.flush()
    return member


async def newcomer(
    session: AsyncSession, settings: Settings, territory_id: uuid.UUID | None, **kwargs: Any
) -> Member:
    """An onboarded member without GeD or tavdebi."""
    return await verified(session, settings, territory_id, role=UserRole.UNVERIFIED, **kwargs)


async def approved(
    session: AsyncSession, requester_id: uuid.UUID, geder_id: uuid.UUID
) -> Endorsement:
    """An approved endorsement straight in the database (the requester made a supporter)."""
    from polis.users.models import User

    now = clock.now()
    row = Endorsement(
        requester_id=requester_id,
        geder_id=geder_id,
        status=EndorsementStatus.APPROVED,
        requested_at=now,
        expires_at=now,
        decided_at=now,
    )
    session.add(row)
    user = await session.get_one(User, requester_id)
    user.role = UserRole.SUPPORTER
    await session.flush()
    return row


def error_of(response: httpx.Response) -> tuple[int, int]:
    body = response.json()
    assert body["success"] is False
    return response.status_code, body["error"]["code"]


async def count_rows(session: AsyncSession, *where: Any) -> int:
    return int(
        await session.scalar(select(func.count()).select_from(Endorsement).where(*where)) or 0
    )


async def notifications_of(
    session: AsyncSession, user_id: uuid.UUID, kind: NotificationType
) -> list[Notification]:
    rows = await session.scalars(
        select(Notification).where(Notification.user_id == user_id, Notification.type == kind)
    )
    return list(rows.all())


async def audit_actions(session: AsyncSession, entity_id: uuid.UUID) -> list[str]:
    rows = await session.scalars(
        select(AuditLog.action)
        .where(AuditLog.entity_id == str(entity_id))
        .order_by(AuditLog.created_at, AuditLog.id)
    )
    return list(rows.all())


def headers_now(settings: Settings, member: Member) -> dict[str, str]:
    """Headers with an access token issued at the clock's now (tokens live 15 minutes, and
    tests move the clock by days)."""
    from polis.auth.tokens import issue_access_token

    token, _ = issue_access_token(settings, member.user.id, member.session_id)
    return {"Authorization": f"Bearer {token}"}
