"""The rules of ateulis and leadership (DESIGN.md §3.3). Flush only; the caller commits.

Concurrency: every change to an ateuli's membership locks the member's row, then the unit's
row (``SELECT … FOR UPDATE``), always in that order, and recounts the open memberships under
the lock. Two joins racing for the last seat are serialised on the unit row: the second sees
ten members and is refused with 3005. The partial unique index on open memberships backs the
one-ateuli-at-a-time rule if two requests of the same member ever got past the check.
"""

from __future__ import annotations

import uuid

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from polis.audit.service import record
from polis.audit.transitions import transition
from polis.kit import clock, hooks
from polis.kit.db import get_or_404
from polis.kit.errors import (
    BusinessRuleViolation,
    Conflict,
    ErrorCode,
    NotFound,
    PermissionDenied,
)
from polis.territories.models import Territory, TerritoryType
from polis.units import hierarchy
from polis.units.models import (
    LeadershipTerm,
    TermEndReason,
    Unit,
    UnitLevel,
    UnitMembership,
    UnitStatus,
)
from polis.units.queries import (
    ATEULI_SIZE,
    NO_ATEULI,
    count_open_members,
    open_membership,
    open_term,
)
from polis.users.models import User

# An active ateuli stays active while it has at least this many members.
ATEULI_MIN_ACTIVE = 5


