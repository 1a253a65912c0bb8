"""Reading arbitration cases: who sees what, the lists, one case, its decisions (DESIGN.md §3.7).

Every read that a request or a rule makes of cases goes through here; the rules (service.py,
seating.py) change them, the router shapes them (presenters.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from polis.arbitration.models import ArbitrationCase, ArbitrationDecision, CaseStatus, CaseType
from polis.kit.db import get_or_404
from polis.kit.errors import NotFound
from polis.kit.pagination import Page, PageParams, paginate
from polis.units.models import LeadershipTerm, Unit, UnitLevel, UnitMembership
from polis.users.models import User

NO_CASE = "No such case."


async def get_case(
    session: AsyncSession, case_id: uuid.UUID, *, lock: bool = False
) -> ArbitrationCase:
    """The case ``case_id`` (locked and re-read with ``lock``), or 404."""
    return await get_or_404(session, ArbitrationCase, case_id, lock=lock, missing=NO_CASE)


async def decisions_of(
    session: AsyncSession, case_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[ArbitrationDecision]]:
    """The decisions of each case, oldest round first (one query)."""
    out: dict[uuid.UUID, list[ArbitrationDecision]] = {case_id: [] for case_id in case_ids}
    if not case_ids:
        return out
    rows = await session.scalars(
        select(ArbitrationDecision)
        .where(ArbitrationDecision.case_id.in_(case_ids))
        .order_by(ArbitrationDecision.case_id, ArbitrationDecision.round)
    )
    for decision in rows:
        out[decision.case_id].append(decision)
    return out


async def current_decision(session: AsyncSession, case: ArbitrationCase) -> ArbitrationDecision:
    """The decision of the case's current round (the case is resolved)."""
    decision = await session.scalar(
        select(ArbitrationDecision).where(
            ArbitrationDecision.case_id == case.id,
            ArbitrationDecision.round == case.appeal_count + 1,
        )
    )
    assert decision is not None
    return decision


async def led_unit_ids(session: AsyncSession, user_id: uuid.UUID) -> list[uuid.UUID]:
    """The units ``user_id`` leads now."""
    rows = await session.scalars(
        select(LeadershipTerm.unit_id).where(
            LeadershipTerm.user_id == user_id, LeadershipTerm.ended_at.is_(None)
        )
    )
    return list(rows.all())


async def _ateulis_under(session: AsyncSession, unit_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Every ateuli at or under ``unit_ids`` (at most three levels down)."""
    found: set[uuid.UUID] = set()
    frontier = list(unit_ids)
    for _ in range(len(UnitLevel)):
        if not frontier:
            break
        rows = await session.execute(
            select(Unit.id, Unit.level).where(
                or_(Unit.id.in_(frontier), Unit.parent_id.in_(frontier))
            )
        )
        next_frontier = []
        for unit_id, level in rows:
            if level is UnitLevel.ATEULI:
                found.add(unit_id)
            elif unit_id not in frontier:
                next_frontier.append(unit_id)
        frontier = next_frontier
    return found


def _members_of(ateuli_ids: set[uuid.UUID]) -> Select[Any]:
    return select(UnitMembership.user_id).where(
        UnitMembership.unit_id.in_(ateuli_ids), UnitMembership.left_at.is_(None)
    )


async def _visible_to(session: AsyncSession, user: User) -> Select[Any]:
    """The cases ``user`` may see: their own (as a party or the arbitrator), those whose
    parties are now in ateulis under a unit they lead, and every case for an admin."""
    statement = select(ArbitrationCase)
    if user.is_admin:
        return statement
    conditions = [
        ArbitrationCase.plaintiff_id == user.id,
        ArbitrationCase.defendant_id == user.id,
        ArbitrationCase.arbitrator_id == user.id,
    ]
    led = await led_unit_ids(session, user.id)
    if led:
        members = _members_of(await _ateulis_under(session, led))
        conditions += [
            ArbitrationCase.plaintiff_id.in_(members),
            ArbitrationCase.defendant_id.in_(members),
        ]
    return statement.where(or_(*conditions))


async def visible_case(session: AsyncSession, user: User, case_id: uuid.UUID) -> ArbitrationCase:
    """The case, if ``user`` may see it; 404 otherwise (a foreign case is not found)."""
    statement = (await _visible_to(session, user)).where(ArbitrationCase.id == case_id)
    case: ArbitrationCase | None = await session.scalar(statement)
    if case is None:
        raise NotFound(NO_CASE)
    return case


async def visible_and_locked(
    session: AsyncSession, user: User, case_id: uuid.UUID
) -> ArbitrationCase:
    """The case ``user`` may see (404 otherwise), its row locked and re-read."""
    await visible_case(session, user, case_id)
    return await get_case(session, case_id, lock=True)


@dataclass(frozen=True)
class CaseFilters:
    status: CaseStatus | None = None
    type: CaseType | None = None
    # "mine": as a party; "assigned": as the arbitrator; None: everything I may see.
    scope: str | None = None


async def list_cases(
    session: AsyncSession, user: User, filters: CaseFilters, params: PageParams
) -> Page:
    """One page of the cases ``user`` may see (newest first by default)."""
    if filters.scope == "mine":
        statement = select(ArbitrationCase).where(
            or_(ArbitrationCase.plaintiff_id == user.id, ArbitrationCase.defendant_id == user.id)
        )
    elif filters.scope == "assigned":
        statement = select(ArbitrationCase).where(ArbitrationCase.arbitrator_id == user.id)
    else:
        statement = await _visible_to(session, user)
    if filters.status is not None:
        statement = statement.where(ArbitrationCase.status == filters.status)
    if filters.type is not None:
        statement = statement.where(ArbitrationCase.type == filters.type)
    return await paginate(
        session,
        statement,
        params,
        sortable={"created_at": ArbitrationCase.created_at, "number": ArbitrationCase.number},
        default_sort="created_at",
    )


async def waiting_cases(session: AsyncSession, *, limit: int) -> list[ArbitrationCase]:
    """Up to ``limit`` open cases without an arbitrator, oldest first, their rows locked
    ``SKIP LOCKED`` (a row another transaction holds is left for the next run)."""
    rows = await session.scalars(
        select(ArbitrationCase)
        .where(
            ArbitrationCase.arbitrator_id.is_(None),
            ArbitrationCase.status.in_([CaseStatus.PENDING, CaseStatus.APPEALED]),
        )
        .order_by(ArbitrationCase.created_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(rows.all())
