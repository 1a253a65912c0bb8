"""The rules of elections (DESIGN.md §3.3 who elects whom, §3.4 lifecycle and ballots).

Flush only; the caller commits. docs/elections.md explains every rule chosen here.

Locks, and why a vote is never lost from a frozen tally: a vote first takes the election's
advisory lock in shared mode (``pg_advisory_xact_lock_shared``), then reads the election and
checks the status by the clock. Finalisation and cancellation take the same advisory lock in
exclusive mode (then the row lock): they wait for every vote in flight to commit, and every
later vote, reading the election after the lock, sees it finalised or cancelled. Shared
advisory locks never conflict with each other and live in the lock manager, not on the row:
votes do not touch the election's row at all. That is also why the ballot and participation
tables carry no foreign key to the election or the candidate (the checks are made here, in the
same transaction): a foreign-key check locks the referenced row ``FOR KEY SHARE``, and on one
row shared by every concurrent voter each new locker writes a new MultiXact onto the row. No
per-candidate counter exists either: the tally counts ballots at the end.
"""

from __future__ import annotations

import uuid
from collections import Counter, OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import (
    Boolean,
    DateTime,
    Select,
    and_,
    bindparam,
    exists,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from polis.audit.service import record
from polis.config import get_settings
from polis.elections import ledger
from polis.elections.models import (
    LEADER_ELECTION,
    LEVEL_OF_SCOPE,
    SCOPE_OF_LEVEL,
    Ballot,
    Candidate,
    Election,
    ElectionScope,
    ElectionStatus,
    ElectionType,
    Participation,
    election_status,
)
from polis.kit import clock, merkle
from polis.kit.errors import (
    AuthError,
    BusinessRuleViolation,
    Conflict,
    ErrorCode,
    NotFound,
    PermissionDenied,
    PolisError,
    ServiceUnavailable,
    ValidationFailed,
)
from polis.kit.events import SendTask, commit_and_dispatch, publish_event
from polis.kit.logging import get_logger
from polis.kit.pagination import Page, PageParams, paginate
from polis.notifications.models import NotificationType
from polis.notifications.service import notify
from polis.realtime.schemas import user_channel
from polis.units import service as units
from polis.units.models import LeadershipTerm, Unit, UnitLevel, UnitStatus
from polis.users.models import MemberStatus, User, UserRole

log = get_logger(__name__)

STARTED_EVENT = "election.started"
# A leader serves twelve months (§3.3); the re-election is scheduled so that its voting ends
# when the term does.
TERM = timedelta(days=365)

_NO_ELECTION = "No such election."
_NO_CANDIDATE = "No such candidate in this election."

SEAT_TITLES: dict[ElectionType, str] = {
    ElectionType.ATISTAVI: "Atistavi",
    ElectionType.ORMOTSDAATISTAVI: "Ormotsdaatistavi",
    ElectionType.ASISTAVI: "Asistavi",
    ElectionType.ATASISTAVI: "Atasistavi",
    ElectionType.PARLIAMENTARY: "Parliamentary list",
}
# The scope each election type is held in.
SCOPE_OF_TYPE: dict[ElectionType, ElectionScope] = {
    **{kind: SCOPE_OF_LEVEL[level] for level, kind in LEADER_ELECTION.items()},
    ElectionType.PARLIAMENTARY: ElectionScope.NATIONAL,
}


@dataclass(frozen=True)
class Periods:
    nomination: timedelta
    voting: timedelta


def periods() -> Periods:
    """The nomination and voting periods of elections the system schedules (settings)."""
    settings = get_settings()
    return Periods(
        nomination=timedelta(seconds=settings.election_nomination_seconds),
        voting=timedelta(seconds=settings.election_voting_seconds),
    )


def status_of(election: Election) -> ElectionStatus:
    """The election's status now, by the clock seam."""
    return election.status_at(clock.now())


def _status_condition(status: ElectionStatus, now: datetime) -> Any:
    live = Election.cancelled_at.is_(None)
    if status is ElectionStatus.CANCELLED:
        return Election.cancelled_at.is_not(None)
    if status is ElectionStatus.SCHEDULED:
        return and_(live, Election.starts_at > now)
    if status is ElectionStatus.ACTIVE:
        return and_(live, Election.starts_at <= now, Election.ends_at > now)
    return and_(live, Election.ends_at <= now)


# --- reading --------------------------------------------------------------------------------


async def get_election(session: AsyncSession, election_id: uuid.UUID) -> Election:
    """The election ``election_id``, or 404."""
    election = await session.get(Election, election_id)
    if election is None:
        raise NotFound(_NO_ELECTION)
    return election


async def _locked(
    session: AsyncSession, election_id: uuid.UUID, *, share: bool = False
) -> Election | None:
    statement = select(Election).where(Election.id == election_id)
    # FOR KEY SHARE (candidacies) never blocks another; FOR UPDATE (finalise, cancel) waits
    # for them.
    statement = (
        statement.with_for_update(read=True, key_share=True)
        if share
        else statement.with_for_update()
    )
    return await session.scalar(statement.execution_options(populate_existing=True))


# First key of the two-key advisory lock of an election's ballot box (units growth uses 7402).
BALLOT_BOX_LOCK = 7_403


async def _close_ballot_box(session: AsyncSession, election_id: uuid.UUID) -> None:
    """Wait for every vote in flight on ``election_id``, and hold later ones off until this
    transaction ends (exclusive advisory lock)."""
    await session.execute(
        text("SELECT pg_advisory_xact_lock(:namespace, hashtext(:election))"),
        {"namespace": BALLOT_BOX_LOCK, "election": str(election_id)},
    )


# A vote's first statement: the shared advisory lock, and the election's scope. The lock must
# come before the election's state is read, in a statement of its own: a statement's snapshot
# is taken when it starts, before any wait inside it. The scope never changes once the
# election exists, so reading it under the older snapshot is safe.
OPEN_BALLOT_BOX = text(
    """
    SELECT pg_advisory_xact_lock_shared(:namespace, hashtext(:election)) IS NOT NULL,
           scope_type, scope_id
    FROM elections WHERE id = :election_id
    """
)


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
    if filters.election_type is not None:
        statement = statement.where(Election.election_type == filters.election_type)
    if filters.scope_type is not None:
        statement = statement.where(Election.scope_type == filters.scope_type)
    if filters.scope_id is not None:
        statement = statement.where(Election.scope_id == filters.scope_id)
    if filters.status is not None:
        statement = statement.where(_status_condition(filters.status, clock.now()))
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
        .where(_status_condition(ElectionStatus.ACTIVE, clock.now()))
    )
    return int(found or 0)


