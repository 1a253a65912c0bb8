"""How the SOS API shows signals and their trails: rows in, response schemas out."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from polis.kit.presenting import from_row
from polis.sos.models import SosEscalation, SosSignal
from polis.sos.schemas import EscalationOut, SignalOut
from polis.users import service as users_service
from polis.users.presenters import person_ref


async def signals_out(session: AsyncSession, signals: Sequence[SosSignal]) -> list[SignalOut]:
    people = await users_service.people(
        session, [uid for s in signals for uid in (s.reporter_id, s.holder_id)]
    )
    return [
        from_row(
            SignalOut,
            s,
            reporter=person_ref(people, s.reporter_id),
            holder=person_ref(people, s.holder_id),
        )
        for s in signals
    ]


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
        from_row(
            EscalationOut,
            e,
            from_holder=person_ref(people, e.from_holder_id),
            to_holder=person_ref(people, e.to_holder_id),
            actor=person_ref(people, e.actor_id),
        )
        for e in steps
    ]
