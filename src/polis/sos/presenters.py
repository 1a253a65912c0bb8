"""How the SOS API shows signals and their trails: rows in, response schemas out."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from polis.sos.models import SosEscalation, SosSignal
from polis.sos.schemas import EscalationOut, SignalOut
from polis.users import service as users_service
from polis.users.presenters import person_ref


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
