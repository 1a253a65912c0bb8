"""Without a ping before each checkout, a connection the server dropped costs one request."""

from __future__ import annotations

import uuid

from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from polis.auth.tokens import issue_access_token
from polis.config import Settings
from tests.conftest import client_for, envelope_error


async def test_a_dropped_connection_fails_one_request_with_503_then_the_pool_recovers(
    app: FastAPI, engine: AsyncEngine, settings: Settings
) -> None:
    app_engine: AsyncEngine = app.state.engine
    async with app_engine.connect() as connection:
        pid = await connection.scalar(text("SELECT pg_backend_pid()"))
    # The server ends that backend (a restart, an idle timeout at a proxy).
    async with engine.connect() as outside:
        assert await outside.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})

    # A signed token of nobody: the authentication dependency reads the member's row, so each
    # request needs the database, and a working one answers 401 (no such account).
    token, _ = issue_access_token(settings, uuid.uuid4(), uuid.uuid4())
    headers = {"Authorization": f"Bearer {token}"}
    async with client_for(app) as http:
        envelope_error(await http.get("/api/v1/users/me", headers=headers), 503, 5002)
        for _ in range(3):
            envelope_error(await http.get("/api/v1/users/me", headers=headers), 401, 1003)