async def _lock_unit(session: AsyncSession, unit_id: uuid.UUID) -> Unit | None:
    # populate_existing: the session may hold a stale copy; the locked read is the truth.
    return await session.scalar(
        select(Unit)
        .where(Unit.id == unit_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


async def _lock_user(session: AsyncSession, user: User) -> None:
    await session.scalar(select(User.id).where(User.id == user.id).with_for_update())
    await session.refresh(user)


# --- ateuli membership ----------------------------------------------------------------------


def _check_can_belong(user: User, unit_territory_id: uuid.UUID) -> None:
    if user.is_diaspora:
        raise PermissionDenied(error=ErrorCode.DIASPORA_EXCLUDED)
    if user.territory_id != unit_territory_id:
        raise PermissionDenied(
            error=ErrorCode.NOT_IN_DISTRICT,
            details={"your_territory_id": str(user.territory_id) if user.territory_id else None},
        )


async def _check_in_no_ateuli(session: AsyncSession, user: User) -> None:
    current = await open_membership(session, user.id)
    if current is not None:
        raise Conflict(error=ErrorCode.ALREADY_IN_GROUP, details={"unit_id": str(current.unit_id)})


async def _flush_membership(session: AsyncSession) -> None:
    # The user row lock serialises a member's own requests, so this is a second line of
    # defence: the partial unique index on open memberships must never surface as a 500.
    try:
        await session.flush()
    except IntegrityError:
        raise Conflict(error=ErrorCode.ALREADY_IN_GROUP) from None


async def create_ateuli(
    session: AsyncSession, founder: User, *, name: str, territory_id: uuid.UUID
) -> Unit:
    """Found an ateuli in the founder's own district; the founder is its first member.

    The founder must be verified (the route's dependency), not diaspora, in no ateuli, and
    ``territory_id`` must be their own electoral district.
    """
    await _lock_user(session, founder)
    territory = await get_or_404(session, Territory, territory_id, missing="No such territory.")
    if territory.type is not TerritoryType.ELECTORAL_DISTRICT:
        raise BusinessRuleViolation(
            "An ateuli belongs to an electoral district.",
            error=ErrorCode.INVALID_HIERARCHY_LEVEL,
        )
    _check_can_belong(founder, territory.id)
    await _check_in_no_ateuli(session, founder)
    now = clock.now()
    unit = Unit(
        name=name,
        level=UnitLevel.ATEULI,
        territory_id=territory.id,
        status=UnitStatus.FORMING,
        member_count=1,
        founder_id=founder.id,
        created_at=now,
    )
    session.add(unit)
    await session.flush()
    session.add(UnitMembership(unit_id=unit.id, user_id=founder.id, joined_at=now))
    await _flush_membership(session)
    await record(
        session,
        action="units.ateuli.created",
        entity_type="unit",
        entity_id=unit.id,
        actor_id=founder.id,
        new={"name": name, "territory_id": territory.id},
    )
    return unit


async def join_ateuli(
    session: AsyncSession, user: User, unit_id: uuid.UUID, *, message: str | None = None
) -> Unit:
    """Add ``user`` to the ateuli; at the tenth member it turns active.

    Refusals: 404 unknown ateuli, 3013 diaspora, 3012 another district, 3015 inactive,
    3006 already in an ateuli (this one included), 3005 full.
    """
    await _lock_user(session, user)
    unit = await _lock_unit(session, unit_id)
    if unit is None or unit.level is not UnitLevel.ATEULI:
        raise NotFound(NO_ATEULI)
    _check_can_belong(user, unit.territory_id)
    if unit.status is UnitStatus.INACTIVE:
        raise Conflict("This ateuli has dissolved.", error=ErrorCode.UNIT_NOT_ACTIVE)
    await _check_in_no_ateuli(session, user)
    if await count_open_members(session, unit.id) >= ATEULI_SIZE:
        raise Conflict(error=ErrorCode.GROUP_FULL, details={"capacity": ATEULI_SIZE})
    session.add(
        UnitMembership(unit_id=unit.id, user_id=user.id, joined_at=clock.now(), message=message)
    )
    await _flush_membership(session)
    unit.member_count = await count_open_members(session, unit.id)
    if unit.status is UnitStatus.FORMING and unit.member_count >= ATEULI_SIZE:
        unit.status = UnitStatus.ACTIVE
        unit.activated_at = clock.now()
        await session.flush()
        await on_ateuli_activated(session, unit)
    await session.flush()
    return unit


async def leave_ateuli(session: AsyncSession, user: User, unit_id: uuid.UUID) -> Unit:
    """Take ``user`` out of the ateuli (the membership is closed, not deleted).

    A leader who leaves vacates the seat (an election becomes due). Below five members an
    active ateuli falls back to ``forming`` and its leader's term ends; with no member left it
    becomes ``inactive``.
    """
    await _lock_user(session, user)
    unit = await _lock_unit(session, unit_id)
    if unit is None or unit.level is not UnitLevel.ATEULI:
        raise NotFound(NO_ATEULI)
    membership = await open_membership(session, user.id)
    if membership is None or membership.unit_id != unit.id:
        raise Conflict("You are not a member of this ateuli.", error=ErrorCode.NOT_A_MEMBER)
    now = clock.now()
    membership.left_at = now
    await session.flush()
    unit.member_count = await count_open_members(session, unit.id)
    term = await open_term(session, unit.id)
    if term is not None and term.user_id == user.id:
        _end_term(term, TermEndReason.LEFT_UNIT)
        term = None
        if unit.status is UnitStatus.ACTIVE and unit.member_count >= ATEULI_MIN_ACTIVE:
            await on_leader_election_due(session, unit)
    if unit.status is UnitStatus.ACTIVE and unit.member_count < ATEULI_MIN_ACTIVE:
        unit.status = UnitStatus.FORMING
        unit.leader_election_due_at = None
        if term is not None:
            _end_term(term, TermEndReason.UNIT_FORMING)
    if unit.member_count == 0:
        unit.status = UnitStatus.INACTIVE
    await transition(
        session,
        action="units.ateuli.left",
        entity_type="unit",
        entity_id=unit.id,
        actor_id=user.id,
        new={"member_count": unit.member_count, "status": unit.status},
    )
    return unit


async def rename_unit(session: AsyncSession, unit: Unit, actor: User, name: str) -> Unit:
    """Rename ``unit`` (permission is checked by the route's dependency)."""
    old = unit.name
    unit.name = name
    await transition(
        session,
        action="units.renamed",
        entity_type="unit",
        entity_id=unit.id,
        actor_id=actor.id,
        old={"name": old},
        new={"name": name},
    )
    return unit


# --- elections hook -------------------------------------------------------------------------


async def on_leader_election_due(session: AsyncSession, unit: Unit) -> None:
    """``unit`` must elect a leader: stamp ``leader_election_due_at`` and schedule the election.

    Scheduling is the elections domain's, reached through the ``leader_election_due`` hook
    (``polis.kit.hooks``; elections registers ``schedule_leader_election`` at start-up):
    idempotent, so a unit never gets a second open election for its seat. The stamp stays until
    a leader is installed, so the every-minute lifecycle job reschedules whatever did not end in
    a leader (no candidate, no vote).
    """
    unit.leader_election_due_at = clock.now()
    await session.flush()
    await hooks.leader_election_due.fire(session, unit)


async def on_ateuli_activated(session: AsyncSession, unit: Unit) -> None:
    """The ateuli reached ten members: its atistavi election is due at once (§3.3)."""
    await record(
        session,
        action="units.ateuli.activated",
        entity_type="unit",
        entity_id=unit.id,
        new={"member_count": unit.member_count},
    )
    await on_leader_election_due(session, unit)


# --- leadership -----------------------------------------------------------------------------


def _end_term(term: LeadershipTerm, reason: TermEndReason) -> None:
    term.ended_at = clock.now()
    term.end_reason = reason


def leader_pool(unit_id: uuid.UUID, level: UnitLevel) -> Select[uuid.UUID]:
    """The ids of who may lead the unit by §3.3's who-elects-whom table, as a subquery.

    atistavi: the members of the ateuli; ormotsdaatistavi: the atistavis of its ateulis;
    asistavi: the atistavis of the ateulis within the aseuli (the table's "10 atistavis");
    atasistavi: the asistavis of its aseulis. For every seat above the ateuli the electorate
    is this same pool, so the elections domain uses it for voters and candidates alike.
    """
    if level is UnitLevel.ATEULI:
        return select(UnitMembership.user_id).where(
            UnitMembership.unit_id == unit_id, UnitMembership.left_at.is_(None)
        )
    if level is UnitLevel.ASEULI:
        children = select(Unit.id).where(Unit.parent_id == unit_id)
        seat_units = select(Unit.id).where(Unit.parent_id.in_(children))
    else:
        seat_units = select(Unit.id).where(Unit.parent_id == unit_id)
    return select(LeadershipTerm.user_id).where(
        LeadershipTerm.ended_at.is_(None), LeadershipTerm.unit_id.in_(seat_units)
    )


async def is_eligible_leader(session: AsyncSession, unit: Unit, user_id: uuid.UUID) -> bool:
    """Whether ``user_id`` may lead ``unit`` (``leader_pool``)."""
    pool = leader_pool(unit.id, unit.level).subquery()
    found = await session.scalar(select(pool.c[0]).where(pool.c[0] == user_id).limit(1))
    return found is not None


async def install_leader(
    session: AsyncSession, unit: Unit, user: User, election_id: uuid.UUID | None = None
) -> LeadershipTerm:
    """Make ``user`` the leader of ``unit``: end the sitting term, open a new one, then let the
    hierarchy grow. The entry point for the elections issue.

    Refusals: 3015 when the unit is not active, 3014 when ``user`` may not lead it (see
    ``is_eligible_leader``). Installing the same election's winner twice is a no-op that
    returns the open term, so a retried finalisation is harmless.
    """
    # Growth serialises on the region's advisory lock; take it before any row lock, in the
    # same order as the sweep, so the two never deadlock.
    region_id = await hierarchy.lock_region_of(session, unit.territory_id)
    locked = await _lock_unit(session, unit.id)
    if locked is None:
        raise NotFound("No such unit.")
    unit = locked
    if unit.status is not UnitStatus.ACTIVE:
        raise Conflict("Only an active unit elects a leader.", error=ErrorCode.UNIT_NOT_ACTIVE)
    current = await open_term(session, unit.id)
    if (
        current is not None
        and current.user_id == user.id
        and election_id is not None
        and current.election_id == election_id
    ):
        return current
    if not await is_eligible_leader(session, unit, user.id):
        raise Conflict(
            "This member may not lead this unit.",
            error=ErrorCode.NOT_A_MEMBER,
            details={"level": unit.level.value},
        )
    if current is not None:
        _end_term(current, TermEndReason.REPLACED)
        # The partial unique index allows one open term: the old one must close first.
        await session.flush()
    term = LeadershipTerm(
        unit_id=unit.id, user_id=user.id, election_id=election_id, started_at=clock.now()
    )
    session.add(term)
    unit.leader_election_due_at = None
    await transition(
        session,
        action="units.leader.installed",
        entity_type="unit",
        entity_id=unit.id,
        actor_id=None,
        new={"user_id": user.id, "election_id": election_id, "level": unit.level},
    )
    await hierarchy.grow(session, region_id)
    return term
