"""The vote's one statement of checks (service.cast_vote): which refusal wins, the edges of the
voting window, and that a refused vote stores nothing."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from polis.config import Settings
from polis.elections.models import (
    Ballot,
    Candidate,
    Election,
    ElectionScope,
    ElectionType,
    Participation,
)
from polis.kit import clock
from polis.territories.models import Territory
from polis.users.models import UserRole
from tests.conftest import Member, envelope_body, envelope_error
from tests.elections.factories import URL, move_clock
from tests.units.factories import verified

START = datetime(2031, 3, 1, 9, 0, tzinfo=clock.now().tzinfo)
END = START + timedelta(days=1)


async def _national_list(
    session: AsyncSession, settings: Settings, district: Territory
) -> tuple[Election, str]:
    """An open national list with one standing candidate; returns it and the candidate id."""
    standing = await verified(session, settings, district.id)
    election = Election(
        election_type=ElectionType.PARLIAMENTARY,
        scope_type=ElectionScope.NATIONAL,
        title="List",
        starts_at=START,
        ends_at=END,
    )
    session.add(election)
    await session.flush()
    candidate = Candidate(
        election_id=election.id, user_id=standing.user.id, registered_at=START, vote_count=0
    )
    session.add(candidate)
    await session.flush()
    return election, str(candidate.id)


async def _stored(session: AsyncSession, election_id: uuid.UUID) -> tuple[int, int]:
    ballots = await session.scalar(
        select(func.count()).select_from(Ballot).where(Ballot.election_id == election_id)
    )
    participations = await session.scalar(
        select(func.count())
        .select_from(Participation)
        .where(Participation.election_id == election_id)
    )
    return int(ballots or 0), int(participations or 0)


async def _vote(
    client: httpx.AsyncClient, election: Election, member: Member, candidate: str
) -> httpx.Response:
    return await client.post(
        f"{URL}/{election.id}/vote", json={"candidate_id": candidate}, headers=member.headers
    )


async def test_the_window_opens_at_starts_at_and_closes_at_ends_at_to_the_second(
    client: httpx.AsyncClient, db_session: AsyncSession, settings: Settings, district: Territory
) -> None:
    election, candidate = await _national_list(db_session, settings, district)
    early, first, late = [await verified(db_session, settings, district.id) for _ in range(3)]

    move_clock(settings, START - timedelta(seconds=1), early)
    error = envelope_error(await _vote(client, election, early, candidate), 409, 3003)
    assert error["details"]["status"] == "scheduled"
    move_clock(settings, START, first)
    envelope_body(await _vote(client, election, first, candidate))
    move_clock(settings, END, late)
    error = envelope_error(await _vote(client, election, late, candidate), 409, 3003)
    assert error["details"]["status"] == "completed"
    assert await _stored(db_session, election.id) == (1, 1)


async def test_a_finalised_or_cancelled_election_refuses_votes_inside_its_window(
    client: httpx.AsyncClient, db_session: AsyncSession, settings: Settings, district: Territory
) -> None:
    election, candidate = await _national_list(db_session, settings, district)
    voter = await verified(db_session, settings, district.id)
    move_clock(settings, START + timedelta(hours=1), voter)

    election.finalized_at = clock.now()
    await db_session.flush()
    envelope_error(await _vote(client, election, voter, candidate), 409, 3003)
    election.finalized_at = None
    election.cancelled_at = clock.now()
    await db_session.flush()
    error = envelope_error(await _vote(client, election, voter, candidate), 409, 3003)
    assert error["details"]["status"] == "cancelled"
    assert await _stored(db_session, election.id) == (0, 0)


async def test_refusals_come_in_order_and_store_nothing(
    client: httpx.AsyncClient, db_session: AsyncSession, settings: Settings, district: Territory
) -> None:
    election, candidate = await _national_list(db_session, settings, district)
    voter = await verified(db_session, settings, district.id)
    not_onboarded = await verified(db_session, settings, district.id)
    not_onboarded.user.onboarded_at = None
    supporter = await verified(db_session, settings, district.id, role=UserRole.SUPPORTER)
    gone = await verified(db_session, settings, district.id)
    gone.user.deleted_at = clock.now()
    await db_session.flush()
    move_clock(settings, START + timedelta(hours=1), voter, not_onboarded, supporter, gone)
    unknown = str(uuid.uuid4())

    # An unknown election first, then an account that no longer exists (as the
    # authentication dependency answers everywhere else), then the electorate, then the
    # candidate.
    missing = Election(id=uuid.uuid4())
    envelope_error(await _vote(client, missing, voter, candidate), 404, 4001)
    envelope_error(await _vote(client, election, gone, candidate), 401, 1003)
    envelope_error(await _vote(client, election, not_onboarded, candidate), 403, 3004)
    envelope_error(await _vote(client, election, supporter, unknown), 403, 3004)
    envelope_error(await _vote(client, election, voter, unknown), 404, 4001)
    assert await _stored(db_session, election.id) == (0, 0)

    receipt = envelope_body(await _vote(client, election, voter, candidate))["data"]["vote"]
    assert receipt["election_id"] == str(election.id)
    envelope_error(await _vote(client, election, voter, candidate), 409, 3002)
    assert await _stored(db_session, election.id) == (1, 1)
    stored = await db_session.scalar(select(Ballot).where(Ballot.election_id == election.id))
    assert stored is not None
    assert (stored.vote_hash, str(stored.candidate_id)) == (receipt["vote_hash"], candidate)
