"""Running Alembic from code (the CLI, ``polis dev`` and the test suite)."""

from __future__ import annotations

import os
from pathlib import Path

from alembic import command
from alembic.config import Config

import polis


def _project_root() -> Path:
    # src/polis/__init__.py → the repository root, where alembic.ini and migrations/ live.
    override = os.environ.get("POLIS_MIGRATIONS_ROOT")
    return Path(override) if override else Path(polis.__file__).resolve().parents[2]


def alembic_config(database_url: str | None = None) -> Config:
    root = _project_root()
    config = Config(str(root / "alembic.ini"))
    config.set_main_option("script_location", str(root / "migrations"))
    if database_url:
        # ConfigParser treats % as interpolation; URLs may contain it.
        config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)


def revision(database_url: str, message: str, autogenerate: bool = True) -> None:
    command.revision(alembic_config(database_url), message=message, autogenerate=autogenerate)


def current(database_url: str) -> None:
    command.current(alembic_config(database_url), verbose=True)
