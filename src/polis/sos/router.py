"""HTTP for SOS signals: ``/sos`` (DESIGN.md §3.5). Thin: the rules are in service.py."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Annotated

from fastapi import Depends, Header
from sqlalchemy.ext.asyncio import AsyncSession

from polis.auth.deps import AuthenticatedUser, VerifiedUser
from polis.kit.deps import DbSession, SettingsDep
from polis.kit.envelope import Envelope, ListEnvelope, ok
from polis.kit.idempotency import IdempotencyKey
from polis.kit.pagination import Pagination, paginated
from polis.kit.ratelimit import rate_limit
from polis.kit.routing import DomainRouter
from polis.notifications.texts import language_from_header
from polis.sos import service
from polis.sos.models import SosEscalation, SosLevel, SosPriority, SosSignal, SosStatus
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
from polis.users import service as users_service
from polis.users.presenters import person_ref

router = DomainRouter(prefix="/sos", tags=["sos"])

SosRateLimit = Annotated[None, Depends(rate_limit("rate_limit_sos"))]


async def signals_out(session: AsyncSession, signals: Sequence[SosSignal]) -> list[SignalOut]:
    people = await users_service.people(
        session, [uid for s in signals for uid in (s.reporter_id, s.holder_id)]
    )
    out = []
    for s in signals:
        out.append(
            SignalOut(
                id=s.id,
                title=s.title,
                description=s.description,
                location=s.location,
                latitude=s.latitude,
                longitude=s.longitude,
                moral_filter_response=s.moral_filter_response,
                status=s.status,
                priority=s.priority,
                reporter=person_ref(people, s.reporter_id),
                ateuli_id=s.ateuli_id,
                current_level=s.current_level,
                holder=person_ref(people, s.holder_id),
                holder_unit_id=s.holder_unit_id,
                level_since=s.level_since,
                deadline_at=s.deadline_at,
                escalation_count=s.escalation_count,
                verified_at=s.verified_at,
                verification_notes=s.verification_notes,
                resolved_at=s.resolved_at,
                resolution_notes=s.resolution_notes,
                created_at=s.created_at,
                updated_at=s.updated_at,
            )
        )
    return out


async def signal_out(session: AsyncSession, signal: SosSignal) -> SignalOut:
    return (await signals_out(session, [signal]))[0]


async def escalations_out(
    session: AsyncSession, steps: Sequence[SosEscalation]
) -> list[EscalationOut]:
    people = await users_service.people(
        session,
        [uid for e in steps for uid in (e.from_holder_id, e.to_holder_id, e.actor_id)],
    )
    return [
        EscalationOut(
            id=e.id,
            step=e.step,
            from_level=e.from_level,
            to_level=e.to_level,
            from_holder=person_ref(people, e.from_holder_id),
            to_holder=person_ref(people, e.to_holder_id),
            actor=person_ref(people, e.actor_id),
            reason=e.reason,
            notes=e.notes,
            at=e.at,
        )
        for e in steps
    ]


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
    signal = await service.raise_signal(
        session,
        settings,
        user,
        title=body.title,
        description=body.description,
        location=body.location,
        latitude=body.latitude,
        longitude=body.longitude,
        moral_filter_response=body.moral_filter_response,
        priority=body.priority,
    )
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
    filters = service.SignalFilters(status=status, priority=priority, current_level=current_level)
    page = await service.list_signals(session, user, filters, params)
    return paginated(await signals_out(session, page.items), page.total, params)


@router.get(
    "/signals/pending-verification",
    response_model=ListEnvelope[SignalOut],
    summary="Pending signals waiting for my verification",
)
async def pending_verification(
    user: AuthenticatedUser, session: DbSession, params: Pagination
) -> ListEnvelope[SignalOut]:
    page = await service.pending_verification(session, user, params)
    return paginated(await signals_out(session, page.items), page.total, params)


@router.get("/signals/{signal_id}", response_model=Envelope[SignalOut], summary="A signal")
async def get_signal(
    signal_id: uuid.UUID, user: AuthenticatedUser, session: DbSession
) -> Envelope[SignalOut]:
    return ok(await signal_out(session, await service.visible_signal(session, user, signal_id)))


@router.patch(
    "/signals/{signal_id}",
    response_model=Envelope[SignalOut],
    summary="Correct my signal while it is pending",
)
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
async def escalate_signal(
    signal_id: uuid.UUID,
    body: EscalateIn,
    user: AuthenticatedUser,
    session: DbSession,
    settings: SettingsDep,
) -> Envelope[SignalOut]:
    signal = await service.escalate(
        session, settings, user, signal_id, to_level=body.to_level, notes=body.notes
    )
    return ok(await signal_out(session, signal))


@router.post(
    "/signals/{signal_id}/resolve",
    response_model=Envelope[SignalOut],
    summary="Close a signal with notes",
)
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
async def signal_escalations(
    signal_id: uuid.UUID, user: AuthenticatedUser, session: DbSession
) -> Envelope[list[EscalationOut]]:
    signal = await service.visible_signal(session, user, signal_id)
    return ok(await escalations_out(session, await service.escalations_of(session, signal)))
