"""Creating and cancelling elections, and candidacies (DESIGN.md §3.4).

Flush only; the caller commits. The leader elections the system schedules are
``polis.elections.lifecycle``'s.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from polis.audit.transitions import transition
from polis.elections.base import (
    NO_ELECTION,
    close_ballot_box,
    locked,
    may_stand,
    status_of,
    tell_electorate,
)
from polis.elections.models import (
    LEADER_ELECTION,
    LEVEL_OF_SCOPE,
    SCOPE_OF_LEVEL,
    Candidate,
    Election,
    ElectionScope,
    ElectionStatus,
    ElectionType,
)
from polis.kit import clock
from polis.kit.errors import (
    BusinessRuleViolation,
    Conflict,
    ErrorCode,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from polis.notifications.models import NotificationType
from polis.units.models import Unit
from polis.users.models import User

# The scope each election type is held in.
SCOPE_OF_TYPE: dict[ElectionType, ElectionScope] = {
    **{kind: SCOPE_OF_LEVEL[level] for level, kind in LEADER_ELECTION.items()},
    ElectionType.PARLIAMENTARY: ElectionScope.NATIONAL,
}


@dataclass(frozen=True)
class NewElection:
    election_type: ElectionType
    scope_type: ElectionScope
    scope_id: uuid.UUID | None
    title: str
    description: str | None
    starts_at: datetime
    ends_at: datetime


async def flush_new_election(session: AsyncSession, election: Election) -> bool:
    """Insert ``election``; False when the seat already has an open election (the partial
    unique index decides, so two racing schedulers cannot both insert)."""
    session.add(election)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        # The savepoint's rollback has already taken the pending row out of the session.
        return False
    return True


async def open_election_of(session: AsyncSession, unit_id: uuid.UUID) -> Election | None:
    return await session.scalar(
        select(Election).where(
            Election.scope_id == unit_id,
            Election.cancelled_at.is_(None),
            Election.finalized_at.is_(None),
        )
    )


async def create_election(session: AsyncSession, admin: User, data: NewElection) -> Election:
    """An election with explicit times (admins). Nominations open at once.

    Refusals: 3008 type and scope do not match; 404 unknown unit; 3034 bad period; 3033 the
    seat already has an open election.
    """
    now = clock.now()
    await _check_new_election(session, data, now)
    election = Election(
        election_type=data.election_type,
        scope_type=data.scope_type,
        scope_id=data.scope_id,
        title=data.title,
        description=data.description,
        starts_at=data.starts_at,
        ends_at=data.ends_at,
        created_by_id=admin.id,
        is_automatic=False,
        nominations_extended=False,
        created_at=now,
    )
    if not await flush_new_election(session, election):
        raise Conflict(error=ErrorCode.ELECTION_ALREADY_OPEN)
    await transition(
        session,
        action="elections.created",
        entity_type="election",
        entity_id=election.id,
        actor_id=admin.id,
        new={"type": data.election_type, "scope_id": data.scope_id},
        tell=await tell_electorate(session, election, NotificationType.ELECTION_SCHEDULED),
    )
    return election


async def _check_new_election(session: AsyncSession, data: NewElection, now: datetime) -> None:
    """Refuse a type held in another scope (3008), a scope without its unit or a national one
    with a unit, an unknown unit (404) and a period not wholly in the future (3034)."""
    expected = SCOPE_OF_TYPE[data.election_type]
    if expected is not data.scope_type:
        raise BusinessRuleViolation(
            f"A {data.election_type.value} election is held in a {expected.value}.",
            error=ErrorCode.INVALID_HIERARCHY_LEVEL,
            details={"expected_scope_type": expected.value},
        )
    if data.scope_type is ElectionScope.NATIONAL:
        if data.scope_id is not None:
            raise ValidationFailed(
                "A national election has no scope_id.",
                error=ErrorCode.BAD_FORMAT,
                details={"field": "scope_id"},
            )
    else:
        if data.scope_id is None:
            raise ValidationFailed(
                "Name the unit whose leader is elected.",
                error=ErrorCode.MISSING_FIELD,
                details={"field": "scope_id"},
            )
        unit = await session.get(Unit, data.scope_id)
        if unit is None or unit.level is not LEVEL_OF_SCOPE[data.scope_type]:
            raise NotFound("No such unit.")
    if not now < data.starts_at < data.ends_at:
        raise ValidationFailed(
            "Voting must start in the future and end after it starts.",
            error=ErrorCode.INVALID_ELECTION_PERIOD,
        )


async def cancel_election(
    session: AsyncSession, election_id: uuid.UUID, *, actor: User | None, reason: str
) -> Election:
    """Cancel a scheduled or active election (3035 once it has ended or was cancelled)."""
    await close_ballot_box(session, election_id)
    election = await locked(session, election_id)
    if election is None:
        raise NotFound(NO_ELECTION)
    if election.finalized_at is not None or status_of(election) in (
        ElectionStatus.COMPLETED,
        ElectionStatus.CANCELLED,
    ):
        raise Conflict(error=ErrorCode.ELECTION_FINISHED, details={"status": status_of(election)})
    await cancel(session, election, reason, actor_id=actor.id if actor else None)
    return election


async def cancel(
    session: AsyncSession, election: Election, reason: str, *, actor_id: uuid.UUID | None
) -> None:
    """Cancel ``election`` now (the caller holds its locks and has checked that it may)."""
    election.cancelled_at = clock.now()
    election.cancel_reason = reason
    await transition(
        session,
        action="elections.cancelled",
        entity_type="election",
        entity_id=election.id,
        actor_id=actor_id,
        new={"reason": reason},
        tell=await tell_electorate(session, election, NotificationType.ELECTION_CANCELLED),
    )


async def _in_nominations(session: AsyncSession, election_id: uuid.UUID, refusal: str) -> Election:
    """The election, share-locked, while its nominations are open: 404 unknown, 3003 (with
    ``refusal``) otherwise."""
    election = await locked(session, election_id, share=True)
    if election is None:
        raise NotFound(NO_ELECTION)
    if status_of(election) is not ElectionStatus.SCHEDULED:
        raise Conflict(
            refusal, error=ErrorCode.ELECTION_NOT_ACTIVE, details={"status": status_of(election)}
        )
    return election


async def register_candidate(
    session: AsyncSession, user: User, election_id: uuid.UUID, statement: str | None
) -> Candidate:
    """Stand in the election while nominations are open (3003 otherwise); 3031 when the
    member may not stand (§3.3's table), 3032 when already standing."""
    election = await _in_nominations(
        session, election_id, "Candidates register only while nominations are open."
    )
    if not await may_stand(session, election, user):
        raise PermissionDenied(error=ErrorCode.NOT_ELIGIBLE_CANDIDATE)
    candidate = Candidate(
        election_id=election.id, user_id=user.id, statement=statement, registered_at=clock.now()
    )
    session.add(candidate)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise Conflict(error=ErrorCode.ALREADY_A_CANDIDATE) from None
    return candidate


async def withdraw(session: AsyncSession, user: User, election_id: uuid.UUID) -> None:
    """Withdraw the member's candidacy while nominations are open."""
    election = await _in_nominations(
        session, election_id, "A candidacy can be withdrawn only while nominations are open."
    )
    candidate = await session.scalar(
        select(Candidate).where(Candidate.election_id == election.id, Candidate.user_id == user.id)
    )
    if candidate is None:
        raise NotFound("You are not a candidate in this election.")
    await session.delete(candidate)
    await session.flush()
