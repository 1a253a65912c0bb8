"""Votes into one election of 100,000 eligible voters: HTTP next to the bare SQL transaction.

    .venv/bin/python -m bench.elections_vote [--voters 100000] [--concurrency 64] [--workers 0]

Starts `polis dev` in a scratch folder (rate limits off: one address sends every vote), then,
straight into its embedded PostgreSQL (the URL from ``<data_dir>/servers.json``):

1. ``--voters`` onboarded GeDers in one INSERT … SELECT generate_series (ids ``md5(…)::uuid``),
   two standing members, and two parliamentary elections open now (the national list: every
   GeDer is eligible, so each has ``--voters`` eligible voters), each with the two candidates;
   then ``ANALYZE``. An access token per voter is signed in the benchmark (as
   tests/conftest.make_member does; a vote reads the voter's row and the session's revocation
   mark in Redis, never the session row).
2. **HTTP**: ``--concurrency`` clients cast one vote per voter into the first election through
   ``POST /api/v1/elections/{id}/vote`` (each voter once, spread over both candidates) until
   every voter has voted or ``--seconds`` pass: accepted votes/s, p50, p99, errors. The load
   comes from wrk (``bench/vote.lua``) when it is installed (``apt install wrk``), otherwise
   (or with ``--python-client``) from httpx clients, which take much of the shared cores.
3. **Direct SQL**: the same transaction the service runs, compiled from the service's own
   statements (the ballot-box lock with the election's scope, then one statement of checks,
   participation and ballot), issued with asyncpg from ``--concurrency`` connections into the
   second election, for the same voters: votes/s, p50, p99. The two rates side by side are
   the cost of the API.
4. Every accepted vote is checked afterwards: ballots == participations == accepted.

``--workers N`` (N > 0) also starts `polis serve --workers N` on the same servers and loads it
instead of `polis dev`'s single API process. ``--api ceiling`` loads ``bench/vote_ceiling.py``
instead (``--workers`` processes, at least one): the same vote with no web framework, the
ceiling an HTTP vote could reach on the machine. Load only goes to 127.0.0.1, and the load
generator (Python) shares the machine's cores with the server and PostgreSQL, so the figures
are floors.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy.dialects.postgresql import asyncpg as asyncpg_dialect
from tests.e2e.harness import free_port

from bench.harness import scratch_polis_dev
from bench.report import percentile_ms, record, show
from polis.auth.tokens import issue_access_token
from polis.config import Settings
from polis.elections import base as election_base
from polis.elections import casting, ledger
from polis.users.models import UserRole

VOTERS = """
INSERT INTO users (id, first_name, last_name, language, role, status, is_admin, is_diaspora,
                   onboarded_at, constitution_agreed_at, created_at, updated_at)
SELECT md5('bench-voter-' || g)::uuid, 'Bench', 'Voter ' || g, 'ka', 'geder',
       CASE WHEN g <= 2 THEN 'active' ELSE 'passive' END::member_status,
       false, false, now(), now(), now(), now()
FROM generate_series(1, $1) AS g
"""
ELECTION = """
INSERT INTO elections (id, election_type, scope_type, title, starts_at, ends_at, is_automatic,
                       nominations_extended, opened_at, created_at, updated_at)
VALUES ($1, 'parliamentary', 'national', $2, now() - interval '1 minute', now() + interval '1 day',
        false, true, now(), now(), now())
