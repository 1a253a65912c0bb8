"""The schema Alembic builds is the schema the models describe, and downgrades work."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from fastapi import FastAPI
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from polis.config import Settings
from polis.kit import migrations
from polis.kit.db import Base, create_engine
from polis.models import import_all_models


def _diff(connection: Connection) -> list[Any]:
    import_all_models()
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "compare_server_default": True}
    )
    return list(compare_metadata(context, Base.metadata))


async def test_migrations_match_the_models(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        differences = await connection.run_sync(_diff)
    assert differences == []


async def test_downgrade_to_base_and_back(
    settings: Settings, engine: AsyncEngine, app: FastAPI
) -> None:
    assert settings.database_url
    url = settings.database_url
    try:
        await asyncio.to_thread(_downgrade_and_upgrade, url)
    finally:
        # Recreated tables have new oids: pooled connections' cached statements would fail.
        await engine.dispose()
        await app.state.engine.dispose()


def _downgrade_and_upgrade(url: str) -> None:
    def tables() -> set[str]:
        async def read() -> set[str]:
            engine = create_engine(url, pool_size=1, max_overflow=0)
            try:
                async with engine.connect() as conn:
                    names = await conn.run_sync(lambda c: inspect(c).get_table_names())
                    return set(names)
            finally:
                await engine.dispose()

        return asyncio.run(read())

    assert "users" in tables()
    migrations.downgrade(url, "base")
    assert tables() <= {"alembic_version"}
    migrations.upgrade(url)
    assert "users" in tables()