@dataclass(frozen=True)
class Counts:
    candidate_count: int
    total_votes: int


async def counts_of(
    session: AsyncSession, elections: Sequence[Election]
) -> dict[uuid.UUID, Counts]:
    """Candidates and votes of each election (two grouped counts; frozen totals when final)."""
    ids = [election.id for election in elections]
    if not ids:
        return {}
    candidates = dict(
        (
            await session.execute(
                select(Candidate.election_id, func.count())
                .where(Candidate.election_id.in_(ids))
                .group_by(Candidate.election_id)
            )
        ).all()
    )
    live = [e.id for e in elections if e.total_votes is None]
    votes: dict[uuid.UUID, int] = {}
    if live:
        votes = dict(
            (
                await session.execute(
                    select(Participation.election_id, func.count())
                    .where(Participation.election_id.in_(live))
                    .group_by(Participation.election_id)
                )
            ).all()
        )
    return {
        e.id: Counts(
            candidate_count=int(candidates.get(e.id, 0)),
            total_votes=e.total_votes if e.total_votes is not None else int(votes.get(e.id, 0)),
        )
        for e in elections
    }


async def candidates_of(
    session: AsyncSession, election_id: uuid.UUID
) -> list[tuple[Candidate, User]]:
    """The election's candidates with their members, in the order they registered."""
    rows = await session.execute(
        select(Candidate, User)
        .join(User, User.id == Candidate.user_id)
        .where(Candidate.election_id == election_id)
        .order_by(Candidate.registered_at, Candidate.id)
    )
    return [(candidate, user) for candidate, user in rows]


def electorate(election: Election) -> Select[uuid.UUID]:
    """The ids of everyone who may vote in ``election`` (§3.3 who elects whom)."""
    return _electorate_of(election.scope_type, election.scope_id)


def _unit_of(scope_type: ElectionScope, scope_id: uuid.UUID | None) -> uuid.UUID | None:
    """The unit whose leader the election chooses; None for the national list."""
    return None if scope_type is ElectionScope.NATIONAL else scope_id


def _electorate_of(scope_type: ElectionScope, scope_id: uuid.UUID | None) -> Select[uuid.UUID]:
    unit_id = _unit_of(scope_type, scope_id)
    if unit_id is None:
        # Every GeDer, diaspora included.
        return select(User.id).where(
            User.role == UserRole.GEDER,
            User.onboarded_at.is_not(None),
            User.deleted_at.is_(None),
        )
    return units.leader_pool(unit_id, LEVEL_OF_SCOPE[scope_type])


def _is_national_voter(role: UserRole, onboarded_at: datetime | None) -> bool:
    """The national electorate (``electorate``) asked of one member who is not deleted."""
    return role is UserRole.GEDER and onboarded_at is not None


async def count_electorate(session: AsyncSession, election: Election) -> int:
    """How many may vote in ``election`` now."""
    pool = electorate(election).subquery()
    return int(await session.scalar(select(func.count()).select_from(pool)) or 0)


