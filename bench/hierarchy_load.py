"""The hierarchy at scale: 100,000 members, the growth sweep, my-position and the territory list.

    .venv/bin/python -m bench.hierarchy_load [--members 100000] [--seconds 10] [--concurrency 32]

Starts `polis dev` in a scratch folder (rate limits off; the seed's demo society stays in),
then, straight into its embedded PostgreSQL (the URL from ``<data_dir>/servers.json``):

1. ``--members`` onboarded, verified GeDers (no phones: the benchmark never logs them in),
   spread evenly over every electoral district of the shipped map, with one INSERT … SELECT
   generate_series; ids are ``md5(…)::uuid`` so the next statements can link to them;
2. one full, active ateuli per ten of them, their memberships, and an atistavi term each (the
   ateuli's first member), in bulk, then ``ANALYZE``;
3. the hierarchy sweep (``polis.units.tasks.run_sweep``, the hourly Celery task's body), timed:
   it forms the ormotsdaateulis. Each formed level then gets leaders in bulk (the leader of a
   unit's oldest child) and the sweep runs again, timed, for aseulis and for ataseulis; a last
   sweep finds nothing to form (the cost of the hourly run on a settled tree);
4. a session and access token for an atasistavi (who holds a seat at every level, so their
   `my-position` walks the whole path), made as tests/conftest.make_member makes them;
5. `GET /api/v1/hierarchy/my-position` and `GET /api/v1/territories` (the first page, its
   member and ateuli counts over the subtree) under load from wrk when installed, else from
   Python; requests/s, p50, p99 at ``--concurrency``. The territory list is cached 5 minutes,
   so the load measures the cached answer; its one uncached computation is timed apart.

Load only goes to 127.0.0.1, and the load generator shares the machine's cores with the server,
its worker and PostgreSQL, so the figures are floors.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import shutil
import statistics
import time
import uuid
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
from redis.asyncio import Redis

from bench.harness import scratch_polis_dev
from bench.health_load import _wrk
from bench.report import percentile_ms, record, show
from polis.auth.models import AuthSession, Device
from polis.auth.tokens import issue_access_token
from polis.config import Settings
from polis.elections.hooks import register as register_election_hooks
from polis.kit import clock
from polis.kit.db import create_engine, create_sessionmaker
from polis.kit.events import send_from_worker
from polis.models import import_all_models
from polis.territories.service import invalidate_cache
from polis.units.tasks import run_sweep

MY_POSITION = "/api/v1/hierarchy/my-position"
TERRITORIES = "/api/v1/territories"

USERS = """
INSERT INTO users (id, first_name, last_name, language, role, status, is_admin, is_diaspora,
                   territory_id, onboarded_at, constitution_agreed_at, created_at, updated_at)
SELECT md5('bench-user-' || g)::uuid, 'Bench', 'Member ' || g, 'ka', 'geder', 'passive',
       false, false, ($1::uuid[])[1 + ((g - 1) / 10) * cardinality($1::uuid[]) / $2],
       now(), now(), now(), now()
FROM generate_series(1, $2 * 10) AS g
"""
# Ateuli a holds members 10a+1 … 10a+10, in the district those members live in; created_at
# increases with a, so growth (oldest first) is deterministic.
ATEULIS = """
INSERT INTO units (id, name, level, territory_id, member_count, status, activated_at,
                   founder_id, created_at, updated_at)
SELECT md5('bench-ateuli-' || a)::uuid, 'Bench ateuli ' || a, 'ateuli',
       ($1::uuid[])[1 + a * cardinality($1::uuid[]) / $2], 10, 'active', now(),
       md5('bench-user-' || (10 * a + 1))::uuid,
       now() - interval '1 day' + a * interval '1 millisecond', now()
FROM generate_series(0, $2 - 1) AS a
"""
MEMBERSHIPS = """
INSERT INTO unit_memberships (id, unit_id, user_id, joined_at, created_at, updated_at)
SELECT gen_random_uuid(), md5('bench-ateuli-' || ((g - 1) / 10))::uuid,
       md5('bench-user-' || g)::uuid, now(), now(), now()
FROM generate_series(1, $1 * 10) AS g
"""
ATISTAVIS = """
INSERT INTO leadership_terms (id, unit_id, user_id, started_at, created_at, updated_at)
SELECT gen_random_uuid(), md5('bench-ateuli-' || a)::uuid,
       md5('bench-user-' || (10 * a + 1))::uuid, now(), now(), now()
