"""HTTP for SOS signals: ``/sos`` (DESIGN.md §3.5). Thin: it parses, calls the rules
(service.py, escalation.py) or the reads (queries.py), and shapes through presenters.py."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Header
from sqlalchemy.ext.asyncio import AsyncSession

from polis.auth.deps import AuthenticatedUser, VerifiedUser
from polis.kit.deps import DbSession, SettingsDep
from polis.kit.envelope import Envelope, ListEnvelope, ok
from polis.kit.errors import ErrorCode
from polis.kit.idempotency import IdempotencyKey
from polis.kit.pagination import Page, PageParams, Pagination, paginated
from polis.kit.ratelimit import rate_limit
from polis.kit.routing import DomainRouter, errors
from polis.notifications.texts import language_from_header
from polis.sos import escalation, queries, service
from polis.sos.models import SosLevel, SosPriority, SosStatus
from polis.sos.presenters import escalations_out, signal_out, signals_out
from polis.sos.schemas import (
    EscalateIn,
    EscalationOut,
    MoralFilterOut,
    ResolveIn,
    SignalIn,
    SignalOut,
    SignalPatch,
    VerifyIn,
)

router = DomainRouter(prefix="/sos", tags=["sos"])

SosRateLimit = Annotated[None, Depends(rate_limit("rate_limit_sos"))]


async def _signals(
    session: AsyncSession, page: Page, params: PageParams
) -> ListEnvelope[SignalOut]:
    return paginated(await signals_out(session, page.items), page.total, params)


@router.get(
    "/moral-filter",
    response_model=Envelope[MoralFilterOut],
    summary="The moral-filter question to answer before raising a signal",
)
async def moral_filter(
    user: AuthenticatedUser,
    settings: SettingsDep,
    accept_language: Annotated[
        str | None,
        Header(description="ka or en; the first of them named wins over the saved language"),
    ] = None,
) -> Envelope[MoralFilterOut]:
    language = language_from_header(accept_language) or user.language
    return ok(MoralFilterOut(question=service.moral_filter(settings, language), language=language))


@router.post(
    "/signals", response_model=Envelope[SignalOut], status_code=201, summary="Raise an SOS signal"
)
async def raise_signal(
    body: SignalIn,
    user: VerifiedUser,
    session: DbSession,
    settings: SettingsDep,
    _: IdempotencyKey,
    __: SosRateLimit,
) -> Envelope[SignalOut]:
    # SignalIn's fields are raise_signal's keywords, one for one.
    signal = await service.raise_signal(session, settings, user, **body.model_dump())
    return ok(await signal_out(session, signal))


@router.get("/signals", response_model=ListEnvelope[SignalOut], summary="The signals I may see")
async def list_signals(
    user: AuthenticatedUser,
    session: DbSession,
    params: Pagination,
    status: SosStatus | None = None,
    priority: SosPriority | None = None,
    current_level: SosLevel | None = None,
) -> ListEnvelope[SignalOut]:
    filters = queries.SignalFilters(status=status, priority=priority, current_level=current_level)
    return await _signals(
        session, await queries.list_signals(session, user, filters, params), params
    )


@router.get(
    "/signals/pending-verification",
    response_model=ListEnvelope[SignalOut],
    summary="Pending signals waiting for my verification",
)
async def pending_verification(
    user: AuthenticatedUser, session: DbSession, params: Pagination
) -> ListEnvelope[SignalOut]:
    return await _signals(
        session, await queries.pending_verification(session, user, params), params
    )


@router.get("/signals/{signal_id}", response_model=Envelope[SignalOut], summary="A signal")
@errors(ErrorCode.NOT_FOUND)
async def get_signal(
    signal_id: uuid.UUID, user: AuthenticatedUser, session: DbSession
) -> Envelope[SignalOut]:
    return ok(await signal_out(session, await queries.visible_signal(session, user, signal_id)))


@router.patch(
    "/signals/{signal_id}",
    response_model=Envelope[SignalOut],
    summary="Correct my signal while it is pending",
)
@errors(ErrorCode.INSUFFICIENT_PERMISSIONS, ErrorCode.SOS_WRONG_STATE, ErrorCode.NOT_FOUND)
async def update_signal(
    signal_id: uuid.UUID, body: SignalPatch, user: AuthenticatedUser, session: DbSession
) -> Envelope[SignalOut]:
    changes = body.model_dump(exclude_unset=True)
    signal = await service.update_signal(session, user, signal_id, changes)
    return ok(await signal_out(session, signal))


@router.post(
    "/signals/{signal_id}/verify",
    response_model=Envelope[SignalOut],
    summary="Mark a signal legitimate (with a priority) or not (with notes)",
)
@errors(ErrorCode.INSUFFICIENT_PERMISSIONS, ErrorCode.SOS_WRONG_STATE, ErrorCode.NOT_FOUND)
async def verify_signal(
    signal_id: uuid.UUID,
    body: VerifyIn,
    user: AuthenticatedUser,
    session: DbSession,
    settings: SettingsDep,
) -> Envelope[SignalOut]:
    signal = await service.verify(
        session,
        settings,
        user,
        signal_id,
        is_legitimate=body.is_legitimate,
        notes=body.verification_notes,
        priority=body.priority,
    )
    return ok(await signal_out(session, signal))


@router.post(
    "/signals/{signal_id}/escalate",
    response_model=Envelope[SignalOut],
    summary="Move a signal up",
)
@errors(
    ErrorCode.INSUFFICIENT_PERMISSIONS,
    ErrorCode.SOS_WRONG_STATE,
    ErrorCode.SOS_INVALID_ESCALATION,
    ErrorCode.SOS_NOT_VERIFIED,
)
async def escalate_signal(
    signal_id: uuid.UUID,
    body: EscalateIn,
    user: AuthenticatedUser,
    session: DbSession,
    settings: SettingsDep,
) -> Envelope[SignalOut]:
    signal = await escalation.escalate(
        session, settings, user, signal_id, to_level=body.to_level, notes=body.notes
    )
    return ok(await signal_out(session, signal))


@router.post(
    "/signals/{signal_id}/resolve",
    response_model=Envelope[SignalOut],
    summary="Close a signal with notes",
)
@errors(ErrorCode.INSUFFICIENT_PERMISSIONS, ErrorCode.SOS_WRONG_STATE, ErrorCode.NOT_FOUND)
async def resolve_signal(
    signal_id: uuid.UUID, body: ResolveIn, user: AuthenticatedUser, session: DbSession
) -> Envelope[SignalOut]:
    signal = await service.resolve(session, user, signal_id, notes=body.resolution_notes)
    return ok(await signal_out(session, signal))


@router.get(
    "/signals/{signal_id}/escalations",
    response_model=Envelope[list[EscalationOut]],
    summary="Every move of a signal, oldest first (its trail)",
)
@errors(ErrorCode.NOT_FOUND)
async def signal_escalations(
    signal_id: uuid.UUID, user: AuthenticatedUser, session: DbSession
) -> Envelope[list[EscalationOut]]:
    signal = await queries.visible_signal(session, user, signal_id)
    return ok(await escalations_out(session, await queries.escalations_of(session, signal)))