async def _electorate_ids(session: AsyncSession, election: Election) -> list[uuid.UUID]:
    return list((await session.scalars(electorate(election))).all())


async def may_vote(session: AsyncSession, election: Election, user: User) -> bool:
    """Whether ``user`` belongs to the election's electorate."""
    unit_id = _unit_of(election.scope_type, election.scope_id)
    if unit_id is None:
        return not user.is_deleted and _is_national_voter(user.role, user.onboarded_at)
    return await _in_unit_electorate(session, election.scope_type, unit_id, user.id)


async def _in_unit_electorate(
    session: AsyncSession, scope_type: ElectionScope, scope_id: uuid.UUID, user_id: uuid.UUID
) -> bool:
    pool = _electorate_of(scope_type, scope_id).subquery()
    found = await session.scalar(select(pool.c[0]).where(pool.c[0] == user_id).limit(1))
    return found is not None


async def may_stand(session: AsyncSession, election: Election, user: User) -> bool:
    """Whether ``user`` may stand: an active, verified member, and for a leader seat one the
    units domain says may lead that unit."""
    if not user.is_verified or user.status is not MemberStatus.ACTIVE or user.is_deleted:
        return False
    unit_id = _unit_of(election.scope_type, election.scope_id)
    if unit_id is None:
        return True
    unit = await session.get(Unit, unit_id)
    return unit is not None and await units._is_eligible_leader(session, unit, user.id)


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
    membership = await units.open_membership(session, user.id)
    if membership is not None:
        scope_ids.add(membership.unit_id)
    for term in await units.open_terms_of(session, user.id):
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


# --- creating and cancelling ----------------------------------------------------------------


@dataclass(frozen=True)
class NewElection:
    election_type: ElectionType
    scope_type: ElectionScope
    scope_id: uuid.UUID | None
    title: str
    description: str | None
    starts_at: datetime
    ends_at: datetime


async def _flush_new_election(session: AsyncSession, election: Election) -> bool:
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


