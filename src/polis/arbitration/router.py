"""HTTP for arbitration: ``/arbitration`` (DESIGN.md §3.7). Thin: the rules are in service.py."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from polis.arbitration import service
from polis.arbitration.models import ArbitrationCase, CaseStatus, CaseType
from polis.arbitration.schemas import (
    AppealIn,
    AssignIn,
    CaseOut,
    DecisionOut,
    FileCaseIn,
    ResolveIn,
)
from polis.auth.deps import AuthenticatedUser, VerifiedUser
from polis.kit import clock
from polis.kit.deps import DbSession, SettingsDep
from polis.kit.envelope import Envelope, ListEnvelope, ok
from polis.kit.pagination import PageParams, Pagination, paginated
from polis.kit.routing import DomainRouter
from polis.units.models import UnitLevel
from polis.users import service as users_service
from polis.users.models import User
from polis.users.presenters import person_ref

router = DomainRouter(prefix="/arbitration", tags=["arbitration"])


async def cases_out(session: AsyncSession, cases: Sequence[ArbitrationCase]) -> list[CaseOut]:
    decisions = await service.decisions_of(session, [case.id for case in cases])
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
        deadline = service.appeal_deadline(case)
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


async def _listed(
    session: AsyncSession, user: User, filters: service.CaseFilters, params: PageParams
) -> ListEnvelope[CaseOut]:
    page = await service.list_cases(session, user, filters, params)
    return paginated(await cases_out(session, page.items), page.total, params)


@router.post("/cases", response_model=Envelope[CaseOut], status_code=201, summary="File a case")
async def file_case(body: FileCaseIn, user: VerifiedUser, session: DbSession) -> Envelope[CaseOut]:
    case = await service.file_case(
        session,
        user,
        defendant_id=body.defendant_id,
        title=body.title,
        description=body.description,
        type=body.type,
        supporter_id=body.supporter_id,
    )
    return ok(await case_out(session, case))


@router.get("/cases", response_model=ListEnvelope[CaseOut], summary="The cases I may see")
async def list_cases(
    user: AuthenticatedUser,
    session: DbSession,
    params: Pagination,
    status: CaseStatus | None = None,
    type: CaseType | None = None,
) -> ListEnvelope[CaseOut]:
    return await _listed(session, user, service.CaseFilters(status=status, type=type), params)


@router.get("/cases/{case_id}", response_model=Envelope[CaseOut], summary="A case")
async def get_case(
    case_id: uuid.UUID, user: AuthenticatedUser, session: DbSession
) -> Envelope[CaseOut]:
    return ok(await case_out(session, await service.visible_case(session, user, case_id)))


@router.post("/cases/{case_id}/assign", response_model=Envelope[CaseOut], summary="Reassign a case")
async def assign_case(
    case_id: uuid.UUID, body: AssignIn, user: AuthenticatedUser, session: DbSession
) -> Envelope[CaseOut]:
    case = await service.assign(session, user, case_id, body.arbitrator_id)
    return ok(await case_out(session, case))


@router.post("/cases/{case_id}/start", response_model=Envelope[CaseOut], summary="Take a case up")
async def start_case(
    case_id: uuid.UUID, user: AuthenticatedUser, session: DbSession
) -> Envelope[CaseOut]:
    return ok(await case_out(session, await service.start(session, user, case_id)))


@router.post("/cases/{case_id}/resolve", response_model=Envelope[CaseOut], summary="Decide")
async def resolve_case(
    case_id: uuid.UUID,
    body: ResolveIn,
    user: AuthenticatedUser,
    session: DbSession,
    settings: SettingsDep,
) -> Envelope[CaseOut]:
    case = await service.resolve(
        session,
        settings,
        user,
        case_id,
        resolution=body.resolution,
        fraud_confirmed=body.fraud_confirmed,
    )
    return ok(await case_out(session, case))


@router.post("/cases/{case_id}/appeal", response_model=Envelope[CaseOut], summary="Appeal")
async def appeal_case(
    case_id: uuid.UUID, body: AppealIn, user: AuthenticatedUser, session: DbSession
) -> Envelope[CaseOut]:
    case = await service.appeal(session, user, case_id, reason=body.reason)
    return ok(await case_out(session, case))


@router.get("/my-cases", response_model=ListEnvelope[CaseOut], summary="My cases as a party")
async def my_cases(
    user: AuthenticatedUser,
    session: DbSession,
    params: Pagination,
    status: CaseStatus | None = None,
) -> ListEnvelope[CaseOut]:
    return await _listed(session, user, service.CaseFilters(status=status, scope="mine"), params)


@router.get("/assigned-to-me", response_model=ListEnvelope[CaseOut], summary="Cases I arbitrate")
async def assigned_to_me(
    user: AuthenticatedUser,
    session: DbSession,
    params: Pagination,
    status: CaseStatus | None = None,
) -> ListEnvelope[CaseOut]:
    return await _listed(
        session, user, service.CaseFilters(status=status, scope="assigned"), params
    )
