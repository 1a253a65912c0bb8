"""How the arbitration API shows cases and their decisions: rows in, response schemas out."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from polis.arbitration import queries
from polis.arbitration.models import ArbitrationCase, CaseStatus
from polis.arbitration.schemas import CaseOut, DecisionOut
from polis.arbitration.service import appeal_deadline
from polis.kit import clock
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
            CaseOut(
                id=case.id,
                number=case.number,
                type=case.type,
                status=case.status,
                title=case.title,
                description=case.description,
                plaintiff=person_ref(people, case.plaintiff_id),
                defendant=person_ref(people, case.defendant_id),
                arbitrator=person_ref(people, case.arbitrator_id),
                level=case.level,
                unit_id=case.unit_id,
                min_level=case.min_level,
                endorsement_id=case.endorsement_id,
                resolution=case.resolution,
                fraud_confirmed=case.fraud_confirmed,
                resolved_at=case.resolved_at,
                appeal_deadline=deadline,
                appealable=case.status is CaseStatus.RESOLVED
                and case.level not in (None, UnitLevel.ATASEULI)
                and deadline is not None
                and now <= deadline,
                appeal_count=case.appeal_count,
                decisions=[
                    DecisionOut(
                        round=d.round,
                        arbitrator=person_ref(people, d.arbitrator_id),
                        level=d.level,
                        unit_id=d.unit_id,
                        resolution=d.resolution,
                        fraud_confirmed=d.fraud_confirmed,
                        decided_at=d.decided_at,
                        appealed_at=d.appealed_at,
                        appealed_by_id=d.appealed_by_id,
                        appeal_reason=d.appeal_reason,
                    )
                    for d in decisions[case.id]
                ],
                created_at=case.created_at,
                updated_at=case.updated_at,
            )
        )
    return out


async def case_out(session: AsyncSession, case: ArbitrationCase) -> CaseOut:
    return (await cases_out(session, [case]))[0]