async def _open_election_of(session: AsyncSession, unit_id: uuid.UUID) -> Election | None:
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
    if SCOPE_OF_TYPE[data.election_type] is not data.scope_type:
        raise BusinessRuleViolation(
            f"A {data.election_type.value} election is held in a "
            f"{SCOPE_OF_TYPE[data.election_type].value}.",
            error=ErrorCode.INVALID_HIERARCHY_LEVEL,
            details={"expected_scope_type": SCOPE_OF_TYPE[data.election_type].value},
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
    if not await _flush_new_election(session, election):
        raise Conflict(error=ErrorCode.ELECTION_ALREADY_OPEN)
    await record(
        session,
        action="elections.created",
        entity_type="election",
        entity_id=election.id,
        actor_id=admin.id,
        new={"type": data.election_type, "scope_id": data.scope_id},
    )
    await _notify_electorate(session, election, NotificationType.ELECTION_SCHEDULED)
    return election


async def schedule_leader_election(session: AsyncSession, unit: Unit) -> Election | None:
    """Schedule the election of ``unit``'s leader with the settings' periods, unless the seat
    already has an open election or the unit is not active. Idempotent; returns the new one."""
    if unit.status is not UnitStatus.ACTIVE:
        return None
    if await _open_election_of(session, unit.id) is not None:
        return None
    now = clock.now()
    span = periods()
    kind = LEADER_ELECTION[unit.level]
    election = Election(
        election_type=kind,
        scope_type=SCOPE_OF_LEVEL[unit.level],
        scope_id=unit.id,
        title=f"{SEAT_TITLES[kind]} of {unit.name}",
        starts_at=now + span.nomination,
        ends_at=now + span.nomination + span.voting,
        is_automatic=True,
        nominations_extended=False,
        created_at=now,
    )
    if not await _flush_new_election(session, election):
        return None
    await record(
        session,
        action="elections.scheduled",
        entity_type="election",
        entity_id=election.id,
        new={"type": kind, "scope_id": unit.id, "starts_at": election.starts_at},
    )
    await _notify_electorate(session, election, NotificationType.ELECTION_SCHEDULED)
    return election


async def cancel_election(
    session: AsyncSession, election_id: uuid.UUID, *, actor: User | None, reason: str
) -> Election:
    """Cancel a scheduled or active election (3035 once it has ended or was cancelled)."""
    await _close_ballot_box(session, election_id)
    election = await _locked(session, election_id)
    if election is None:
        raise NotFound(_NO_ELECTION)
    if election.finalized_at is not None or status_of(election) in (
        ElectionStatus.COMPLETED,
        ElectionStatus.CANCELLED,
    ):
        raise Conflict(error=ErrorCode.ELECTION_FINISHED, details={"status": status_of(election)})
    await _cancel(session, election, reason, actor_id=actor.id if actor else None)
    return election


async def _cancel(
    session: AsyncSession, election: Election, reason: str, *, actor_id: uuid.UUID | None
) -> None:
    election.cancelled_at = clock.now()
    election.cancel_reason = reason
    await session.flush()
    await record(
        session,
        action="elections.cancelled",
        entity_type="election",
        entity_id=election.id,
        actor_id=actor_id,
        new={"reason": reason},
    )
    await _notify_electorate(session, election, NotificationType.ELECTION_CANCELLED)


# --- candidacies ----------------------------------------------------------------------------


async def register_candidate(
    session: AsyncSession, user: User, election_id: uuid.UUID, statement: str | None
) -> Candidate:
    """Stand in the election while nominations are open (3003 otherwise); 3031 when the
    member may not stand (§3.3's table), 3032 when already standing."""
    election = await _locked(session, election_id, share=True)
    if election is None:
        raise NotFound(_NO_ELECTION)
    if status_of(election) is not ElectionStatus.SCHEDULED:
        raise Conflict(
            "Candidates register only while nominations are open.",
            error=ErrorCode.ELECTION_NOT_ACTIVE,
            details={"status": status_of(election)},
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
    election = await _locked(session, election_id, share=True)
    if election is None:
        raise NotFound(_NO_ELECTION)
    if status_of(election) is not ElectionStatus.SCHEDULED:
        raise Conflict(
            "A candidacy can be withdrawn only while nominations are open.",
            error=ErrorCode.ELECTION_NOT_ACTIVE,
            details={"status": status_of(election)},
        )
    candidate = await session.scalar(
        select(Candidate).where(Candidate.election_id == election.id, Candidate.user_id == user.id)
    )
    if candidate is None:
        raise NotFound("You are not a candidate in this election.")
    await session.delete(candidate)
    await session.flush()


# --- voting ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CastVote:
    election_id: uuid.UUID
    vote_hash: str
    cast_at: datetime


# A vote's second statement, after the lock: every check the vote needs (the election's state,
# the voter's row, the candidate) and, only when all pass, the participation and then the
# ballot. Two votes of one voter race on the primary key of participations: the second waits
# for the first to commit, then inserts nothing, so it stores no ballot. The conditions are
# those ``cast_vote`` reads back to name a refusal: keep the two in step. ``:eligible`` is the
# unit electorate's answer for a leader election, NULL for the national list (every
# onboarded GeDer, judged from the voter's row here).
CAST_VOTE = text(
    """
    WITH election AS (
        SELECT cancelled_at, finalized_at, starts_at, ends_at FROM elections
        WHERE id = :election_id
    ), voter AS (
        SELECT deleted_at, role, onboarded_at FROM users WHERE id = :voter_id
    ), checks AS (
        SELECT election.*, voter.role IS NOT NULL AS voter_exists, voter.deleted_at,
               COALESCE(:eligible, voter.role = :geder AND voter.onboarded_at IS NOT NULL)
                   AS eligible,
               EXISTS (SELECT 1 FROM election_candidates
                       WHERE id = :candidate_id AND election_id = :election_id)
                   AS candidate_stands
        FROM election LEFT JOIN voter ON true
    ), participation AS (
        INSERT INTO election_participations (election_id, voter_id, created_at)
        SELECT :election_id, :voter_id, :now FROM checks
        WHERE cancelled_at IS NULL AND finalized_at IS NULL
          AND :now >= starts_at AND :now < ends_at
          AND voter_exists AND deleted_at IS NULL AND eligible AND candidate_stands
        ON CONFLICT DO NOTHING
        RETURNING election_id
    ), ballot AS (
        INSERT INTO election_ballots (id, election_id, candidate_id, vote_hash)
        SELECT :ballot_id, election_id, :candidate_id, :vote_hash FROM participation
        RETURNING id
    )
    SELECT checks.*, (SELECT id FROM ballot) AS ballot_id FROM checks
    """
).bindparams(bindparam("eligible", type_=Boolean), bindparam("now", type_=DateTime(True)))


async def cast_vote(
    session: AsyncSession, voter_id: uuid.UUID, election_id: uuid.UUID, candidate_id: uuid.UUID
) -> CastVote:
    """Record the participation of ``voter_id`` and, separately, their ballot; return the
    receipt.

    Refusals, in this order: 404 unknown election; 401/1003 the voter's account is gone; 3003
    not voting now; 3004 not in the electorate; 404/4001 unknown candidate; 3002 already
    voted. Nothing is logged or audited here: the receipt and the voter meet only in this
    function and in the voter's answer. Two statements for the national list (three for a
    leader election, whose electorate is asked apart), no ORM objects: the vote is the
    platform's hottest write (docs/elections.md, "Benchmark").
    """
    connection = await session.connection()
    scope = (
        await connection.execute(
            OPEN_BALLOT_BOX,
            {
                "namespace": BALLOT_BOX_LOCK,
                "election": str(election_id),
                "election_id": election_id,
            },
        )
    ).one_or_none()
    if scope is None:
        raise NotFound(_NO_ELECTION)
    scope_type = ElectionScope(scope.scope_type)
    unit_id = _unit_of(scope_type, scope.scope_id)
    eligible: bool | None = None
    if unit_id is not None:
        eligible = await _in_unit_electorate(session, scope_type, unit_id, voter_id)
    now = clock.now()
    ballot_id = uuid.uuid4()
    vote_hash = ledger.new_vote_hash(election_id, ballot_id, candidate_id)
    checks = (
        await connection.execute(
            CAST_VOTE,
            {
                "election_id": election_id,
                "voter_id": voter_id,
                "candidate_id": candidate_id,
                "eligible": eligible,
                "geder": UserRole.GEDER.value,
                "now": now,
                "ballot_id": ballot_id,
                "vote_hash": vote_hash,
            },
        )
    ).one()
    if checks.ballot_id is not None:
        return CastVote(election_id=election_id, vote_hash=vote_hash, cast_at=now)
    if not checks.voter_exists or checks.deleted_at is not None:
        raise AuthError("This account no longer exists.", error=ErrorCode.TOKEN_INVALID)
    status = election_status(checks.cancelled_at, checks.starts_at, checks.ends_at, now)
    if checks.finalized_at is not None or status is not ElectionStatus.ACTIVE:
        raise Conflict(error=ErrorCode.ELECTION_NOT_ACTIVE, details={"status": status})
    if not checks.eligible:
        raise PermissionDenied(error=ErrorCode.NOT_ELIGIBLE)
    if not checks.candidate_stands:
        raise NotFound(_NO_CANDIDATE)
    raise Conflict(error=ErrorCode.ALREADY_VOTED)


# --- publication ----------------------------------------------------------------------------


def _require_published(election: Election) -> None:
    if election.finalized_at is None or election.cancelled_at is not None:
        raise Conflict(
            "Ballots are published once the election has completed.",
            error=ErrorCode.ELECTION_NOT_ACTIVE,
            details={"status": status_of(election)},
        )


async def _ballots(session: AsyncSession, election_id: uuid.UUID) -> list[ledger.Ballot]:
    rows = await session.execute(
        select(Ballot.vote_hash, Ballot.candidate_id)
        .where(Ballot.election_id == election_id)
        .order_by(Ballot.vote_hash)
    )
    return [(vote_hash, candidate_id) for vote_hash, candidate_id in rows]


@dataclass(frozen=True)
class Publication:
    election: Election
    ballots: list[ledger.Ballot]


async def published_ballots(session: AsyncSession, election: Election) -> Publication:
    """Every ballot of a completed election, sorted by receipt (3003 before completion)."""
    _require_published(election)
    return Publication(election=election, ballots=await _ballots(session, election.id))


@dataclass(frozen=True)
class _ProofTree:
    """A finalised election's Merkle tree, every level kept, for answering proofs."""

    merkle_root: str
    leaf_index: dict[str, int]
    candidates: list[uuid.UUID]
    levels: list[list[bytes]]

    def receipt(self, vote_hash: str) -> ledger.Receipt | None:
        index = self.leaf_index.get(vote_hash)
        if index is None:
            return None
        # RFC 6962 §2.1.1 on this level layout (``polis.kit.merkle``): a lone right-most node
        # moves up unchanged, so it has no sibling at that level.
        path: list[str] = []
        position = index
        for level in self.levels[:-1]:
            sibling = position ^ 1
            if sibling < len(level):
                path.append(level[sibling].hex())
            position //= 2
        return ledger.Receipt(
            candidate_id=self.candidates[index],
            leaf_index=index,
            tree_size=len(self.candidates),
            audit_path=path,
            merkle_root=self.merkle_root,
        )


def _build_tree(ballots: list[ledger.Ballot]) -> _ProofTree:
    ordered = sorted(ballots, key=lambda ballot: ballot[0])
    level = [merkle.leaf_hash(ledger.entry(*ballot)) for ballot in ordered]
    levels = [level]
    while len(level) > 1:
        paired = [merkle.node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
        levels.append(level)
    return _ProofTree(
        merkle_root=levels[-1][0].hex() if ordered else ledger.merkle_root([]),
        leaf_index={vote_hash: n for n, (vote_hash, _) in enumerate(ordered)},
        candidates=[candidate_id for _, candidate_id in ordered],
        levels=levels,
    )


# Proof trees of the last few finalised elections, per process. Building one reads every ballot
# and hashes the whole tree; a national election's voters each ask for their proof, so the tree
# is built once rather than once per voter. Keyed by the frozen root too: a tree is never stale.
_TREES: OrderedDict[tuple[uuid.UUID, str], _ProofTree] = OrderedDict()
_TREES_KEPT = 4


async def _proof_tree(session: AsyncSession, election: Election) -> _ProofTree:
    assert election.merkle_root is not None
    key = (election.id, election.merkle_root)
    tree = _TREES.get(key)
    if tree is None:
        tree = _build_tree(await _ballots(session, election.id))
        if tree.merkle_root != election.merkle_root:  # pragma: no cover - a corrupted store
            raise ServiceUnavailable("The ballots do not match the frozen Merkle root.")
        _TREES[key] = tree
        while len(_TREES) > _TREES_KEPT:
            _TREES.popitem(last=False)
    _TREES.move_to_end(key)
    return tree


async def receipt_of(session: AsyncSession, election: Election, vote_hash: str) -> ledger.Receipt:
    """The inclusion proof of one receipt (3003 before completion, 404 if unknown)."""
    _require_published(election)
    proof = (await _proof_tree(session, election)).receipt(vote_hash)
    if proof is None:
        raise NotFound("No ballot has this receipt in this election.")
    return proof


@dataclass(frozen=True)
class CandidateResult:
    candidate: Candidate
    user: User
    vote_count: int
    percentage: float
    is_winner: bool


@dataclass(frozen=True)
class Results:
    election: Election
    status: ElectionStatus
    total_votes: int
    eligible_voters: int
    turnout: float
    rows: list[CandidateResult]
    merkle_root: str | None


def _percent(part: int, whole: int) -> float:
    return round(100 * part / whole, 2) if whole else 0.0


async def results(session: AsyncSession, election: Election) -> Results:
    """Counts, percentages and the winner: frozen once finalised, counted live before.

    Live counts are one COUNT … GROUP BY over the ballots (the route caches it); there is no
    per-candidate counter to read.
    """
    candidates = await candidates_of(session, election.id)
    if election.finalized_at is not None:
        counts = {c.id: c.vote_count or 0 for c, _ in candidates}
        total = election.total_votes or 0
        eligible = election.eligible_voters or 0
    else:
        rows = await session.execute(
            select(Ballot.candidate_id, func.count())
            .where(Ballot.election_id == election.id)
            .group_by(Ballot.candidate_id)
        )
        counts = {candidate_id: int(count) for candidate_id, count in rows}
        total = sum(counts.values())
        eligible = await count_electorate(session, election)
    result_rows = [
        CandidateResult(
            candidate=candidate,
            user=user,
            vote_count=counts.get(candidate.id, 0),
            percentage=_percent(counts.get(candidate.id, 0), total),
            is_winner=election.winner_candidate_id == candidate.id,
        )
        for candidate, user in candidates
    ]
    result_rows.sort(key=lambda row: (-row.vote_count, row.candidate.registered_at))
    return Results(
        election=election,
        status=status_of(election),
        total_votes=total,
        eligible_voters=eligible,
        turnout=_percent(total, eligible),
        rows=result_rows,
        merkle_root=election.merkle_root,
    )


# --- the lifecycle --------------------------------------------------------------------------


def needs_finalising(election: Election) -> bool:
    """Voting has ended by the clock and the tally is not frozen yet."""
    return (
        election.cancelled_at is None
        and election.finalized_at is None
        and clock.now() >= election.ends_at
    )


def _seniority(user: User) -> tuple[datetime, datetime, str]:
    # The longest-standing member: onboarded first, then registered first, then a fixed order.
    onboarded = user.onboarded_at or datetime.max.replace(tzinfo=clock.now().tzinfo)
    return (onboarded, user.created_at, str(user.id))


async def finalize(session: AsyncSession, election_id: uuid.UUID) -> bool:
    """Tally, freeze the Merkle root, pick the winner (or open a runoff), install the leader.

    Exactly once: under the election's row lock, a second caller finds ``finalized_at`` set
    and does nothing. Returns True when this call finalised the election.
    """
    await _close_ballot_box(session, election_id)
    election = await _locked(session, election_id)
    if election is None or not needs_finalising(election):
        return False
    now = clock.now()
    ballots = await _ballots(session, election.id)
    tally = Counter(candidate_id for _, candidate_id in ballots)
    candidates = await candidates_of(session, election.id)
    for candidate, _ in candidates:
        candidate.vote_count = tally.get(candidate.id, 0)
    election.total_votes = len(ballots)
    election.merkle_root = ledger.merkle_root(ballots)
    election.eligible_voters = await count_electorate(session, election)
    election.finalized_at = now
    # Rewrite every ballot in this one transaction, so that no ballot row keeps the
    # transaction id of the vote that wrote it (the participation row has it too).
    await session.execute(
        update(Ballot).where(Ballot.election_id == election.id).values(vote_hash=Ballot.vote_hash)
    )
    winner: tuple[Candidate, User] | None = None
    runoff: Election | None = None
    if ballots:
        most = max(tally.values())
        tied = [(c, u) for c, u in candidates if tally.get(c.id, 0) == most]
        if len(tied) == 1:
            winner = tied[0]
        elif election.runoff_of_id is None:
            election.outcome_note = "tie: runoff"
        else:
            # A tie in the runoff goes to the longest-standing member (§3.4).
            winner = min(tied, key=lambda pair: _seniority(pair[1]))
        if winner is None:
            await session.flush()
            runoff = await _open_runoff(session, election, [c for c, _ in tied])
    else:
        election.outcome_note = "no votes"
    if winner is not None:
        election.winner_candidate_id = winner[0].id
    await session.flush()
    await record(
        session,
        action="elections.finalized",
        entity_type="election",
        entity_id=election.id,
        new={
            "total_votes": election.total_votes,
            "merkle_root": election.merkle_root,
            "winner_candidate_id": election.winner_candidate_id,
            "runoff_id": runoff.id if runoff else None,
        },
    )
    await _notify_electorate(session, election, NotificationType.ELECTION_COMPLETED)
    if winner is not None and election.scope_id is not None:
        await _install_winner(session, election, winner[1])
    elif runoff is None and election.scope_id is not None:
        # No leader came out of it: the seat is still due, and the job reschedules it.
        unit = await session.get(Unit, election.scope_id)
        if unit is not None and unit.status is UnitStatus.ACTIVE:
            unit.leader_election_due_at = unit.leader_election_due_at or now
            await session.flush()
    return True


async def _open_runoff(
    session: AsyncSession, election: Election, tied: list[Candidate]
) -> Election:
    """A runoff between ``tied``: voting only, opening now for the settings' voting period."""
    now = clock.now()
    runoff = Election(
        election_type=election.election_type,
        scope_type=election.scope_type,
        scope_id=election.scope_id,
        title=f"{election.title} (runoff)"[:200],
        description=election.description,
        starts_at=now,
        ends_at=now + periods().voting,
        created_by_id=election.created_by_id,
        is_automatic=election.is_automatic,
        nominations_extended=True,
        runoff_of_id=election.id,
        opened_at=now,
        created_at=now,
    )
    session.add(runoff)
    await session.flush()
    for candidate in tied:
        session.add(
            Candidate(
                election_id=runoff.id,
                user_id=candidate.user_id,
                statement=candidate.statement,
                registered_at=candidate.registered_at,
            )
        )
    await session.flush()
    await _notify_electorate(session, runoff, NotificationType.ELECTION_RUNOFF)
    await _announce_start(session, runoff)
    return runoff


async def _install_winner(session: AsyncSession, election: Election, winner: User) -> None:
    assert election.scope_id is not None
    unit = await session.get(Unit, election.scope_id)
    if unit is None:
        return
    try:
        await units.install_leader(session, unit, winner, election.id)
    except PolisError as exc:
        # The unit fell back to forming, or the winner left it, between the vote and now:
        # nobody is installed, and the seat stays due if the unit is still active.
        election.outcome_note = f"not installed: {exc.error.name.lower()}"
        await session.flush()
        return
    member_ids = await session.scalars(units.leader_pool(unit.id, unit.level))
    for member_id in member_ids.all():
        await notify(
            session,
            member_id,
            NotificationType.LEADER_ELECTED,
            {
                "unit_name": unit.name,
                "winner_name": winner.display_name,
                "unit_id": unit.id,
                "election_id": election.id,
            },
            dedupe_key=f"leader-elected:{election.id}",
        )


async def open_voting(session: AsyncSession, election_id: uuid.UUID) -> str | None:
    """The start of voting: extend nominations once if nobody stands, then cancel and
    reschedule; otherwise announce the vote to the electorate. Returns what happened."""
    election = await _locked(session, election_id)
    now = clock.now()
    if (
        election is None
        or election.cancelled_at is not None
        or election.finalized_at is not None
        or election.opened_at is not None
        or now < election.starts_at
    ):
        return None
    unit = await session.get(Unit, election.scope_id) if election.scope_id else None
    if election.scope_id is not None and (unit is None or unit.status is not UnitStatus.ACTIVE):
        await _cancel(session, election, "unit not active", actor_id=None)
        return "cancelled"
    standing = await session.scalar(
        select(func.count()).select_from(Candidate).where(Candidate.election_id == election.id)
    )
    if not standing:
        if not election.nominations_extended:
            voting = election.ends_at - election.starts_at
            election.starts_at = now + periods().nomination
            election.ends_at = election.starts_at + voting
            election.nominations_extended = True
            await session.flush()
            await _notify_electorate(
                session, election, NotificationType.ELECTION_NOMINATIONS_EXTENDED
            )
            return "extended"
        await _cancel(session, election, "no candidates", actor_id=None)
        if unit is not None:
            await schedule_leader_election(session, unit)
        return "cancelled"
    election.opened_at = now
    await session.flush()
    await _notify_electorate(session, election, NotificationType.ELECTION_STARTED)
    await _announce_start(session, election)
    return "opened"


async def _announce_start(session: AsyncSession, election: Election) -> None:
    """``election.started`` on each voter's real-time channel (unit elections: national ones
    would be a broadcast to every GeDer, which belongs to a broadcast channel, not here)."""
    if election.scope_id is None:
        return
    payload = {
        "election_id": str(election.id),
        "title": election.title,
        "election_type": election.election_type.value,
        "starts_at": election.starts_at.isoformat(),
        "ends_at": election.ends_at.isoformat(),
    }
    for voter_id in await _electorate_ids(session, election):
        publish_event(session, user_channel(voter_id), STARTED_EVENT, payload)


async def _notify_electorate(
    session: AsyncSession, election: Election, kind: NotificationType
) -> None:
    """Tell a unit election's electorate (at most ten people). The national list's
    electorate is every GeDer: its news goes out through other channels, not row by row."""
    if election.scope_id is None:
        return
    for voter_id in await _electorate_ids(session, election):
        await notify(
            session,
            voter_id,
            kind,
            {"election_title": election.title, "election_id": election.id},
            dedupe_key=f"{kind.value}:{election.id}",
        )


async def due_units(session: AsyncSession) -> list[uuid.UUID]:
    """Active units with no open election whose seat is due: stamped due (vacant, new, or a
    result without a leader) or whose leader's term ends within the nomination and voting
    periods."""
    now = clock.now()
    span = periods()
    term_nearly_over = now - (TERM - span.nomination - span.voting)
    no_open_election = ~exists().where(
        Election.scope_id == Unit.id,
        Election.cancelled_at.is_(None),
        Election.finalized_at.is_(None),
    )
    aging_term = exists().where(
        LeadershipTerm.unit_id == Unit.id,
        LeadershipTerm.ended_at.is_(None),
        LeadershipTerm.started_at <= term_nearly_over,
    )
    rows = await session.scalars(
        select(Unit.id)
        .where(
            Unit.status == UnitStatus.ACTIVE,
            no_open_election,
            or_(Unit.leader_election_due_at <= now, aging_term),
        )
        .order_by(Unit.created_at, Unit.id)
    )
    return list(rows.all())


@dataclass
class LifecycleReport:
    opened: int = 0
    extended: int = 0
    cancelled: int = 0
    finalized: int = 0
    scheduled: int = 0
    failed: int = 0


async def run_lifecycle(
    maker: async_sessionmaker[AsyncSession],
    *,
    redis: Redis | None = None,
    send_task: SendTask | None = None,
) -> LifecycleReport:
    """One pass of the every-minute job, one transaction per election or unit, so one failure
    stops nothing else. Safe to run twice at once (row locks; the open-seat unique index).
    After each commit the transaction's notifications and ``election.started`` events go out
    (through ``redis`` and ``send_task``)."""

    async def commit(session: AsyncSession) -> None:
        await commit_and_dispatch(session, redis=redis, send_task=send_task)

    report = LifecycleReport()
    now = clock.now()
    async with maker() as session:
        pending = Election.cancelled_at.is_(None) & Election.finalized_at.is_(None)
        to_open = (
            await session.scalars(
                select(Election.id).where(
                    pending, Election.opened_at.is_(None), Election.starts_at <= now
                )
            )
        ).all()
        to_finalize = (
            await session.scalars(select(Election.id).where(pending, Election.ends_at <= now))
        ).all()
    for election_id in to_open:
        try:
            async with maker() as session:
                outcome = await open_voting(session, election_id)
                await commit(session)
        except Exception:
            report.failed += 1
            log.exception("elections.open_failed", election_id=str(election_id))
            continue
        if outcome is not None:
            setattr(report, outcome, getattr(report, outcome) + 1)
    for election_id in to_finalize:
        try:
            async with maker() as session:
                done = await finalize(session, election_id)
                await commit(session)
        except Exception:
            report.failed += 1
            log.exception("elections.finalize_failed", election_id=str(election_id))
            continue
        report.finalized += int(done)
    async with maker() as session:
        unit_ids = await due_units(session)
    for unit_id in unit_ids:
        try:
            async with maker() as session:
                unit = await session.get(Unit, unit_id)
                scheduled = unit is not None and (
                    await schedule_leader_election(session, unit) is not None
                )
                await commit(session)
        except Exception:
            report.failed += 1
            log.exception("elections.schedule_failed", unit_id=str(unit_id))
            continue
        report.scheduled += int(scheduled)
    return report