FROM generate_series(0, $1 - 1) AS a
"""
# Every unled unit of a level gets the leader of its oldest child (an eligible leader by
# §3.3's table), so one member ends up holding a seat at each level.
LEADERS = """
INSERT INTO leadership_terms (id, unit_id, user_id, started_at, created_at, updated_at)
SELECT gen_random_uuid(), p.id,
       (SELECT t.user_id FROM units c
          JOIN leadership_terms t ON t.unit_id = c.id AND t.ended_at IS NULL
         WHERE c.parent_id = p.id ORDER BY c.created_at, c.id LIMIT 1),
       now(), now(), now()
FROM units p
WHERE p.level = $1::unit_level
  AND NOT EXISTS (SELECT 1 FROM leadership_terms t WHERE t.unit_id = p.id AND t.ended_at IS NULL)
"""
LEVEL_COUNTS = "SELECT level::text, count(*) FROM units GROUP BY level"
DEEPEST_LEADER = """
SELECT t.user_id FROM leadership_terms t JOIN units u ON u.id = t.unit_id
WHERE t.ended_at IS NULL
ORDER BY array_position(ARRAY['ateuli','ormotsdaateuli','aseuli','ataseuli'], u.level::text)
         DESC, u.created_at, u.id
LIMIT 1
"""


def _asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def _seed(dsn: str, members: int) -> dict[str, Any]:
    ateulis = members // 10
    conn = await asyncpg.connect(dsn)
    try:
        districts = [
            row["id"]
            for row in await conn.fetch(
                "SELECT id FROM territories WHERE type = 'electoral_district' ORDER BY code"
            )
        ]
        started = time.perf_counter()
        async with conn.transaction():
            await conn.execute(USERS, districts, ateulis)
            await conn.execute(ATEULIS, districts, ateulis)
            await conn.execute(MEMBERSHIPS, ateulis)
            await conn.execute(ATISTAVIS, ateulis)
        await conn.execute("ANALYZE")
        return {
            "members": ateulis * 10,
            "ateulis": ateulis,
            "districts": len(districts),
            "seed_s": round(time.perf_counter() - started, 2),
        }
    finally:
        await conn.close()


async def _lead(dsn: str, level: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        status = await conn.execute(LEADERS, level)
        await conn.execute("ANALYZE units, leadership_terms")
        return int(status.split()[-1])
    finally:
        await conn.close()


async def _levels(dsn: str) -> dict[str, int]:
    conn = await asyncpg.connect(dsn)
    try:
        return {row[0]: int(row[1]) for row in await conn.fetch(LEVEL_COUNTS)}
    finally:
        await conn.close()


def _timed_sweep(settings: Settings) -> tuple[int, float]:
    started = time.perf_counter()
    formed = run_sweep(settings, send_task=send_from_worker)
    return formed, round(time.perf_counter() - started, 2)


async def _token_for_deepest_leader(settings: Settings) -> tuple[str, uuid.UUID]:
    """A live session and access token for the leader highest in the tree (as make_member)."""
    assert settings.database_url
    engine = create_engine(settings.database_url, pool_size=1, max_overflow=0)
    try:
        async with create_sessionmaker(engine)() as session:
            conn = await asyncpg.connect(_asyncpg_dsn(settings.database_url))
            try:
                user_id: uuid.UUID = await conn.fetchval(DEEPEST_LEADER)
            finally:
                await conn.close()
            device = Device(fingerprint_index=secrets.token_hex(16), device_type="android")
            session.add(device)
            await session.flush()
            now = clock.now()
            auth_session = AuthSession(
                user_id=user_id,
                device_id=device.id,
                last_seen_at=now,
                expires_at=now + timedelta(days=settings.refresh_token_ttl_days),
            )
            session.add(auth_session)
            await session.commit()
            token, _ = issue_access_token(settings, user_id, auth_session.id)
            return token, user_id
    finally:
        await engine.dispose()


async def _python_load(
    base: str, path: str, token: str, seconds: float, concurrency: int
) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    deadline = time.monotonic() + seconds
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, timeout=10, headers=headers, limits=limits) as http:

        async def user() -> None:
            nonlocal errors
            while time.monotonic() < deadline:
                started = time.perf_counter()
                if (await http.get(path)).status_code != 200:
                    errors += 1
                latencies.append(time.perf_counter() - started)

        started = time.monotonic()
        await asyncio.gather(*(user() for _ in range(concurrency)))
        elapsed = time.monotonic() - started
    return {
        "requests": len(latencies),
        "errors": errors,
        "rps": round(len(latencies) / elapsed, 1),
        "p50_ms": percentile_ms(latencies, 0.5),
        "p99_ms": percentile_ms(latencies, 0.99),
        "mean_ms": round(statistics.fmean(latencies) * 1000, 2),
    }


def _load(base: str, path: str, token: str, seconds: float, concurrency: int) -> dict[str, Any]:
    if shutil.which("wrk"):
        result = _wrk(base, seconds, concurrency, path=path, token=token)
        result["tool"] = "wrk"
    else:
        result = asyncio.run(_python_load(base, path, token, seconds, concurrency))
        result["tool"] = "python"
    result["concurrency"] = concurrency
    return result


async def _cold_territories(base: str, token: str, redis_url: str) -> dict[str, Any]:
    """One uncached `GET /territories` (the namespace retired first), then one cached."""
    redis = Redis.from_url(redis_url)
    try:
        await invalidate_cache(redis)
    finally:
        await redis.aclose()
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, timeout=60, headers=headers) as http:
        started = time.perf_counter()
        cold = await http.get(TERRITORIES)
        cold_ms = (time.perf_counter() - started) * 1000
        cold.raise_for_status()
        started = time.perf_counter()
        (await http.get(TERRITORIES)).raise_for_status()
        warm_ms = (time.perf_counter() - started) * 1000
        position = await http.get(MY_POSITION)
        position.raise_for_status()
    data = position.json()["data"]
    return {
        "territories_uncached_ms": round(cold_ms, 1),
        "territories_cached_ms": round(warm_ms, 1),
        "my_position_seats": len(data["positions"]),
        "my_position_path": len(data["path"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    import_all_models()
    register_election_hooks()
    with scratch_polis_dev() as (base, data_dir):
        runtime = json.loads((data_dir / "servers.json").read_text())
        dsn = _asyncpg_dsn(runtime["database_url"])
        # The dev secrets (token signing key) come from <data_dir>/secrets.json.
        settings = Settings(
            data_dir=data_dir,
            database_url=runtime["database_url"],
            redis_url=runtime["redis_url"],
            _env_file=None,
        )
        data = asyncio.run(_seed(dsn, args.members))
        sweeps: dict[str, Any] = {}
        formed, sweeps["sweep_ormotsdaateulis_s"] = _timed_sweep(settings)
        sweeps["formed_ormotsdaateulis"] = formed
        asyncio.run(_lead(dsn, "ormotsdaateuli"))
        formed, sweeps["sweep_aseulis_s"] = _timed_sweep(settings)
        sweeps["formed_aseulis"] = formed
        asyncio.run(_lead(dsn, "aseuli"))
        formed, sweeps["sweep_ataseulis_s"] = _timed_sweep(settings)
        sweeps["formed_ataseulis"] = formed
        asyncio.run(_lead(dsn, "ataseuli"))
        formed, sweeps["sweep_settled_s"] = _timed_sweep(settings)
        sweeps["formed_settled"] = formed
        levels = asyncio.run(_levels(dsn))
        token, _ = asyncio.run(_token_for_deepest_leader(settings))
        probe = asyncio.run(_cold_territories(base, token, runtime["redis_url"]))
        position = _load(base, MY_POSITION, token, args.seconds, args.concurrency)
        territories = _load(base, TERRITORIES, token, args.seconds, args.concurrency)
    show("seed (bulk SQL)", data)
    show("hierarchy sweep (run_sweep), seconds per pass", sweeps)
    show("units per level after the sweeps", levels)
    show("probe: one uncached and one cached GET /territories; my-position shape", probe)
    show(f"GET {MY_POSITION} (an atasistavi)", position)
    show(f"GET {TERRITORIES} (first page, cached 5 min)", territories)
    record(
        "hierarchy_load",
        seed=data,
        sweeps=sweeps,
        levels=levels,
        probe=probe,
        my_position=position,
        territories=territories,
    )


if __name__ == "__main__":
    main()
