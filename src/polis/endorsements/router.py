"""HTTP for endorsements: ``/endorsements`` and the admin's ``/admin/geders/…`` routes."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Annotated

from fastapi import Query
from sqlalchemy.ext.asyncio import AsyncSession

from polis.auth.deps import AdminUser, AuthenticatedUser, GederUser, OnboardedUser
from polis.endorsements import queries, service
from polis.endorsements.models import Endorsement, EndorsementRights
from polis.endorsements.schemas import (
    AteuliRef,
    AvailableGederOut,
    EndorsementOut,
    GederRightsOut,
    LimitIn,
    MyStatusOut,
    ReasonIn,
    RequestIn,
    SupporterOut,
    SuspensionOut,
)
from polis.kit import clock
from polis.kit.deps import DbSession
from polis.kit.envelope import Envelope, ListEnvelope, ok
from polis.kit.idempotency import IdempotencyKey
from polis.kit.pagination import Pagination, paginated
from polis.kit.routing import DomainRouter
from polis.users import service as users_service
from polis.users.presenters import person_ref

router = DomainRouter(prefix="/endorsements", tags=["endorsements"])
admin_router = DomainRouter(prefix="/admin", tags=["admin"])


async def endorsements_out(
    session: AsyncSession, endorsements: Sequence[Endorsement]
) -> list[EndorsementOut]:
    ids = {e.requester_id for e in endorsements} | {e.geder_id for e in endorsements}
    people = await users_service.people(session, ids)
    return [
        EndorsementOut(
            id=e.id,
            status=e.status,
            requester=person_ref(people, e.requester_id),
            geder=person_ref(people, e.geder_id),
            message=e.message,
            requested_at=e.requested_at,
            expires_at=e.expires_at,
            decided_at=e.decided_at,
            reject_reason=e.reject_reason,
            revoked_at=e.revoked_at,
            revoke_reason=e.revoke_reason,
            penalty=e.penalty,
        )
        for e in endorsements
    ]


async def endorsement_out(session: AsyncSession, endorsement: Endorsement) -> EndorsementOut:
    return (await endorsements_out(session, [endorsement]))[0]


def suspension_out(rights: EndorsementRights | None) -> SuspensionOut:
    if rights is None:
        return SuspensionOut(suspended=False, permanent=False, until=None, since=None, case_id=None)
    suspended = rights.is_suspended(clock.now())
    return SuspensionOut(
        suspended=suspended,
        permanent=rights.suspended_permanently,
        until=rights.suspended_until if suspended and not rights.suspended_permanently else None,
        since=rights.suspended_at if suspended else None,
        case_id=rights.suspension_case_id if suspended else None,
    )


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
    items = [
        AvailableGederOut(
            id=s.geder.id,
            display_name=s.geder.display_name,
            territory_id=s.geder.territory_id,
            ateuli=AteuliRef(id=s.ateuli.id, name=s.ateuli.name) if s.ateuli else None,
            available_slots=max(s.limit - s.used, 0),
            total_slots=s.limit,
            endorsement_count=s.used,
        )
        for s in slots
    ]
    return paginated(items, total, params)


@router.post(
    "/request",
    response_model=Envelope[EndorsementOut],
    status_code=201,
    summary="Ask a GeDer to vouch for me",
)
async def request_endorsement(
    body: RequestIn, user: OnboardedUser, session: DbSession, _: IdempotencyKey
) -> Envelope[EndorsementOut]:
    endorsement = await service.request_endorsement(
        session, user, geder_id=body.geder_id, message=body.message
    )
    return ok(await endorsement_out(session, endorsement))


@router.get("/my-requests", response_model=ListEnvelope[EndorsementOut], summary="Requests I made")
async def my_requests(
    user: OnboardedUser, session: DbSession, params: Pagination
) -> ListEnvelope[EndorsementOut]:
    page = await queries.my_requests(session, user, params)
    return paginated(await endorsements_out(session, page.items), page.total, params)


@router.get(
    "/pending-approvals",
    response_model=ListEnvelope[EndorsementOut],
    summary="Requests waiting for my answer",
)
async def pending_approvals(
    geder: GederUser, session: DbSession, params: Pagination
) -> ListEnvelope[EndorsementOut]:
    page = await queries.pending_approvals(session, geder, params)
    return paginated(await endorsements_out(session, page.items), page.total, params)


@router.get(
    "/my-supporters", response_model=ListEnvelope[SupporterOut], summary="Members I vouch for"
)
async def my_supporters(
    geder: GederUser, session: DbSession, params: Pagination
) -> ListEnvelope[SupporterOut]:
    page = await queries.my_supporters(session, geder, params)
    people = await users_service.people(session, {e.requester_id for e in page.items})
    items = []
    for e in page.items:
        person = people[e.requester_id]
        items.append(
            SupporterOut(
                endorsement_id=e.id,
                id=person.id,
                display_name=person.display_name,
                status=person.status,
                endorsed_at=e.decided_at,
                flagged_for_review=person.flagged_for_review_at is not None,
            )
        )
    return paginated(items, page.total, params)


@router.get(
    "/my-status",
    response_model=Envelope[MyStatusOut],
    summary="My endorsement limit, slots, suspension and tavdebi",
)
async def my_status(user: AuthenticatedUser, session: DbSession) -> Envelope[MyStatusOut]:
    rights = await queries.rights_of(session, user.id)
    limit = queries.limit_of(rights)
    used = await queries.used_slots(session, user.id)
    suspension = suspension_out(rights)
    tavdebi_id = await queries.guarantor_of(session, user.id)
    tavdebi = await users_service.people(session, [tavdebi_id])
    pending = await queries.pending_request_of(session, user.id)
    is_geder = user.role.value == "geder" and user.is_onboarded
    return ok(
        MyStatusOut(
            role=user.role,
            endorsement_limit=limit,
            used_slots=used,
            available_slots=max(limit - used, 0),
            can_endorse=is_geder and not suspension.suspended and used < limit,
            suspension=suspension,
            tavdebi=person_ref(tavdebi, tavdebi_id),
            pending_request_id=pending.id if pending else None,
        )
    )


@router.post(
    "/{endorsement_id}/approve",
    response_model=Envelope[EndorsementOut],
    summary="Vouch for the requester",
)
async def approve(
    endorsement_id: uuid.UUID, geder: GederUser, session: DbSession
) -> Envelope[EndorsementOut]:
    endorsement = await service.approve(session, geder, endorsement_id)
    return ok(await endorsement_out(session, endorsement))


@router.post(
    "/{endorsement_id}/reject",
    response_model=Envelope[EndorsementOut],
    summary="Decline a request, with a reason",
)
async def reject(
    endorsement_id: uuid.UUID, body: ReasonIn, geder: GederUser, session: DbSession
) -> Envelope[EndorsementOut]:
    endorsement = await service.reject(session, geder, endorsement_id, body.reason)
    return ok(await endorsement_out(session, endorsement))


@router.post(
    "/{endorsement_id}/revoke",
    response_model=Envelope[EndorsementOut],
    summary="Take back an endorsement (its GeDer or an admin)",
)
async def revoke(
    endorsement_id: uuid.UUID, body: ReasonIn, actor: AuthenticatedUser, session: DbSession
) -> Envelope[EndorsementOut]:
    endorsement = await service.revoke(session, actor, endorsement_id, body.reason)
    return ok(await endorsement_out(session, endorsement))


# --- admin ----------------------------------------------------------------------------------


async def _rights_out(session: AsyncSession, geder_id: uuid.UUID) -> GederRightsOut:
    rights = await queries.rights_of(session, geder_id)
    return GederRightsOut(
        geder_id=geder_id,
        endorsement_limit=queries.limit_of(rights),
        used_slots=await queries.used_slots(session, geder_id),
        suspension=suspension_out(rights),
    )


@admin_router.patch(
    "/geders/{geder_id}/endorsement-limit",
    response_model=Envelope[GederRightsOut],
    summary="Set a GeDer's endorsement limit (5 to 10)",
)
async def set_endorsement_limit(
    geder_id: uuid.UUID, body: LimitIn, admin: AdminUser, session: DbSession
) -> Envelope[GederRightsOut]:
    await service.set_limit(session, admin, geder_id, body.limit)
    return ok(await _rights_out(session, geder_id))


@admin_router.post(
    "/geders/{geder_id}/lift-suspension",
    response_model=Envelope[GederRightsOut],
    summary="Restore a GeDer's right to endorse",
)
async def lift_suspension(
    geder_id: uuid.UUID, admin: AdminUser, session: DbSession
) -> Envelope[GederRightsOut]:
    await service.lift_suspension(session, admin, geder_id)
    return ok(await _rights_out(session, geder_id))
