"""A vote answered 200 is never lost: the API process is killed (SIGKILL) in the middle of a
burst of votes, and every receipt it handed out is in the published ballots afterwards."""

from __future__ import annotations

import asyncio
import os
import signal
from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from polis.config import Settings
from polis.elections import casting, tally
from polis.elections.models import Ballot, Election, Participation
from polis.kit import clock
from polis.kit.db import create_sessionmaker
from tests.elections.race import Committed, Voter, geders, national_election, serve
from tests.realtime.test_two_processes import wait_healthy

VOTERS = 300
# Kill the server once this many votes have been answered 200: well inside the burst.
KILL_AFTER = 60
CONCURRENCY = 16


async def test_every_vote_answered_200_survives_a_killed_api(
    engine: AsyncEngine, settings: Settings, tmp_path: Path
) -> None:
    maker = create_sessionmaker(engine)
    committed = Committed()
    # The server reads the real clock: the election is open now, in real time.
    now = clock.now()
    try:
        async with maker() as session:
            standing = await geders(session, settings, 2, committed)
            voters = await geders(session, settings, VOTERS, committed)
            election, candidate_ids = await national_election(
                session,
                [s.id for s in standing],
                committed,
                starts_at=now - timedelta(minutes=1),
                ends_at=now + timedelta(hours=1),
            )
            await session.commit()

        accepted: list[str] = []
        failed = 0
        enough = asyncio.Event()
        with serve(settings, tmp_path / "serve.log") as (host, process):
            await wait_healthy(host, tmp_path / "serve.log")
            gate = asyncio.Semaphore(CONCURRENCY)

            async def cast(http: httpx.AsyncClient, n: int, voter: Voter) -> None:
                nonlocal failed
                async with gate:
                    try:
                        response = await http.post(
                            f"http://{host}/api/v1/elections/{election.id}/vote",
                            json={"candidate_id": str(candidate_ids[n % 2])},
                            headers=voter.headers,
                            timeout=10,
                        )
                    except httpx.TransportError:
                        failed += 1
                        return
                if response.status_code == 200:
                    accepted.append(response.json()["data"]["vote"]["vote_hash"])
                    if len(accepted) >= KILL_AFTER:
                        enough.set()

            async def killer() -> None:
                await enough.wait()
                os.killpg(process.pid, signal.SIGKILL)

            async with httpx.AsyncClient() as http:
                kill = asyncio.create_task(killer())
                await asyncio.gather(*(cast(http, n, v) for n, v in enumerate(voters)))
                await kill
            process.wait()
        # The process died mid-burst: some votes were answered, others never were.
        assert len(accepted) >= KILL_AFTER and failed > 0, (len(accepted), failed)

        async with maker() as session:
            stored = await session.get_one(Election, election.id)
            ballots = await session.scalar(
                select(func.count()).select_from(Ballot).where(Ballot.election_id == election.id)
            )
            participations = await session.scalar(
                select(func.count())
                .select_from(Participation)
                .where(Participation.election_id == election.id)
            )
            # The two halves of a vote commit together or not at all.
            assert ballots == participations
            assert ballots is not None and ballots >= len(accepted)
        clock.freeze(stored.ends_at + timedelta(seconds=1))
        async with maker() as session:
            assert await tally.finalize(session, election.id)
            await session.commit()
        async with maker() as session:
            stored = await session.get_one(Election, election.id)
            published = await casting.published_ballots(session, stored)
        receipts = {vote_hash for vote_hash, _ in published.ballots}
        assert set(accepted) <= receipts
    finally:
        await committed.clean(maker)
