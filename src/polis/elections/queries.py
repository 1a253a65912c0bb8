"""Reading elections: one election, the listing, counts, and the member's own elections.

No writes. docs/elections.md explains the rules (the electorate: ``polis.elections.base``).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from polis.elections.base import NO_ELECTION, may_stand, may_vote, status_condition
from polis.elections.models import (
    Candidate,
    Election,
    ElectionScope,
    ElectionStatus,
    ElectionType,
    Participation,
)
from polis.kit import clock
from polis.kit.db import get_or_404
from polis.kit.pagination import Page, PageParams, paginate
from polis.units import queries as unit_queries
from polis.units.models import Unit, UnitLevel
from polis.users.models import MemberStatus, User, UserRole


async def get_election(session: AsyncSession, election_id: uuid.UUID) -> Election:
    """The election ``election_id``, or 404."""
    return await get_or_404(session, Election, election_id, missing=NO_ELECTION)


@dataclass(frozen=True)
class ElectionFilters:
    election_type: ElectionType | None = None
    status: ElectionStatus | None = None
    scope_type: ElectionScope | None = None
    scope_id: uuid.UUID | None = None


async def list_elections(
    session: AsyncSession, filters: ElectionFilters, params: PageParams
) -> Page:
    """One page of elections matching ``filters`` (the status filter follows the clock)."""
    statement = select(Election)
    equal: list[tuple[InstrumentedAttribute[Any], object]] = [
        (Election.election_type, filters.election_type),
        (Election.scope_type, filters.scope_type),
        (Election.scope_id, filters.scope_id),
    ]
    for column, value in equal:
        if value is not None:
            statement = statement.where(column == value)
    if filters.status is not None:
        statement = statement.where(status_condition(filters.status, clock.now()))
    return await paginate(
        session,
        statement,
        params,
        sortable={
            "created_at": Election.created_at,
            "starts_at": Election.starts_at,
            "ends_at": Election.ends_at,
        },
        default_sort="created_at",
    )


async def count_voting(session: AsyncSession) -> int:
    """How many elections are open for voting now (by the clock)."""
    found = await session.scalar(
        select(func.count())
        .select_from(Election)
        .where(status_condition(ElectionStatus.ACTIVE, clock.now()))
    )
    return int(found or 0)


@dataclass(frozen=True)
class Counts:
    candidate_count: int
    total_votes: int


async def _count_by(
    session: AsyncSession, election_id: InstrumentedAttribute[uuid.UUID], ids: list[uuid.UUID]
) -> dict[uuid.UUID, int]:
    """How many rows each of ``ids`` has, by the ``election_id`` column (one grouped count)."""
    found = await session.execute(
        select(election_id, func.count()).where(election_id.in_(ids)).group_by(election_id)
    )
    return {key: int(count) for key, count in found.all()}


async def counts_of(
    session: AsyncSession, elections: Sequence[Election]
) -> dict[uuid.UUID, Counts]:
    """Candidates and votes of each election (two grouped counts; frozen totals when final)."""
    ids = [election.id for election in elections]
    if not ids:
        return {}
    candidates = await _count_by(session, Candidate.election_id, ids)
    live = [e.id for e in elections if e.total_votes is None]
    votes = await _count_by(session, Participation.election_id, live) if live else {}
    return {
        e.id: Counts(
            candidate_count=int(candidates.get(e.id, 0)),
            total_votes=e.total_votes if e.total_votes is not None else int(votes.get(e.id, 0)),
        )
        for e in elections
    }


async def has_voted(session: AsyncSession, election_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    found = await session.scalar(
        select(Participation.voter_id).where(
            Participation.election_id == election_id, Participation.voter_id == user_id
        )
    )
    return found is not None


@dataclass(frozen=True)
class MyElection:
    election: Election
    may_vote: bool
    may_stand: bool
    has_voted: bool


async def _my_scope_ids(session: AsyncSession, user: User) -> set[uuid.UUID]:
    """The units whose leader ``user`` may elect: their ateuli, and the units above each of
    their seats whose electorate that seat belongs to (§3.3)."""
    scope_ids: set[uuid.UUID] = set()
    membership = await unit_queries.open_membership(session, user.id)
    if membership is not None:
        scope_ids.add(membership.unit_id)
    for term in await unit_queries.open_terms_of(session, user.id):
        seat = await session.get(Unit, term.unit_id)
        if seat is None or seat.parent_id is None:
            continue
        parent = await session.get(Unit, seat.parent_id)
        if parent is None:
            continue
        if seat.level is UnitLevel.ATEULI:
            # An atistavi elects the ormotsdaatistavi above and the asistavi above that.
            scope_ids.add(parent.id)
            if parent.parent_id is not None:
                scope_ids.add(parent.parent_id)
        elif seat.level is UnitLevel.ASEULI:
            scope_ids.add(parent.id)
    return scope_ids


async def my_elections(session: AsyncSession, user: User) -> list[MyElection]:
    """Scheduled and active elections ``user`` may vote or stand in, soonest ending first."""
    now = clock.now()
    scope_ids = await _my_scope_ids(session, user)
    where_scope: list[Any] = [Election.scope_id.in_(scope_ids)] if scope_ids else []
    national = user.role is UserRole.GEDER or (
        user.is_verified and user.status is MemberStatus.ACTIVE
    )
    if national:
        where_scope.append(Election.scope_type == ElectionScope.NATIONAL)
    if not where_scope:
        return []
    elections = (
        await session.scalars(
            select(Election)
            .where(
                or_(*where_scope),
                Election.cancelled_at.is_(None),
                Election.ends_at > now,
            )
            .order_by(Election.ends_at, Election.id)
        )
    ).all()
    voted = set(
        (
            await session.scalars(
                select(Participation.election_id).where(
                    Participation.voter_id == user.id,
                    Participation.election_id.in_([e.id for e in elections]),
                )
            )
        ).all()
    )
    found: list[MyElection] = []
    for election in elections:
        voter = await may_vote(session, election, user)
        stand = await may_stand(session, election, user)
        if voter or stand:
            found.append(MyElection(election, voter, stand, election.id in voted))
    return found