"""
CANDIDATES = """
INSERT INTO election_candidates (id, election_id, user_id, registered_at)
SELECT gen_random_uuid(), $1, md5('bench-voter-' || g)::uuid, now() FROM generate_series(1, 2) g
RETURNING id
"""


def _asyncpg_statement(statement: Any) -> tuple[str, list[str]]:
    """``statement`` as the API's driver receives it: its SQL and its parameters' order."""
    dialect = asyncpg_dialect.dialect()  # type: ignore[no-untyped-call]
    compiled = statement.compile(dialect=dialect)
    return str(compiled), list(compiled.positiontup or [])


# The transaction of polis.elections.casting.cast_vote for the national list, compiled from
# the service's own statements: the ballot-box lock with the scope, then the checks and inserts.
OPEN_BALLOT_BOX, OPEN_BALLOT_BOX_PARAMS = _asyncpg_statement(election_base.OPEN_BALLOT_BOX)
CAST_VOTE, CAST_VOTE_PARAMS = _asyncpg_statement(casting.CAST_VOTE)


async def cast_directly(
    conn: asyncpg.Connection,
    election_id: uuid.UUID,
    voter_id: uuid.UUID,
    candidate_id: uuid.UUID,
) -> tuple[str, datetime] | None:
    """One vote into a national list through the service's own transaction, straight on an
    asyncpg connection: the receipt and its time, or None when nothing was stored."""
    ballot_id = uuid.uuid4()
    now = datetime.now(UTC)
    vote_hash = ledger.new_vote_hash(election_id, ballot_id, candidate_id)
    params: dict[str, Any] = {
        "namespace": election_base.BALLOT_BOX_LOCK,
        "election": str(election_id),
        "election_id": election_id,
        "voter_id": voter_id,
        "candidate_id": candidate_id,
        "eligible": None,
        "geder": UserRole.GEDER.value,
        "now": now,
        "ballot_id": ballot_id,
        "vote_hash": vote_hash,
    }
    async with conn.transaction():
        await conn.fetchrow(OPEN_BALLOT_BOX, *(params[name] for name in OPEN_BALLOT_BOX_PARAMS))
        checks = await conn.fetchrow(CAST_VOTE, *(params[name] for name in CAST_VOTE_PARAMS))
    if checks is None or checks["ballot_id"] is None:
        return None
    return vote_hash, now


COUNTS = """
SELECT (SELECT count(*) FROM election_ballots WHERE election_id = $1),
       (SELECT count(*) FROM election_participations WHERE election_id = $1)
"""


def _asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def _voter_ids(count: int) -> list[uuid.UUID]:
    import hashlib

    return [
        uuid.UUID(hashlib.md5(f"bench-voter-{g}".encode(), usedforsecurity=False).hexdigest())
        for g in range(1, count + 1)
    ]


async def _seed(dsn: str, voters: int) -> dict[str, Any]:
    conn = await asyncpg.connect(dsn)
    try:
        started = time.perf_counter()
        elections: list[dict[str, Any]] = []
        async with conn.transaction():
            await conn.execute(VOTERS, voters + 2)
            for name in ("HTTP", "direct SQL"):
                election_id = uuid.uuid4()
                await conn.execute(ELECTION, election_id, f"Bench list ({name})")
                rows = await conn.fetch(CANDIDATES, election_id)
                elections.append({"id": election_id, "candidates": [r["id"] for r in rows]})
        await conn.execute("ANALYZE")
        return {"elections": elections, "seed_s": round(time.perf_counter() - started, 2)}
    finally:
        await conn.close()


async def _http_votes(
    base: str,
    election: dict[str, Any],
    tokens: list[str],
    concurrency: int,
    seconds: float,
) -> dict[str, Any]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    accepted = 0
    first_error: list[str] = []
    queue = iter(enumerate(tokens))
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    url = f"/api/v1/elections/{election['id']}/vote"
    candidates = [str(c) for c in election["candidates"]]
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as http:

        async def client() -> None:
            nonlocal accepted
            for n, token in queue:
                if time.monotonic() > deadline:
                    return
                started = time.perf_counter()
                try:
                    response = await http.post(
                        url,
                        json={"candidate_id": candidates[n % 2]},
                        headers={"Authorization": f"Bearer {token}"},
                    )
                except httpx.TransportError:
                    statuses[0] = statuses.get(0, 0) + 1  # 0: the connection failed
                    continue
                latencies.append(time.perf_counter() - started)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                accepted += response.status_code == 200
                if response.status_code != 200 and not first_error:
                    first_error.append(response.text[:300])

        started = time.monotonic()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        elapsed = time.monotonic() - started
    return {
        "votes": accepted,
        "errors": sum(v for k, v in statuses.items() if k != 200),
        "statuses": json.dumps(statuses),
        "votes_per_s": round(accepted / elapsed, 1),
        "p50_ms": percentile_ms(latencies, 0.5),
        "p99_ms": percentile_ms(latencies, 0.99),
        "mean_ms": round(statistics.fmean(latencies) * 1000, 2) if latencies else 0.0,
        "concurrency": concurrency,
        "first_error": first_error[0] if first_error else "",
    }


def _wrk_votes(
    base: str,
    election: dict[str, Any],
    tokens: list[str],
    concurrency: int,
    seconds: float,
    folder: Path,
) -> dict[str, Any]:
    """The HTTP phase with wrk (bench/vote.lua): a C load generator takes far less of the
    shared cores than Python clients, so the server's own rate shows."""
    voters = folder / "bench-voters.txt"
    candidates = [str(c) for c in election["candidates"]]
    voters.write_text("".join(f"{t} {candidates[n % 2]}\n" for n, t in enumerate(tokens)))
    threads = 2
    # Stop before the voters run out (each thread's last voter would repeat: 409s).
    output = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{concurrency}",
            f"-d{int(seconds)}s",
            "--latency",
            "-s",
            str(Path(__file__).with_name("vote.lua")),
            f"{base}/api/v1/elections/{election['id']}/vote",
            "--",
            str(voters),
            str(threads),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = next(line for line in output.splitlines() if line.startswith("WRK_RESULT "))
    result = json.loads(line.removeprefix("WRK_RESULT "))
    statuses = {str(k): v for k, v in result["statuses"].items()}
    accepted = int(statuses.get("200", 0))
    return {
        "votes": accepted,
        "errors": sum(v for k, v in statuses.items() if k != "200"),
        "statuses": json.dumps(statuses),
        "votes_per_s": round(accepted / result["seconds"], 1),
        "p50_ms": round(result["p50_ms"], 2),
        "p99_ms": round(result["p99_ms"], 2),
        "mean_ms": round(result["mean_ms"], 2),
        "concurrency": concurrency,
        "first_error": "",
        "tool": "wrk",
    }


