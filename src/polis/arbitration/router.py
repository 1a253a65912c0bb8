"""HTTP for arbitration: ``/arbitration`` (DESIGN.md §3.7). Thin: it parses, calls the rules
(service.py) or the reads (queries.py), and shapes through presenters.py."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from polis.arbitration import queries, service
from polis.arbitration.models import CaseStatus, CaseType
from polis.arbitration.presenters import case_out, cases_out
from polis.arbitration.schemas import (
    AppealIn,
    AssignIn,
    CaseOut,
    FileCaseIn,
    ResolveIn,
)
from polis.auth.deps import AuthenticatedUser, VerifiedUser
from polis.kit.deps import DbSession, SettingsDep
from polis.kit.envelope import Envelope, ListEnvelope, ok
from polis.kit.errors import ErrorCode
from polis.kit.pagination import PageParams, Pagination, paginated
from polis.kit.routing import DomainRouter, errors
from polis.users.models import User

router = DomainRouter(prefix="/arbitration", tags=["arbitration"])


async def _listed(
    session: AsyncSession, user: User, filters: queries.CaseFilters, params: PageParams
) -> ListEnvelope[CaseOut]:
    page = await queries.list_cases(session, user, filters, params)
    return paginated(await cases_out(session, page.items), page.total, params)


@router.post("/cases", response_model=Envelope[CaseOut], status_code=201, summary="File a case")
@errors(
    ErrorCode.ARBITRATION_LOCKED,
    ErrorCode.CANNOT_FILE_AGAINST_SELF,
    ErrorCode.NOT_THE_GUARANTOR,
    ErrorCode.NOT_FOUND,
)
async def file_case(body: FileCaseIn, user: VerifiedUser, session: DbSession) -> Envelope[CaseOut]:
    # FileCaseIn's fields are file_case's keywords, one for one.
    return ok(await case_out(session, await service.file_case(session, user, **body.model_dump())))


@router.get("/cases", response_model=ListEnvelope[CaseOut], summary="The cases I may see")
async def list_cases(
    user: AuthenticatedUser,
    session: DbSession,
    params: Pagination,
    status: CaseStatus | None = None,
    type: CaseType | None = None,
) -> ListEnvelope[CaseOut]:
    return await _listed(session, user, queries.CaseFilters(status=status, type=type), params)


@router.get("/cases/{case_id}", response_model=Envelope[CaseOut], summary="A case")
@errors(ErrorCode.NOT_FOUND)
async def get_case(
    case_id: uuid.UUID, user: AuthenticatedUser, session: DbSession
) -> Envelope[CaseOut]:
    return ok(await case_out(session, await queries.visible_case(session, user, case_id)))


@router.post("/cases/{case_id}/assign", response_model=Envelope[CaseOut], summary="Reassign a case")
@errors(
    ErrorCode.INSUFFICIENT_PERMISSIONS,
    ErrorCode.ARBITRATOR_NOT_ELIGIBLE,
    ErrorCode.CASE_WRONG_STATE,
    ErrorCode.NOT_FOUND,
)
async def assign_case(
    case_id: uuid.UUID, body: AssignIn, user: AuthenticatedUser, session: DbSession
) -> Envelope[CaseOut]:
    case = await service.assign(session, user, case_id, body.arbitrator_id)
    return ok(await case_out(session, case))


@router.post("/cases/{case_id}/start", response_model=Envelope[CaseOut], summary="Take a case up")
@errors(ErrorCode.INSUFFICIENT_PERMISSIONS, ErrorCode.CASE_WRONG_STATE)
async def start_case(
    case_id: uuid.UUID, user: AuthenticatedUser, session: DbSession
) -> Envelope[CaseOut]:
    return ok(await case_out(session, await service.start(session, user, case_id)))


@router.post("/cases/{case_id}/resolve", response_model=Envelope[CaseOut], summary="Decide")
@errors(ErrorCode.CASE_WRONG_STATE)
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
@errors(
    ErrorCode.INSUFFICIENT_PERMISSIONS,
    ErrorCode.CASE_WRONG_STATE,
    ErrorCode.APPEAL_WINDOW_CLOSED,
    ErrorCode.DECISION_FINAL,
)
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
    return await _listed(session, user, queries.CaseFilters(status=status, scope="mine"), params)


@router.get("/assigned-to-me", response_model=ListEnvelope[CaseOut], summary="Cases I arbitrate")
async def assigned_to_me(
    user: AuthenticatedUser,
    session: DbSession,
    params: Pagination,
    status: CaseStatus | None = None,
) -> ListEnvelope[CaseOut]:
    return await _listed(
        session, user, queries.CaseFilters(status=status, scope="assigned"), params
    )
