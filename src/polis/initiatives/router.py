"""HTTP for initiatives: ``/initiatives`` (DESIGN.md §3.6). Thin: it parses, calls the rules
(service.py) or the reads (queries.py), and shapes the answer (presenters.py)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Query
from sqlalchemy.ext.asyncio import AsyncSession

from polis.auth.deps import AuthenticatedUser, VerifiedUser
from polis.initiatives import queries, service
from polis.initiatives.models import InitiativeCategory, InitiativeScope, InitiativeStatus
from polis.initiatives.presenters import initiative_out, initiatives_out, supporters_out
from polis.initiatives.schemas import (
    AssignIn,
    CompleteIn,
    InitiativeIn,
    InitiativeOut,
    InitiativePatchIn,
    RejectIn,
    SupporterOut,
    SupportIn,
    Text,
)
from polis.kit.deps import DbSession, SettingsDep
from polis.kit.envelope import Envelope, ListEnvelope, ok
from polis.kit.errors import ErrorCode
from polis.kit.idempotency import IdempotencyKey
from polis.kit.pagination import PageParams, Pagination, paginated
from polis.kit.ratelimit import rate_limit
from polis.kit.routing import DomainRouter, errors
from polis.users.models import User

router = DomainRouter(prefix="/initiatives", tags=["initiatives"])

# POLIS_RATE_LIMIT_INITIATIVES (5 a day per member by default), counted per member.
InitiativesRateLimit = Annotated[None, Depends(rate_limit("rate_limit_initiatives"))]


async def _filters(
    category: Annotated[InitiativeCategory | None, Query()] = None,
    status: Annotated[InitiativeStatus | None, Query()] = None,
    scope_type: Annotated[InitiativeScope | None, Query()] = None,
    scope_id: Annotated[uuid.UUID | None, Query()] = None,
    search: Annotated[
        Text | None, Query(max_length=100, description="part of the title or description")
    ] = None,
    created_after: Annotated[datetime | None, Query()] = None,
    created_before: Annotated[datetime | None, Query()] = None,
) -> queries.InitiativeFilters:
    return queries.InitiativeFilters(
        category=category,
        status=status,
        scope_type=scope_type,
        scope_id=scope_id,
        search=search,
        created_after=created_after,
        created_before=created_before,
    )


Filters = Annotated[queries.InitiativeFilters, Depends(_filters)]


async def _listed(
    session: AsyncSession,
    user: User,
    filters: queries.InitiativeFilters,
    params: PageParams,
    **whose: uuid.UUID,
) -> ListEnvelope[InitiativeOut]:
    """One page of ``list_initiatives`` (``whose``: creator_id or assignee_id), as ``user``
    sees it."""
    page = await queries.list_initiatives(session, user, filters, params, **whose)
    return paginated(await initiatives_out(session, user, page.items), page.total, params)


@router.post(
    "",
    response_model=Envelope[InitiativeOut],
    status_code=201,
    summary="Start an initiative for a scope I belong to",
)
@errors(ErrorCode.INITIATIVE_NOT_IN_SCOPE, ErrorCode.INITIATIVE_TARGET_TOO_LOW, ErrorCode.NOT_FOUND)
async def create_initiative(
    body: InitiativeIn,
    user: VerifiedUser,
    session: DbSession,
    settings: SettingsDep,
    _: IdempotencyKey,
    __: InitiativesRateLimit,
) -> Envelope[InitiativeOut]:
    # InitiativeIn's fields are create_initiative's keywords, one for one.
    initiative = await service.create_initiative(session, settings, user, **body.model_dump())
    return ok(await initiative_out(session, user, initiative))


@router.get(
    "",
    response_model=ListEnvelope[InitiativeOut],
    summary="Initiatives (others' drafts are never shown)",
)
async def list_initiatives(
    user: AuthenticatedUser, session: DbSession, params: Pagination, filters: Filters
) -> ListEnvelope[InitiativeOut]:
    return await _listed(session, user, filters, params)


@router.get(
    "/my-initiatives",
    response_model=ListEnvelope[InitiativeOut],
    summary="Initiatives I started, drafts included",
)
async def my_initiatives(
    user: AuthenticatedUser, session: DbSession, params: Pagination, filters: Filters
) -> ListEnvelope[InitiativeOut]:
    return await _listed(session, user, filters, params, creator_id=user.id)


@router.get(
    "/assigned-to-me",
    response_model=ListEnvelope[InitiativeOut],
    summary="Initiatives I must answer (or answered)",
)
async def assigned_to_me(
    user: AuthenticatedUser, session: DbSession, params: Pagination, filters: Filters
) -> ListEnvelope[InitiativeOut]:
    return await _listed(session, user, filters, params, assignee_id=user.id)


@router.get("/{initiative_id}", response_model=Envelope[InitiativeOut], summary="One initiative")
@errors(ErrorCode.NOT_FOUND)
async def get_initiative(
    initiative_id: uuid.UUID, user: AuthenticatedUser, session: DbSession
) -> Envelope[InitiativeOut]:
    initiative = await queries.visible_initiative(session, user, initiative_id)
    return ok(await initiative_out(session, user, initiative))


@router.patch(
    "/{initiative_id}",
    response_model=Envelope[InitiativeOut],
    summary="Edit my initiative (while a draft or before any support)",
)
@errors(
    ErrorCode.INSUFFICIENT_PERMISSIONS,
    ErrorCode.INITIATIVE_TARGET_TOO_LOW,
    ErrorCode.INITIATIVE_LOCKED,
    ErrorCode.NOT_FOUND,
)
async def update_initiative(
    initiative_id: uuid.UUID,
    body: InitiativePatchIn,
    user: AuthenticatedUser,
    session: DbSession,
    settings: SettingsDep,
) -> Envelope[InitiativeOut]:
    initiative = await service.update_initiative(
        session,
        settings,
        user,
        initiative_id,
        service.InitiativeChanges(**body.model_dump()),
    )
    return ok(await initiative_out(session, user, initiative))


@router.post(
    "/{initiative_id}/publish",
    response_model=Envelope[InitiativeOut],
    summary="Open my draft for support",
)
@errors(
    ErrorCode.INSUFFICIENT_PERMISSIONS,
    ErrorCode.INITIATIVE_NOT_IN_SCOPE,
    ErrorCode.INITIATIVE_WRONG_STATE,
    ErrorCode.NOT_FOUND,
)
async def publish(
    initiative_id: uuid.UUID, user: VerifiedUser, session: DbSession
) -> Envelope[InitiativeOut]:
    initiative = await service.publish(session, user, initiative_id)
    return ok(await initiative_out(session, user, initiative))


@router.post(
    "/{initiative_id}/support",
    response_model=Envelope[InitiativeOut],
    summary="Support an initiative of my scope",
)
@errors(
    ErrorCode.INITIATIVE_NOT_IN_SCOPE,
    ErrorCode.INITIATIVE_WRONG_STATE,
    ErrorCode.ALREADY_SUPPORTED,
    ErrorCode.NOT_FOUND,
)
async def support(
    initiative_id: uuid.UUID,
    user: VerifiedUser,
    session: DbSession,
    settings: SettingsDep,
    body: SupportIn | None = None,
) -> Envelope[InitiativeOut]:
    # The body is optional: supporting needs no words (no comment, not shown by name).
    choice = body or SupportIn()
    initiative = await service.support(
        session, settings, user, initiative_id, comment=choice.comment, public=choice.public
    )
    return ok(await initiative_out(session, user, initiative))


@router.delete(
    "/{initiative_id}/support",
    response_model=Envelope[InitiativeOut],
    summary="Withdraw my support while the initiative is active",
)
@errors(ErrorCode.INITIATIVE_WRONG_STATE, ErrorCode.NOT_SUPPORTED)
async def withdraw(
    initiative_id: uuid.UUID, user: AuthenticatedUser, session: DbSession
) -> Envelope[InitiativeOut]:
    initiative = await service.withdraw(session, user, initiative_id)
    return ok(await initiative_out(session, user, initiative))


@router.get(
    "/{initiative_id}/supporters",
    response_model=ListEnvelope[SupporterOut],
    summary="Supporters who chose to be shown (the count is current_support)",
)
@errors(ErrorCode.NOT_FOUND)
async def supporters(
    initiative_id: uuid.UUID, user: AuthenticatedUser, session: DbSession, params: Pagination
) -> ListEnvelope[SupporterOut]:
    page = await queries.supporters(session, user, initiative_id, params)
    return paginated(await supporters_out(session, page.items), page.total, params)


@router.post(
    "/{initiative_id}/assign",
    response_model=Envelope[InitiativeOut],
    summary="Hand the initiative to another leader or an admin (admins, higher leaders)",
)
@errors(
    ErrorCode.INSUFFICIENT_PERMISSIONS,
    ErrorCode.INITIATIVE_WRONG_STATE,
    ErrorCode.ASSIGNEE_NOT_ELIGIBLE,
    ErrorCode.NOT_FOUND,
)
async def assign(
    initiative_id: uuid.UUID,
    body: AssignIn,
    user: AuthenticatedUser,
    session: DbSession,
    settings: SettingsDep,
) -> Envelope[InitiativeOut]:
    initiative = await service.assign(session, settings, user, initiative_id, body.assignee_id)
    return ok(await initiative_out(session, user, initiative))


@router.post(
    "/{initiative_id}/complete",
    response_model=Envelope[InitiativeOut],
    summary="Answer: completed, with the outcome (the assignee)",
)
@errors(ErrorCode.INSUFFICIENT_PERMISSIONS, ErrorCode.INITIATIVE_WRONG_STATE)
async def complete(
    initiative_id: uuid.UUID, body: CompleteIn, user: AuthenticatedUser, session: DbSession
) -> Envelope[InitiativeOut]:
    initiative = await service.complete(session, user, initiative_id, body.outcome)
    return ok(await initiative_out(session, user, initiative))


@router.post(
    "/{initiative_id}/reject",
    response_model=Envelope[InitiativeOut],
    summary="Answer: rejected, with the reason (the assignee)",
)
@errors(ErrorCode.INSUFFICIENT_PERMISSIONS, ErrorCode.INITIATIVE_WRONG_STATE)
async def reject(
    initiative_id: uuid.UUID, body: RejectIn, user: AuthenticatedUser, session: DbSession
) -> Envelope[InitiativeOut]:
    initiative = await service.reject(session, user, initiative_id, body.reason)
    return ok(await initiative_out(session, user, initiative))
