"""Factories for elections tests: a full ateuli of members with tokens, elections in a given
phase, and the clock moves that drive them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from polis.auth.tokens import issue_access_token
from polis.config import Settings
from polis.elections import lifecycle
from polis.elections.models import Election
from polis.kit import clock
from polis.units.models import Unit
from polis.users.models import MemberStatus
from tests.conftest import Member
from tests.units.factories import ateuli_with, verified

URL = "/api/v1/elections"
NOMINATION = timedelta(seconds=259_200)
VOTING = timedelta(seconds=259_200)


@dataclass
class Ateuli:
    unit: Unit
    members: list[Member]


async def full_ateuli(
    session: AsyncSession, settings: Settings, district_id: uuid.UUID, *, size: int = 10
) -> Ateuli:
    """An active ateuli of ``size`` members with tokens, every one an active member (so any
    of them may stand)."""
    members = [await verified(session, settings, district_id) for _ in range(size)]
    for member in members:
        member.user.status = MemberStatus.ACTIVE
    unit = await ateuli_with(session, district_id, [m.user.id for m in members])
    await session.flush()
    return Ateuli(unit=unit, members=members)


async def scheduled_election(session: AsyncSession, unit: Unit) -> Election:
    """The unit's atistavi election, scheduled as the system schedules it."""
    election = await lifecycle.schedule_leader_election(session, unit)
    assert election is not None
    return election


async def open_election_of(session: AsyncSession, unit_id: uuid.UUID) -> Election:
    election = await session.scalar(
        select(Election)
        .where(
            Election.scope_id == unit_id,
            Election.cancelled_at.is_(None),
            Election.finalized_at.is_(None),
        )
        .execution_options(populate_existing=True)
    )
    assert election is not None
    return election


async def register(http: httpx.AsyncClient, election_id: uuid.UUID, member: Member) -> str:
    """Register ``member`` as a candidate; return the candidate id."""
    response = await http.post(
        f"{URL}/{election_id}/register-candidate",
        json={"statement": "I will serve."},
        headers=member.headers,
    )
    assert response.status_code == 201, response.text
    candidate_id: str = response.json()["data"]["id"]
    return candidate_id


async def vote(
    http: httpx.AsyncClient, election_id: uuid.UUID, member: Member, candidate_id: str
) -> str:
    response = await http.post(
        f"{URL}/{election_id}/vote", json={"candidate_id": candidate_id}, headers=member.headers
    )
    assert response.status_code == 200, response.text
    vote_hash: str = response.json()["data"]["vote"]["vote_hash"]
    return vote_hash


def voting_time(election: Election) -> datetime:
    """A moment inside the voting window."""
    return election.starts_at + timedelta(seconds=1)


def after(election: Election) -> datetime:
    return election.ends_at + timedelta(seconds=1)


def move_clock(settings: Settings, moment: datetime, *members: Member) -> None:
    """Move the clock to ``moment`` and give ``members`` access tokens valid then (a token
    lives 15 minutes; elections last days)."""
    clock.freeze(moment)
    for member in members:
        member.token, _ = issue_access_token(settings, member.user.id, member.session_id)
