"""One person, one vote under real concurrency: separate requests, separate committed
transactions, many database connections at once."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import timedelta

import httpx
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from polis.audit.models import AuditLog
from polis.auth.tokens import issue_access_token
from polis.config import Settings
from polis.elections import casting, ledger, tasks
from polis.elections import tally as elections_tally
from polis.elections.models import Ballot, Candidate, Election, Participation
from polis.kit import clock
from polis.kit.db import create_sessionmaker
from polis.territories.models import TerritoryType
from polis.units import service as units
from polis.units.models import LeadershipTerm
from tests.conftest import AppFactory
from tests.elections.race import Committed, Voter, geders, national_election
from tests.units.factories import ateuli_with, territory

URL = "/api/v1/elections"
# In-flight requests at once: enough to race, within the app's Redis pool (50 connections).
CONCURRENCY = 32


async def _vote_all(
    http: httpx.AsyncClient, election_id: uuid.UUID, attempts: list[tuple[Voter, uuid.UUID]]
) -> list[httpx.Response]:
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(voter: Voter, candidate_id: uuid.UUID) -> httpx.Response:
        async with gate:
            return await http.post(
                f"{URL}/{election_id}/vote",
                json={"candidate_id": str(candidate_id)},
                headers=voter.headers,
            )

    return list(await asyncio.gather(*(one(v, c) for v, c in attempts)))


async def test_fifty_votes_of_one_voter_at_once_store_one_ballot(
    engine: AsyncEngine, settings: Settings, make_client: AppFactory
) -> None:
    maker = create_sessionmaker(engine)
    committed = Committed()
    now = clock.freeze()
    try:
        async with maker() as session:
            standing = await geders(session, settings, 2, committed)
            (voter,) = await geders(session, settings, 1, committed)
            election, candidate_ids = await national_election(
                session,
                [s.id for s in standing],
                committed,
                starts_at=now - timedelta(minutes=1),
                ends_at=now + timedelta(hours=1),
            )
            await session.commit()
        async with make_client(db_pool_size=20, db_max_overflow=20) as http:
            responses = await _vote_all(
                http, election.id, [(voter, candidate_ids[n % 2]) for n in range(50)]
            )
        statuses = Counter(r.status_code for r in responses)
        assert statuses == {200: 1, 409: 49}, statuses
        assert {r.json()["error"]["code"] for r in responses if r.status_code == 409} == {3002}
        receipt = next(r for r in responses if r.status_code == 200).json()["data"]["vote"]
        async with maker() as session:
            ballots = (
                await session.scalars(select(Ballot).where(Ballot.election_id == election.id))
            ).all()
            assert [b.vote_hash for b in ballots] == [receipt["vote_hash"]]
            participations = await session.scalar(
                select(func.count())
                .select_from(Participation)
                .where(Participation.election_id == election.id)
            )
            assert participations == 1
    finally:
        await committed.clean(maker)


async def test_a_thousand_voters_five_attempts_each_count_exactly_once(
    engine: AsyncEngine, settings: Settings, make_client: AppFactory
) -> None:
    maker = create_sessionmaker(engine)
    committed = Committed()
    now = clock.freeze()
    try:
        async with maker() as session:
            standing = await geders(session, settings, 3, committed)
            voters = await geders(session, settings, 1000, committed)
            election, candidate_ids = await national_election(
                session,
                [s.id for s in standing],
                committed,
                starts_at=now - timedelta(minutes=1),
                ends_at=now + timedelta(hours=1),
            )
            await session.commit()
        # Each voter tries five times, for different candidates, interleaved with the others.
        attempts = [
            (voter, candidate_ids[(n + k) % 3]) for k in range(5) for n, voter in enumerate(voters)
        ]
        async with make_client(db_pool_size=20, db_max_overflow=20) as http:
            responses = await _vote_all(http, election.id, attempts)
        statuses = Counter(r.status_code for r in responses)
        assert statuses == {200: 1000, 409: 4000}, statuses
        accepted = [
            r.json()["data"]["vote"]["vote_hash"] for r in responses if r.status_code == 200
        ]
        async with maker() as session:
            ballot_count = await session.scalar(
                select(func.count()).select_from(Ballot).where(Ballot.election_id == election.id)
            )
            voter_count = await session.scalar(
                select(func.count(func.distinct(Participation.voter_id))).where(
                    Participation.election_id == election.id
                )
            )
            assert (ballot_count, voter_count) == (1000, 1000)
            per_candidate = Counter(
                dict(
                    (
                        await session.execute(
                            select(Ballot.candidate_id, func.count())
                            .where(Ballot.election_id == election.id)
                            .group_by(Ballot.candidate_id)
                        )
                    ).all()
                )
            )
        # The election ends; the tally counts the ballots, and every receipt is among them.
        clock.freeze(now + timedelta(hours=1, seconds=1))
        async with maker() as session:
            assert await elections_tally.finalize(session, election.id)
            await session.commit()
        async with maker() as session:
            stored = await session.get_one(Election, election.id)
            assert stored.total_votes == 1000
            tally: dict[uuid.UUID, int | None] = dict(
                (
                    await session.execute(
                        select(Candidate.id, Candidate.vote_count).where(
                            Candidate.election_id == election.id
                        )
                    )
                ).all()
            )
            assert tally == {cid: per_candidate.get(cid, 0) for cid in candidate_ids}
            assert sum(count or 0 for count in tally.values()) == 1000
            published = await casting.published_ballots(session, stored)
            assert {vote_hash for vote_hash, _ in published.ballots} == set(accepted)
            assert stored.merkle_root == ledger.merkle_root(published.ballots)
    finally:
        await committed.clean(maker)


async def test_the_worker_and_results_readers_racing_finalise_once(
    engine: AsyncEngine, settings: Settings, make_client: AppFactory
) -> None:
    maker = create_sessionmaker(engine)
    committed = Committed()
    now = clock.freeze()
    try:
        async with maker() as session:
            district = await territory(session, TerritoryType.ELECTORAL_DISTRICT)
            committed.territory_ids.append(district.id)
            voters = await geders(session, settings, 10, committed, territory_id=district.id)
            unit = await ateuli_with(session, district.id, [v.id for v in voters])
            committed.unit_ids.append(unit.id)
            await units.on_leader_election_due(session, unit)
            election = await session.scalar(select(Election).where(Election.scope_id == unit.id))
            assert election is not None
            committed.election_ids.append(election.id)
            for user_id in (voters[0].id, voters[1].id):
                session.add(Candidate(election_id=election.id, user_id=user_id, registered_at=now))
            await session.flush()
            candidate_ids = list(
                (
                    await session.scalars(
                        select(Candidate.id)
                        .where(Candidate.election_id == election.id)
                        .order_by(Candidate.user_id == voters[1].id)
                    )
                ).all()
            )
            await session.commit()
        clock.freeze(election.starts_at + timedelta(seconds=1))
        # Fresh tokens: the clock moved three days.
        voters = [Voter(v.id, issue_access_token(settings, v.id, uuid.uuid4())[0]) for v in voters]
        async with make_client() as http:
            responses = await _vote_all(
                http,
                election.id,
                [
                    (v, candidate_ids[0] if n < 7 else candidate_ids[1])
                    for n, v in enumerate(voters)
                ],
            )
            assert all(r.status_code == 200 for r in responses)
            clock.freeze(election.ends_at + timedelta(seconds=1))

            async def worker() -> tasks.LifecycleReport:
                return await tasks.lifecycle_pass(maker)

            outcome = await asyncio.gather(
                worker(),
                worker(),
                *(http.get(f"{URL}/{election.id}/results") for _ in range(8)),
            )
        reports = outcome[:2]
        reads = outcome[2:]
        assert sum(r.finalized for r in reports if isinstance(r, tasks.LifecycleReport)) <= 1
        for read in reads:
            assert isinstance(read, httpx.Response) and read.status_code == 200, read
            data = read.json()["data"]
            assert data["election"]["total_votes"] == 10
            assert [r["vote_count"] for r in data["results"]] == [7, 3]
        async with maker() as session:
            finalised = await session.scalar(
                select(func.count())
                .select_from(AuditLog)
                .where(
                    AuditLog.action == "elections.finalized",
                    AuditLog.entity_id == str(election.id),
                )
            )
            assert finalised == 1
            terms = (
                await session.scalars(
                    select(LeadershipTerm).where(LeadershipTerm.unit_id == unit.id)
                )
            ).all()
            assert [(t.user_id, t.election_id) for t in terms] == [(voters[0].id, election.id)]
            await session.execute(delete(LeadershipTerm).where(LeadershipTerm.unit_id == unit.id))
            await session.commit()
    finally:
        await committed.clean(maker)
