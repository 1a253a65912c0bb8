"""HTTP for endorsements: ``/endorsements`` and the admin's ``/admin/geders/…`` routes."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Query
from sqlalchemy.ext.asyncio import AsyncSession

from polis.auth.deps import AdminUser, AuthenticatedUser, GederUser, OnboardedUser
from polis.endorsements import presenters, queries, service
from polis.endorsements.schemas import (
    AvailableGederOut,
    EndorsementOut,
    GederRightsOut,
    LimitIn,
    MyStatusOut,
    ReasonIn,
    RequestIn,
    SupporterOut,
)
from polis.kit.deps import DbSession
from polis.kit.envelope import Envelope, ListEnvelope, ok
from polis.kit.errors import ErrorCode
from polis.kit.idempotency import IdempotencyKey
from polis.kit.pagination import Page, PageParams, Pagination, paginated
from polis.kit.routing import DomainRouter, errors

router = DomainRouter(prefix="/endorsements", tags=["endorsements"])
admin_router = DomainRouter(prefix="/admin", tags=["admin"])


async def _endorsements(
    session: AsyncSession, page: Page, params: PageParams
) -> ListEnvelope[EndorsementOut]:
    return paginated(await presenters.endorsements_out(session, page.items), page.total, params)


@router.get(
    "/available-geders",
    response_model=ListEnvelope[AvailableGederOut],
    summary="GeDers who could vouch for me now",
)
async def available_geders(
    user: OnboardedUser,
    session: DbSession,
    params: Pagination,
    territory_id: Annotated[
        uuid.UUID | None, Query(description="default: my own electoral district")
    ] = None,
    search: Annotated[str | None, Query(max_length=100, description="part of a name")] = None,
) -> ListEnvelope[AvailableGederOut]:
    slots, total = await queries.available_geders(
        session, user, params, territory_id=territory_id, search=search
    )
    return paginated(presenters.available_geders_out(slots), total, params)


@router.post(
    "/request",
    response_model=Envelope[EndorsementOut],
    status_code=201,
    summary="Ask a GeDer to vouch for me",
)
@errors(
    ErrorCode.INSUFFICIENT_PERMISSIONS,
    ErrorCode.ENDORSEMENT_LIMIT_REACHED,
    ErrorCode.CANNOT_ENDORSE_SELF,
    ErrorCode.DIASPORA_EXCLUDED,
    ErrorCode.DIFFERENT_DISTRICT,
    ErrorCode.ENDORSEMENT_REQUEST_PENDING,
    ErrorCode.ENDORSEMENT_SUSPENDED,
    ErrorCode.NOT_FOUND,
)
async def request_endorsement(
    body: RequestIn, user: OnboardedUser, session: DbSession, _: IdempotencyKey
) -> Envelope[EndorsementOut]:
    endorsement = await service.request_endorsement(
        session, user, geder_id=body.geder_id, message=body.message
    )
    return ok(await presenters.endorsement_out(session, endorsement))


@router.get("/my-requests", response_model=ListEnvelope[EndorsementOut], summary="Requests I made")
async def my_requests(
    user: OnboardedUser, session: DbSession, params: Pagination
) -> ListEnvelope[EndorsementOut]:
    return await _endorsements(session, await queries.my_requests(session, user, params), params)


@router.get(
    "/pending-approvals",
    response_model=ListEnvelope[EndorsementOut],
    summary="Requests waiting for my answer",
)
async def pending_approvals(
    geder: GederUser, session: DbSession, params: Pagination
) -> ListEnvelope[EndorsementOut]:
    page = await queries.pending_approvals(session, geder, params)
    return await _endorsements(session, page, params)


@router.get(
    "/my-supporters", response_model=ListEnvelope[SupporterOut], summary="Members I vouch for"
)
async def my_supporters(
    geder: GederUser, session: DbSession, params: Pagination
) -> ListEnvelope[SupporterOut]:
    page = await queries.my_supporters(session, geder, params)
    return paginated(await presenters.supporters_out(session, page.items), page.total, params)


@router.get(
    "/my-status",
    response_model=Envelope[MyStatusOut],
    summary="My endorsement limit, slots, suspension and tavdebi",
)
async def my_status(user: AuthenticatedUser, session: DbSession) -> Envelope[MyStatusOut]:
    return ok(await presenters.my_status_out(session, user))


@router.post(
    "/{endorsement_id}/approve",
    response_model=Envelope[EndorsementOut],
    summary="Vouch for the requester",
)
@errors(
    ErrorCode.ENDORSEMENT_LIMIT_REACHED,
    ErrorCode.ENDORSEMENT_SUSPENDED,
    ErrorCode.ENDORSEMENT_NOT_PENDING,
    ErrorCode.NOT_FOUND,
)
async def approve(
    endorsement_id: uuid.UUID, geder: GederUser, session: DbSession
) -> Envelope[EndorsementOut]:
    endorsement = await service.approve(session, geder, endorsement_id)
    return ok(await presenters.endorsement_out(session, endorsement))


@router.post(
    "/{endorsement_id}/reject",
    response_model=Envelope[EndorsementOut],
    summary="Decline a request, with a reason",
)
async def reject(
    endorsement_id: uuid.UUID, body: ReasonIn, geder: GederUser, session: DbSession
) -> Envelope[EndorsementOut]:
    endorsement = await service.reject(session, geder, endorsement_id, body.reason)
    return ok(await presenters.endorsement_out(session, endorsement))


@router.post(
    "/{endorsement_id}/revoke",
    response_model=Envelope[EndorsementOut],
    summary="Take back an endorsement (its GeDer or an admin)",
)
@errors(ErrorCode.INSUFFICIENT_PERMISSIONS, ErrorCode.ENDORSEMENT_NOT_PENDING, ErrorCode.NOT_FOUND)
async def revoke(
    endorsement_id: uuid.UUID, body: ReasonIn, actor: AuthenticatedUser, session: DbSession
) -> Envelope[EndorsementOut]:
    endorsement = await service.revoke(session, actor, endorsement_id, body.reason)
    return ok(await presenters.endorsement_out(session, endorsement))


# --- admin ----------------------------------------------------------------------------------


@admin_router.patch(
    "/geders/{geder_id}/endorsement-limit",
    response_model=Envelope[GederRightsOut],
    summary="Set a GeDer's endorsement limit (5 to 10)",
)
@errors(ErrorCode.OUT_OF_RANGE, ErrorCode.NOT_FOUND)
async def set_endorsement_limit(
    geder_id: uuid.UUID, body: LimitIn, admin: AdminUser, session: DbSession
) -> Envelope[GederRightsOut]:
    await service.set_limit(session, admin, geder_id, body.limit)
    return ok(await presenters.rights_out(session, geder_id))


@admin_router.post(
    "/geders/{geder_id}/lift-suspension",
    response_model=Envelope[GederRightsOut],
    summary="Restore a GeDer's right to endorse",
)
@errors(ErrorCode.NOT_FOUND)
async def lift_suspension(
    geder_id: uuid.UUID, admin: AdminUser, session: DbSession
) -> Envelope[GederRightsOut]:
    await service.lift_suspension(session, admin, geder_id)
    return ok(await presenters.rights_out(session, geder_id))
