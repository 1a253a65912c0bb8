"""The embedded servers keep their data across a restart of the same data folder."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import asyncpg
import psutil
import redis

from polis.kit.embedded import RUNTIME_FILE, EmbeddedServers


async def _write_row(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("CREATE TABLE kept (value text)")
        await conn.execute("INSERT INTO kept VALUES ('still here')")
    finally:
        await conn.close()


async def _read_row(dsn: str) -> str:
    conn = await asyncpg.connect(dsn)
    try:
        value: str = await conn.fetchval("SELECT value FROM kept")
        return value
    finally:
        await conn.close()


def test_restart_reuses_the_data_folder(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = EmbeddedServers(data_dir).start()
    try:
        runtime = json.loads((data_dir / RUNTIME_FILE).read_text())
        assert runtime["database_url"] == first.database_url
        assert runtime["redis_url"] == first.redis_url
        asyncio.run(_write_row(first.database_url))
        redis.Redis.from_url(first.redis_url).set("kept", "yes")
        pids = (first.postgres.pid, first.redis.pid)
    finally:
        first.stop()
    assert not (data_dir / RUNTIME_FILE).exists()
    for pid in pids:
        assert pid is not None
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE

    second = EmbeddedServers(data_dir).start()
    try:
        assert asyncio.run(_read_row(second.database_url)) == "still here"
        assert redis.Redis.from_url(second.redis_url).get("kept") == b"yes"
    finally:
        second.stop()
