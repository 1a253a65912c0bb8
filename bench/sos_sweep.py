"""The SOS deadline sweep over a large table: 1,000,000 signals, 1 % of them overdue.

    .venv/bin/python -m bench.sos_sweep [--signals 1000000] [--batch 500]

Starts the embedded PostgreSQL and Redis in a scratch folder (no API, no worker: the sweep is
timed as the Celery task's body), migrates it, then, with bulk INSERT … SELECT generate_series:

1. one electoral district; ``signals / 1000`` full ateulis of ten members (at least ten),
   five ateulis under each ormotsdaateuli, two of those under each aseuli; every unit led
   (an atistavi is the unit's first member; a higher unit's leader is its first child's);
2. ``--signals`` signals at the ateuli level, held by their ateuli's atistavi: every 100th
   overdue (its ``deadline_at`` a minute ago; half of those verified), the others due within
   the next 72 hours; then ``ANALYZE``.

Then it times one full sweep (``polis.sos.tasks.sweep``: batches of ``--batch`` rows locked
with ``FOR UPDATE SKIP LOCKED``, each moved one leader up with its trail step, notifications,
audit record and, at the top, media emails) until nothing is overdue, checks that nothing
is, and times a second sweep that finds nothing (the cost of the 5-minute run on a quiet
table). The plan of the batch query is shown, to confirm it is an index range scan on the
partial ``deadline_at`` index rather than a scan of the table.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg

from bench.report import record, show
from polis.config import Settings
from polis.kit import migrations
from polis.kit.db import create_engine, create_sessionmaker
from polis.kit.embedded import EmbeddedServers
from polis.kit.events import TaskJob
from polis.models import import_all_models
from polis.sos.tasks import sweep

DISTRICT = """
INSERT INTO territories (id, type, code, name_ka, name_en, created_at, updated_at)
VALUES (md5('bench-sos-district')::uuid, 'electoral_district', 'BENCH-SOS', 'ბენჩი', 'Bench',
        now(), now())
"""
USERS = """
INSERT INTO users (id, first_name, last_name, language, role, status, is_admin, is_diaspora,
                   territory_id, onboarded_at, constitution_agreed_at, created_at, updated_at)
SELECT md5('bench-sos-user-' || g)::uuid, 'Bench', 'Member ' || g, 'ka', 'geder', 'passive',
       false, false, md5('bench-sos-district')::uuid, now(), now(), now(), now()
FROM generate_series(1, $1 * 10) AS g
"""
# Unit n of a level is led by member ``stride * n + 1``: the atistavi of its first ateuli.
UNITS = """
INSERT INTO units (id, name, level, territory_id, parent_id, member_count, status,
                   activated_at, created_at, updated_at)
SELECT md5('bench-sos-' || $1 || '-' || n)::uuid, 'Bench ' || $1 || ' ' || n, $1::unit_level,
       md5('bench-sos-district')::uuid,
       CASE WHEN $2::text IS NULL THEN NULL
            ELSE md5('bench-sos-' || $2 || '-' || (n / $3))::uuid END,
       $4, 'active', now(), now(), now()
FROM generate_series(0, $5 - 1) AS n
"""
LEADERS = """
INSERT INTO leadership_terms (id, unit_id, user_id, started_at, created_at, updated_at)
SELECT gen_random_uuid(), md5('bench-sos-' || $1 || '-' || n)::uuid,
       md5('bench-sos-user-' || ($2 * n + 1))::uuid, now(), now(), now()
FROM generate_series(0, $3 - 1) AS n
"""
# Signal s comes from member r = (s - 1) % members + 1, of ateuli (r - 1) / 10, whose atistavi
# (member 10 * ateuli + 1) holds it.
SIGNALS = """
INSERT INTO sos_signals (id, reporter_id, ateuli_id, title, description, location,
                         moral_filter_response, status, priority, current_level, holder_id,
                         holder_unit_id, level_since, deadline_at, escalation_count, verified_at,
                         created_at, updated_at)
SELECT gen_random_uuid(),
       md5('bench-sos-user-' || ((s - 1) % $2 + 1))::uuid,
       md5('bench-sos-ateuli-' || ((s - 1) % $2 / 10))::uuid,
       'Bench signal ' || s, 'Seeded for the sweep benchmark.', 'Tbilisi', 'Yes',
       (CASE WHEN s % 200 = 0 THEN 'verified' ELSE 'pending' END)::sos_status,
       'normal', 'ateuli',
       md5('bench-sos-user-' || (((s - 1) % $2 / 10) * 10 + 1))::uuid,
       md5('bench-sos-ateuli-' || ((s - 1) % $2 / 10))::uuid,
       now() - interval '2 days',
       CASE WHEN s % 100 = 0 THEN now() - interval '1 minute'
            ELSE now() + (1 + s % 72) * interval '1 hour' END,
       0,
       CASE WHEN s % 200 = 0 THEN now() - interval '2 days' END,
       now() - interval '2 days', now()
