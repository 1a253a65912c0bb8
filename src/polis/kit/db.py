"""Database plumbing: engine, sessions, the declarative base and its mixins."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import DateTime, MetaData, func
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from polis.kit import clock
from polis.kit.errors import NotFound

# Stable constraint names, so Alembic autogenerate and hand-written migrations agree.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: DateTime(timezone=True)}


class UUIDPrimaryKey:
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)


class Timestamps:
    """``created_at``/``updated_at`` from the clock seam, so tests that move the clock see it."""

    created_at: Mapped[datetime] = mapped_column(
        default=clock.now, server_default=func.now(), nullable=False
    )
    updated_at: Mapped[datetime] = mapped_column(
        default=clock.now, onupdate=clock.now, server_default=func.now(), nullable=False
    )


class SoftDelete:
    """Rows that must keep existing for history (votes, cases) are marked, not deleted."""

    deleted_at: Mapped[datetime | None] = mapped_column(default=None, nullable=True)

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    def mark_deleted(self) -> None:
        self.deleted_at = clock.now()


def to_async_url(url: str) -> str:
    """Accept ``postgresql://`` URLs (as pgserver and most hosts print them) for asyncpg."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    return url


POOL_RECYCLE_SECONDS = 300


def create_engine(
    url: str, *, pool_size: int = 10, max_overflow: int = 10, statement_timeout_ms: int = 15_000
) -> AsyncEngine:
    connect_args: dict[str, Any] = {
        "server_settings": {
            "statement_timeout": str(statement_timeout_ms),
            "application_name": "polis",
        }
    }
    return create_async_engine(
        to_async_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        # No ping before each checkout: it was a whole round trip on every request (5 % of a
        # vote's CPU). A connection the server dropped fails its request once with 503, and
        # SQLAlchemy then replaces the whole pool; recycling bounds how stale one can get
        # behind a proxy or firewall that closes idle connections.
        pool_recycle=POOL_RECYCLE_SECONDS,
        connect_args=connect_args,
    )


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


M = TypeVar("M", bound=Base)


async def get_or_404(
    session: AsyncSession,
    model: type[M],
    ident: Any,
    *,
    lock: bool = False,
    missing: str | None = None,
    details: dict[str, Any] | None = None,
) -> M:
    """The row of ``model`` with primary key ``ident``, or ``NotFound`` (404) with ``missing``.

    With ``lock`` the row is read ``FOR UPDATE`` (and re-read, not taken from the identity
    map), so a state change made by a racing transaction is seen before it is decided on.
    """
    row = await session.get(
        model,
        ident,
        with_for_update=True if lock else None,
        populate_existing=lock,
    )
    if row is None:
        raise NotFound(missing, details=details)
    return row
