"""Who arbitrates a case, and who hears of it: the base of the arbitration rules (flush only).

Walk up the units that hold both parties' ateulis from the round's minimum level and take the
first sitting leader who is neither a party nor a party's guarantor; failing that, an admin who
is neither; failing that, nobody (service.py describes the whole). service.py builds on this
module; it does not import service.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from polis.arbitration import queries
from polis.arbitration.models import ArbitrationCase
from polis.audit.transitions import Tell
from polis.endorsements import queries as endorsements
from polis.gamification.service import LEVELS
from polis.notifications.models import NotificationType
from polis.units.models import LeadershipTerm, Unit, UnitLevel
from polis.units.queries import open_membership, path_up
from polis.users.models import User


def level_rank(level: UnitLevel) -> int:
    return LEVELS.index(level)


async def _guarantors(session: AsyncSession, user_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    found = {await endorsements.guarantor_of(session, user_id) for user_id in user_ids}
    return {guarantor for guarantor in found if guarantor is not None}


async def _chain_ids(session: AsyncSession, user_id: uuid.UUID) -> list[Unit]:
    membership = await open_membership(session, user_id)
    if membership is None:
        return []
    ateuli = await session.get_one(Unit, membership.unit_id)
    return await path_up(session, ateuli)


async def common_units(
    session: AsyncSession, case: ArbitrationCase, min_level: UnitLevel
) -> list[Unit]:
    """The units that hold both parties' ateulis, at ``min_level`` or higher, bottom up."""
    plaintiff_chain = await _chain_ids(session, case.plaintiff_id)
    defendant_ids = {unit.id for unit in await _chain_ids(session, case.defendant_id)}
    return [
        unit
        for unit in plaintiff_chain
        if unit.id in defendant_ids and level_rank(unit.level) >= level_rank(min_level)
    ]


@dataclass(frozen=True)
class Seat:
    """Where an arbitrator sits: a unit they lead, or ``unit is None`` for an admin."""

    arbitrator: User
    unit: Unit | None


async def _excluded(session: AsyncSession, case: ArbitrationCase) -> set[uuid.UUID]:
    # Never a party, never a party's guarantor (§3.7).
    parties = [case.plaintiff_id, case.defendant_id]
    return set(parties) | await _guarantors(session, parties)


async def _admin_seat(session: AsyncSession, excluded: set[uuid.UUID]) -> Seat | None:
    # The longest-standing admin: deterministic, and easy to explain to the admins.
    admin = await session.scalar(
        select(User)
        .where(User.is_admin.is_(True), User.deleted_at.is_(None), User.id.not_in(excluded))
        .order_by(User.created_at, User.id)
        .limit(1)
    )
    return Seat(admin, None) if admin is not None else None


async def find_arbitrator(
    session: AsyncSession, case: ArbitrationCase, min_level: UnitLevel
) -> Seat | None:
    """The lowest eligible leader at ``min_level`` or above, else an admin, else None."""
    excluded = await _excluded(session, case)
    for unit in await common_units(session, case, min_level):
        term = await session.scalar(
            select(LeadershipTerm).where(
                LeadershipTerm.unit_id == unit.id, LeadershipTerm.ended_at.is_(None)
            )
        )
        if term is not None and term.user_id not in excluded:
            leader = await session.get_one(User, term.user_id)
            if not leader.is_deleted:
                return Seat(leader, unit)
    return await _admin_seat(session, excluded)


async def seat_of(session: AsyncSession, case: ArbitrationCase, candidate: User) -> Seat | None:
    """Where ``candidate`` could arbitrate the current round, or None when they may not.

    A leader of a unit holding both parties at the round's minimum level or above (the lowest
    such unit); otherwise an admin. Never a party or a party's guarantor.
    """
    if candidate.is_deleted or candidate.id in await _excluded(session, case):
        return None
    led = set(await queries.led_unit_ids(session, candidate.id))
    for unit in await common_units(session, case, case.min_level):
        if unit.id in led:
            return Seat(candidate, unit)
    return Seat(candidate, None) if candidate.is_admin else None


async def may_reassign(session: AsyncSession, actor: User, case: ArbitrationCase) -> bool:
    """An admin, or a leader of a unit holding both parties above the current arbitrator's
    level (at the round's minimum level or above when there is no leader-arbitrator). An
    admin-arbitrator is replaced only by admins."""
    if actor.is_admin:
        return True
    if case.arbitrator_id is not None and case.level is None:
        return False
    led = set(await queries.led_unit_ids(session, actor.id))
    for unit in await common_units(session, case, case.min_level):
        above = case.level is None or level_rank(unit.level) > level_rank(case.level)
        if unit.id in led and above:
            return True
    return False


# --- who hears of it -----------------------------------------------------------------------


def tell(
    case: ArbitrationCase,
    kind: NotificationType,
    event: str,
    user_ids: Sequence[uuid.UUID | None],
) -> Tell:
    """The notification ``kind`` of ``case`` for ``user_ids``: one per case, per round and per
    step (``event``), so a retried request tells nobody twice."""
    return Tell(
        kind,
        user_ids,
        dedupe_key=f"arbitration:{case.id}:{case.appeal_count}:{event}:{kind.value}",
        params={"case_number": case.number, "case_id": case.id},
    )


def parties(case: ArbitrationCase) -> list[uuid.UUID | None]:
    return [case.plaintiff_id, case.defendant_id]


async def place(
    session: AsyncSession, case: ArbitrationCase, seat: Seat | None, event: str
) -> list[Tell]:
    """Give the case to ``seat`` (or to nobody); returns who must hear of it (the parties and
    the arbitrator, or the admins), for the caller's transition."""
    if seat is None:
        case.arbitrator_id, case.unit_id, case.level = None, None, None
        admins = await session.scalars(
            select(User.id).where(User.is_admin.is_(True), User.deleted_at.is_(None))
        )
        return [tell(case, NotificationType.ARBITRATION_CASE_UNASSIGNED, event, list(admins.all()))]
    case.arbitrator_id = seat.arbitrator.id
    case.unit_id = seat.unit.id if seat.unit else None
    case.level = seat.unit.level if seat.unit else None
    return [
        tell(case, NotificationType.ARBITRATION_CASE_ASSIGNED, event, parties(case)),
        tell(case, NotificationType.ARBITRATION_CASE_TO_ARBITRATE, event, [seat.arbitrator.id]),
    ]


def seat_values(case: ArbitrationCase) -> dict[str, object]:
    return {
        "status": case.status,
        "arbitrator_id": case.arbitrator_id,
        "unit_id": case.unit_id,
        "level": case.level,
    }
