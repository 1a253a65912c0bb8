"""The lifecycle: scheduling leader elections, opening voting, and what the every-minute run
reads to find what the clock says is due (DESIGN.md §3.9).

Flush only. The run itself, one transaction per election or unit, is ``polis.elections.tasks``.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from polis.audit.transitions import transition
from polis.elections.base import (
    announce_start,
    locked,
    notify_electorate,
    periods,
    tell_electorate,
)
from polis.elections.models import (
    LEADER_ELECTION,
    SCOPE_OF_LEVEL,
    Candidate,
    Election,
    ElectionType,
)
from polis.elections.service import cancel, flush_new_election, open_election_of
from polis.kit import clock
from polis.notifications.models import NotificationType
from polis.units.models import LeadershipTerm, Unit, UnitStatus

# A leader serves twelve months (§3.3); the re-election is scheduled so that its voting ends
# when the term does.
TERM = timedelta(days=365)


SEAT_TITLES: dict[ElectionType, str] = {
    ElectionType.ATISTAVI: "Atistavi",
    ElectionType.ORMOTSDAATISTAVI: "Ormotsdaatistavi",
    ElectionType.ASISTAVI: "Asistavi",
    ElectionType.ATASISTAVI: "Atasistavi",
    ElectionType.PARLIAMENTARY: "Parliamentary list",
}


async def schedule_leader_election(session: AsyncSession, unit: Unit) -> Election | None:
    """Schedule the election of ``unit``'s leader with the settings' periods, unless the seat
    already has an open election or the unit is not active. Idempotent; returns the new one."""
    if unit.status is not UnitStatus.ACTIVE:
        return None
    if await open_election_of(session, unit.id) is not None:
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
    if not await flush_new_election(session, election):
        return None
    await transition(
        session,
        action="elections.scheduled",
        entity_type="election",
        entity_id=election.id,
        actor_id=None,
        new={"type": kind, "scope_id": unit.id, "starts_at": election.starts_at},
        tell=await tell_electorate(session, election, NotificationType.ELECTION_SCHEDULED),
    )
    return election


async def open_voting(session: AsyncSession, election_id: uuid.UUID) -> str | None:
    """The start of voting: extend nominations once if nobody stands, then cancel and
    reschedule; otherwise announce the vote to the electorate. Returns what happened."""
    election = await locked(session, election_id)
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
        await cancel(session, election, "unit not active", actor_id=None)
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
            await notify_electorate(
                session, election, NotificationType.ELECTION_NOMINATIONS_EXTENDED
            )
            return "extended"
        await cancel(session, election, "no candidates", actor_id=None)
        if unit is not None:
            await schedule_leader_election(session, unit)
        return "cancelled"
    election.opened_at = now
    await session.flush()
    await notify_electorate(session, election, NotificationType.ELECTION_STARTED)
    await announce_start(session, election)
    return "opened"


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


async def due_elections(
    session: AsyncSession, now: datetime
) -> tuple[Sequence[uuid.UUID], Sequence[uuid.UUID]]:
    """The elections whose voting is due to open, and those whose voting has ended."""
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
    return to_open, to_finalize
