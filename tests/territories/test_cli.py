"""`polis territories import` through the real CLI, in its own process: it commits for real."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from polis.config import Settings
from polis.territories.models import Territory, TerritoryType
from tests.conftest import make_member, process_env
from tests.territories import ensure_routes, feature, rectangle, small_map, unique_prefix


@pytest.fixture(autouse=True)
def _routes(app: FastAPI) -> None:
    ensure_routes(app)


def _polis(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "polis", *args],
        env=process_env(settings, COLUMNS="200"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def _count(session: AsyncSession, prefix: str) -> int:
    count = await session.scalar(
        select(func.count()).select_from(Territory).where(Territory.code.like(f"{prefix}%"))
    )
    return int(count or 0)


async def test_import_command(
    settings: Settings,
    engine: AsyncEngine,
    db_session: AsyncSession,
    client: httpx.AsyncClient,
    tmp_path: Path,
) -> None:
    prefix = unique_prefix()
    document = small_map(prefix, west=60.0, south=-60.0)
    good = tmp_path / "map.geojson"
    good.write_text(json.dumps(document), encoding="utf-8")
    viewer = await make_member(db_session, settings, "+995555330001")
    listing = {"search": prefix}
    try:
        # Cached before the import: an empty answer that the import must retire.
        empty = await client.get("/api/v1/territories", params=listing, headers=viewer.headers)
        assert empty.json()["data"] == []

        done = _polis(settings, "territories", "import", str(good))
        assert done.returncode == 0, done.stdout + done.stderr
        assert "4 created, 0 updated, 0 unchanged" in done.stdout
        assert await _count(db_session, prefix) == 4
        after = await client.get("/api/v1/territories", params=listing, headers=viewer.headers)
        assert len(after.json()["data"]) == 4

        repeat = _polis(settings, "territories", "import", str(good))
        assert repeat.returncode == 0, repeat.stdout + repeat.stderr
        assert "0 created, 0 updated, 4 unchanged" in repeat.stdout
        assert await _count(db_session, prefix) == 4

        # One bad feature among good new ones: every problem printed, nothing written.
        bad = tmp_path / "bad.geojson"
        document["features"].append(
            feature(f"{prefix}-02", "municipality", f"{prefix}-NOPE", rectangle(62, -60, 63, -59))
        )
        document["features"].append(
            feature(
                f"{prefix}-03", "municipality", prefix, {"type": "Point", "coordinates": [0, 0]}
            )
        )
        bad.write_text(json.dumps(document), encoding="utf-8")
        failed = _polis(settings, "territories", "import", str(bad))
        assert failed.returncode == 2
        assert "2 problem(s); nothing was imported" in failed.stdout
        assert f"feature 4 ({prefix}-02): unknown parent_code '{prefix}-NOPE'" in failed.stdout
        assert f"feature 5 ({prefix}-03): geometry must be a Polygon" in failed.stdout
        assert await _count(db_session, prefix) == 4

        missing = _polis(settings, "territories", "import", str(tmp_path / "nothing.geojson"))
        assert missing.returncode == 2
        assert "cannot read" in missing.stdout
    finally:
        # The command committed outside the test's transaction: remove what it wrote.
        async with engine.begin() as conn:
            for kind in (
                TerritoryType.ELECTORAL_DISTRICT,
                TerritoryType.MUNICIPALITY,
                TerritoryType.REGION,
            ):
                await conn.execute(
                    delete(Territory).where(
                        Territory.code.like(f"{prefix}%"), Territory.type == kind
                    )
                )
