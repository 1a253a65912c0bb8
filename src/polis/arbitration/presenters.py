"""How the arbitration API shows cases and their decisions: rows in, response schemas out."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from polis.arbitration import queries
from polis.arbitration.models import ArbitrationCase, CaseStatus
from polis.arbitration.schemas import CaseOut, DecisionOut
from polis.arbitration.service import appeal_deadline
from polis.kit import clock
from polis.kit.presenting import from_row
from polis.units.models import UnitLevel
from polis.users import service as users_service
from polis.users.presenters import person_ref


async def cases_out(session: AsyncSession, cases: Sequence[ArbitrationCase]) -> list[CaseOut]:
    decisions = await queries.decisions_of(session, [case.id for case in cases])
    people_ids = {
        uid
        for case in cases
        for uid in (case.plaintiff_id, case.defendant_id, case.arbitrator_id)
        if uid is not None
    } | {d.arbitrator_id for ds in decisions.values() for d in ds if d.arbitrator_id}
    people = await users_service.people(session, people_ids)
    now = clock.now()
    out = []
    for case in cases:
        deadline = appeal_deadline(case)
        out.append(
            from_row(
                CaseOut,
                case,
                plaintiff=person_ref(people, case.plaintiff_id),
                defendant=person_ref(people, case.defendant_id),
                arbitrator=person_ref(people, case.arbitrator_id),
                appeal_deadline=deadline,
                appealable=case.status is CaseStatus.RESOLVED
                and case.level not in (None, UnitLevel.ATASEULI)
                and deadline is not None
                and now <= deadline,
                decisions=[
                    from_row(DecisionOut, d, arbitrator=person_ref(people, d.arbitrator_id))
                    for d in decisions[case.id]
                ],
            )
        )
    return out


async def case_out(session: AsyncSession, case: ArbitrationCase) -> CaseOut:
    return (await cases_out(session, [case]))[0]