def _http_phase(
    base: str,
    election: dict[str, Any],
    tokens: list[str],
    args: argparse.Namespace,
    folder: Path,
) -> dict[str, Any]:
    if shutil.which("wrk") and not args.python_client:
        return _wrk_votes(base, election, tokens, args.concurrency, args.seconds, folder)
    result = asyncio.run(_http_votes(base, election, tokens, args.concurrency, args.seconds))
    result["tool"] = "python (httpx)"
    return result


async def _direct_votes(
    dsn: str,
    election: dict[str, Any],
    voter_ids: list[uuid.UUID],
    concurrency: int,
    seconds: float,
) -> dict[str, Any]:
    latencies: list[float] = []
    accepted = 0
    queue = iter(enumerate(voter_ids))
    deadline = time.monotonic() + seconds
    election_id: uuid.UUID = election["id"]
    candidates: list[uuid.UUID] = election["candidates"]
    pool = await asyncpg.create_pool(dsn, min_size=concurrency, max_size=concurrency)
    try:

        async def client() -> None:
            nonlocal accepted
            async with pool.acquire() as conn:
                for n, voter_id in queue:
                    if time.monotonic() > deadline:
                        return
                    candidate_id = candidates[n % 2]
                    started = time.perf_counter()
                    cast = await cast_directly(conn, election_id, voter_id, candidate_id)
                    latencies.append(time.perf_counter() - started)
                    accepted += cast is not None

        started = time.monotonic()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        elapsed = time.monotonic() - started
    finally:
        await pool.close()
    return {
        "votes": accepted,
        "votes_per_s": round(accepted / elapsed, 1),
        "p50_ms": percentile_ms(latencies, 0.5),
        "p99_ms": percentile_ms(latencies, 0.99),
        "mean_ms": round(statistics.fmean(latencies) * 1000, 2) if latencies else 0.0,
        "concurrency": concurrency,
    }


async def _check(dsn: str, election_id: uuid.UUID) -> tuple[int, int]:
    conn = await asyncpg.connect(dsn)
    try:
        row = await conn.fetchrow(COUNTS, election_id)
        return int(row[0]), int(row[1])
    finally:
        await conn.close()


