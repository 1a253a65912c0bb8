"""Alembic environment: async engine, URL from settings, every model imported."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from polis.config import get_settings
from polis.kit.db import Base, create_engine
from polis.models import import_all_models

import_all_models()
target_metadata = Base.metadata
config = context.config


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url") or get_settings().database_url
    if not url:
        raise RuntimeError("set POLIS_DATABASE_URL (or run `polis migrate`, which starts one)")
    return url


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        compare_server_default=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    engine = create_engine(_url(), pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
    else:
        asyncio.run(_run_async())
