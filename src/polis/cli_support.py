"""Synchronous entry points the CLI uses for async service code."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from polis.admin.seed import SeedReport, seed_demo_data
from polis.config import Settings
from polis.elections.hooks import register as register_election_hooks
from polis.kit.db import create_engine, create_sessionmaker
from polis.models import import_all_models
from polis.users import service as users

T = TypeVar("T")


def in_transaction(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run ``work`` in one transaction on ``settings.database_url`` and commit it."""

    import_all_models()
    register_election_hooks()

    async def main() -> T:
        if not settings.database_url:
            raise RuntimeError("POLIS_DATABASE_URL is not set")
        engine = create_engine(settings.database_url, pool_size=1, max_overflow=0)
        try:
            async with create_sessionmaker(engine)() as session:
                result = await work(session)
                await session.commit()
                return result
        finally:
            await engine.dispose()

    return asyncio.run(main())


def run_seed(settings: Settings) -> SeedReport:
    return in_transaction(settings, lambda session: seed_demo_data(session, settings))


def run_grant_admin(settings: Settings, phone: str) -> bool:
    async def work(session: AsyncSession) -> bool:
        _, changed = await users.grant_admin(session, settings, phone)
        return changed

    return in_transaction(settings, work)
