"""The locks and the revocation that the service and the penalty share (DESIGN.md §3.2).

Every path that changes an endorsement takes its locks in one order: the GeDer's ``users``
row, then the endorsement's row, then the member's row (then, through the units service, their
ateuli's row), so no two paths can deadlock. The helpers here take them in that order; the
service (an answer, a revocation, an admin's change) and penalties.py (arbitration's penalty)
both build on them, and neither imports the other. Flush only; the caller commits.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from polis.audit.service import record
from polis.endorsements import queries
from polis.endorsements.models import (
    DEFAULT_LIMIT,
    Endorsement,
    EndorsementRights,
    EndorsementStatus,
)
from polis.kit import clock
from polis.kit.db import get_or_404
from polis.notifications.models import NotificationType
from polis.notifications.service import notify_each
from polis.units import queries as unit_queries
from polis.units import service as units
from polis.units.models import TermEndReason, Unit, UnitStatus
from polis.users.models import User, UserRole

# --- locks ----------------------------------------------------------------------------------


async def lock_user(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    """The member's row, locked ``FOR UPDATE`` and re-read, or None."""
    # populate_existing: the session may hold a stale copy; the locked read is the truth.
    locked: User | None = await session.scalar(
        select(User)
        .where(User.id == user_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return locked


async def lock_endorsement(session: AsyncSession, endorsement_id: uuid.UUID) -> Endorsement:
    """The endorsement's row, locked ``FOR UPDATE`` and re-read, or 404."""
    return await get_or_404(
        session, Endorsement, endorsement_id, lock=True, missing=queries.NO_ENDORSEMENT
    )


async def lock_geder_then_endorsement(
    session: AsyncSession, endorsement: Endorsement
) -> tuple[User | None, Endorsement]:
    """Lock the endorsement's GeDer, then the endorsement (the one order); both re-read."""
    geder = await lock_user(session, endorsement.geder_id)
    return geder, await lock_endorsement(session, endorsement.id)


async def rights_for_update(session: AsyncSession, geder_id: uuid.UUID) -> EndorsementRights:
    """The GeDer's rights row, made with the defaults when absent (their user row is locked,
    so no other transaction makes it at the same time)."""
    rights = await session.scalar(
        select(EndorsementRights)
        .where(EndorsementRights.user_id == geder_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if rights is None:
        rights = EndorsementRights(user_id=geder_id, endorsement_limit=DEFAULT_LIMIT)
        session.add(rights)
        await session.flush()
    return rights


# --- revoking -------------------------------------------------------------------------------


async def unendorse(
    session: AsyncSession,
    endorsement: Endorsement,
    *,
    actor_id: uuid.UUID | None,
    reason: str,
) -> User | None:
    """Revoke an approved endorsement (its GeDer and the endorsement already locked): the
    supporter goes back to ``unverified``, leaves their ateuli through the units service (so
    counts, status and the atistavi's term stay right) and loses every seat. Votes stay.
    Audited; the caller tells the people (:func:`tell_revoked`). Returns the supporter, or
    None when their row is gone."""
    now = clock.now()
    endorsement.status = EndorsementStatus.REVOKED
    endorsement.revoked_at = now
    endorsement.revoked_by_id = actor_id
    endorsement.revoke_reason = reason
    await session.flush()
    supporter = await lock_user(session, endorsement.requester_id)
    if supporter is None:
        return None
    if supporter.role is UserRole.SUPPORTER:
        supporter.role = UserRole.UNVERIFIED
        await session.flush()
    left_unit_id = await _leave_ateuli(session, supporter)
    ended = await _end_seats(session, supporter, now)
    await record(
        session,
        action="endorsements.revoked",
        entity_type="endorsement",
        entity_id=endorsement.id,
        actor_id=actor_id,
        old={"status": EndorsementStatus.APPROVED, "role": UserRole.SUPPORTER},
        new={
            "status": endorsement.status,
            "role": supporter.role,
            "reason": reason,
            "left_unit_id": left_unit_id,
            "ended_terms_unit_ids": ended,
        },
    )
    return supporter


async def _leave_ateuli(session: AsyncSession, supporter: User) -> uuid.UUID | None:
    """The supporter leaves their ateuli, if any; the unit they left."""
    membership = await unit_queries.open_membership(session, supporter.id)
    if membership is None:
        return None
    await units.leave_ateuli(session, supporter, membership.unit_id)
    return membership.unit_id


async def _end_seats(session: AsyncSession, supporter: User, now: datetime) -> list[uuid.UUID]:
    """End every leadership term the supporter still holds; the units whose seat ended.

    Seats above the ateuli (kept when a leader merely leaves, docs/units.md) end too: §3.2
    takes away any leadership. The units enum has no "revoked" reason; left_unit is the
    nearest truth (the member left the society's ranks).
    """
    ended = []
    for term in await unit_queries.open_terms_of(session, supporter.id):
        term.ended_at = now
        term.end_reason = TermEndReason.LEFT_UNIT
        ended.append(term.unit_id)
        await session.flush()
        unit = await session.get(Unit, term.unit_id)
        if unit is not None and unit.status is UnitStatus.ACTIVE:
            await units.on_leader_election_due(session, unit)
    return ended


async def tell_revoked(
    session: AsyncSession, endorsement: Endorsement, supporter: User | None, geder: User
) -> None:
    """Tell the supporter and the GeDer that the endorsement was revoked (once each)."""
    await notify_each(
        session,
        (endorsement.requester_id, endorsement.geder_id),
        NotificationType.ENDORSEMENT_REVOKED,
        {
            "supporter_name": supporter.display_name if supporter else "Member",
            "geder_name": geder.display_name,
            "reason": endorsement.revoke_reason or "",
            "endorsement_id": endorsement.id,
        },
        dedupe_key=f"endorsement-revoked:{endorsement.id}",
    )