@contextmanager
def _serve(runtime: dict[str, Any], data_dir: Path, workers: int, api: str) -> Iterator[str]:
    """`polis serve --workers N` (or the framework-free ceiling, ``bench/vote_ceiling.py``) on
    `polis dev`'s servers and secrets."""
    port = free_port()
    env = {
        **os.environ,
        "POLIS_DATABASE_URL": runtime["database_url"],
        "POLIS_REDIS_URL": runtime["redis_url"],
        "POLIS_DATA_DIR": str(data_dir),
        "POLIS_RATE_LIMIT_ENABLED": "false",
        "POLIS_LOG_LEVEL": "WARNING",
    }
    command = [sys.executable, "-m", "polis", "serve"]
    if api == "ceiling":
        command = [sys.executable, "-m", "uvicorn", "bench.vote_ceiling:app", "--no-access-log"]
    process = subprocess.Popen(
        [*command, "--port", str(port), "--workers", str(max(1, workers))],
        env=env,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if httpx.get(base + "/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)  # polling a process that is booting
        yield base
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--voters", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=60.0, help="cap on each phase")
    parser.add_argument("--workers", type=int, default=0, help="load `polis serve --workers N`")
    parser.add_argument(
        "--api",
        choices=("polis", "ceiling"),
        default="polis",
        help="ceiling: load bench/vote_ceiling.py, the vote with no web framework, instead",
    )
    parser.add_argument(
        "--python-client", action="store_true", help="load with httpx even when wrk is installed"
    )
    args = parser.parse_args()
    with scratch_polis_dev() as (dev_base, data_dir):
        runtime = json.loads((data_dir / "servers.json").read_text())
        dsn = _asyncpg_dsn(runtime["database_url"])
        # The dev secrets (the token signing key) come from <data_dir>/secrets.json.
        settings = Settings(
            data_dir=data_dir,
            database_url=runtime["database_url"],
            redis_url=runtime["redis_url"],
            _env_file=None,
        )
        seeded = asyncio.run(_seed(dsn, args.voters))
        http_election, sql_election = seeded["elections"]
        voter_ids = _voter_ids(args.voters + 2)[2:]
        started = time.perf_counter()
        tokens = [issue_access_token(settings, v, uuid.uuid4())[0] for v in voter_ids]
        setup = {
            "eligible_voters": args.voters + 2,
            "seed_s": seeded["seed_s"],
            "tokens_s": round(time.perf_counter() - started, 2),
        }
        if args.api == "ceiling":
            with _serve(runtime, data_dir, args.workers, args.api) as base:
                http = _http_phase(base, http_election, tokens, args, data_dir)
            http["api"] = f"bench/vote_ceiling.py, {max(1, args.workers)} process(es)"
        elif args.workers > 0:
            with _serve(runtime, data_dir, args.workers, args.api) as base:
                http = _http_phase(base, http_election, tokens, args, data_dir)
            http["api"] = f"polis serve --workers {args.workers}"
        else:
            http = _http_phase(dev_base, http_election, tokens, args, data_dir)
            http["api"] = "polis dev (1 API process)"
        direct = asyncio.run(
            _direct_votes(dsn, sql_election, voter_ids, args.concurrency, args.seconds)
        )
        stored = asyncio.run(_check(dsn, http_election["id"]))
        direct_stored = asyncio.run(_check(dsn, sql_election["id"]))
    # Every ballot has its participation, and every vote answered 200 is stored. wrk stops on
    # the clock and drops the answers still in flight, so the server may hold a few more votes
    # than were counted, never fewer.
    consistent = stored[0] == stored[1] >= http["votes"] and direct_stored == (direct["votes"],) * 2
    ratio = round(http["votes_per_s"] / direct["votes_per_s"], 3) if direct["votes_per_s"] else 0
    show("setup (bulk SQL, tokens signed locally)", setup)
    show("POST /elections/{id}/vote over HTTP", http)
    show("the same transaction, direct with asyncpg", direct)
    show(
        "comparison",
        {
            "http_votes_per_s": http["votes_per_s"],
            "direct_votes_per_s": direct["votes_per_s"],
            "http_over_direct": ratio,
            "ballots_match_votes": consistent,
        },
    )
    record("elections_vote", setup=setup, http=http, direct=direct, ratio=ratio, ok=consistent)
    if not consistent:
        raise SystemExit(f"stored ballots/participations do not match: {stored} {direct_stored}")


if __name__ == "__main__":
    main()