FROM generate_series(1, $1) AS s
"""
OVERDUE = "SELECT count(*) FROM sos_signals WHERE deadline_at <= now()"
BATCH_PLAN = """
EXPLAIN SELECT id FROM sos_signals WHERE deadline_at <= now()
ORDER BY deadline_at LIMIT 500 FOR UPDATE SKIP LOCKED
"""


def _asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def _seed(dsn: str, signals: int) -> dict[str, Any]:
    ateulis = max(10, -(-signals // 1000 // 10) * 10)  # a multiple of ten, at least ten
    ormos, aseulis = ateulis // 5, ateulis // 10
    members = ateulis * 10
    conn = await asyncpg.connect(dsn)
    try:
        started = time.perf_counter()
        async with conn.transaction():
            await conn.execute(DISTRICT)
            await conn.execute(USERS, ateulis)
            await conn.execute(UNITS, "aseuli", None, 1, 2, aseulis)
            await conn.execute(UNITS, "ormotsdaateuli", "aseuli", 2, 5, ormos)
            await conn.execute(UNITS, "ateuli", "ormotsdaateuli", 5, 10, ateulis)
            await conn.execute(LEADERS, "ateuli", 10, ateulis)
            await conn.execute(LEADERS, "ormotsdaateuli", 50, ormos)
            await conn.execute(LEADERS, "aseuli", 100, aseulis)
            await conn.execute(SIGNALS, signals, members)
        await conn.execute("ANALYZE")
        return {
            "signals": signals,
            "overdue": int(await conn.fetchval(OVERDUE)),
            "members": members,
            "ateulis": ateulis,
            "seed_s": round(time.perf_counter() - started, 2),
        }
    finally:
        await conn.close()


async def _plan(dsn: str) -> str:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(BATCH_PLAN)
        return " / ".join(row[0].strip() for row in rows)
    finally:
        await conn.close()


async def _overdue(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval(OVERDUE))
    finally:
        await conn.close()


async def _timed_sweep(settings: Settings, emails: list[TaskJob]) -> dict[str, Any]:
    assert settings.database_url
    engine = create_engine(settings.database_url, pool_size=1, max_overflow=0)
    try:
        started = time.perf_counter()
        result = await sweep(
            create_sessionmaker(engine), settings, send_task=emails.append, redis=None
        )
        seconds = time.perf_counter() - started
    finally:
        await engine.dispose()
    return {
        "seconds": round(seconds, 2),
        "batches": result.batches,
        "taken": result.taken,
        "moved": result.moved,
        "signals_per_s": round(result.taken / seconds, 1) if result.taken else 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--signals", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    import_all_models()
    with tempfile.TemporaryDirectory(prefix="polis-bench-sos-") as scratch:
        servers = EmbeddedServers(Path(scratch) / "data").start()
        try:
            migrations.upgrade(servers.database_url)
            settings = Settings(
                data_dir=Path(scratch) / "data",
                database_url=servers.database_url,
                redis_url=servers.redis_url,
                sos_media_contacts=["desk@example.ge", "news@example.com"],
                sos_sweep_batch_size=args.batch,
                # One run must finish the whole backlog here: as many batches as it takes.
                sos_sweep_max_batches=args.signals // args.batch + 2,
                log_level="WARNING",
                _env_file=None,
            )
            dsn = _asyncpg_dsn(servers.database_url)
            seeded = asyncio.run(_seed(dsn, args.signals))
            plan = asyncio.run(_plan(dsn))
            emails: list[TaskJob] = []
            full = asyncio.run(_timed_sweep(settings, emails))
            left = asyncio.run(_overdue(dsn))
            quiet = asyncio.run(_timed_sweep(settings, emails))
        finally:
            servers.stop()
    assert left == 0, f"{left} signals still overdue after the sweep"
    full["media_emails"] = len(emails)
    show("seed (bulk SQL)", seeded)
    show(f"full sweep (batches of {args.batch}) until nothing is overdue", full)
    show("second sweep: nothing overdue", quiet)
    show("plan of the batch query", {"plan": plan})
    record("sos_sweep", seed=seeded, batch=args.batch, full=full, quiet=quiet, plan=plan)


if __name__ == "__main__":
    main()
