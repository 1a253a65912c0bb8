"""Moving an SOS signal up: a holder's escalation and the deadline sweep (flush only).

A move takes the first leader at the target level or above who is neither the reporter nor
the current holder; when the climb runs out of leaders, a verified signal goes to the media
and a pending one to the moderators (routing.py). The sweep takes its rows with
``SKIP LOCKED``: a row a request (or another sweep) holds is left for the next run.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from polis.audit.transitions import transition
from polis.config import Settings
from polis.kit import clock
from polis.kit.errors import Conflict, ErrorCode, ValidationFailed
from polis.notifications.models import NotificationType
from polis.sos import queries, routing
from polis.sos.models import (
    OPEN_STATUSES,
    EscalationReason,
    SosEscalation,
    SosLevel,
    SosSignal,
    SosStatus,
)
from polis.users.models import User


async def _move(
    session: AsyncSession,
    settings: Settings,
    signal: SosSignal,
    seat: routing.Seat,
    *,
    actor_id: uuid.UUID | None,
    reason: EscalationReason,
    notes: str | None,
) -> None:
    """Move ``signal`` to ``seat``: the trail, the new holder told, the reporter told."""
    now = clock.now()
    old = routing.seat_values(signal)
    session.add(
        SosEscalation(
            signal_id=signal.id,
            step=signal.escalation_count + 1,
            from_level=signal.current_level,
            to_level=seat.level,
            from_holder_id=signal.holder_id,
            to_holder_id=seat.holder.id if seat.holder else None,
            actor_id=actor_id,
            reason=reason,
            notes=notes,
            at=now,
        )
    )
    routing.place(signal, seat, now)
    signal.escalation_count += 1
    if signal.status is SosStatus.VERIFIED:
        signal.status = SosStatus.ESCALATED
    signal.deadline_at = routing.deadline(settings, signal, now)
    await session.flush()
    # The new holder hears of it (and a real-time event is raised) before the reporter.
    await routing.announce(session, settings, signal)
    await transition(
        session,
        action="sos.signal.escalated",
        entity_type="sos_signal",
        entity_id=signal.id,
        actor_id=actor_id,
        old=old,
        new={**routing.seat_values(signal), "reason": reason, "notes": notes},
        tell=[
            routing.tell(
                signal,
                NotificationType.SOS_SIGNAL_ESCALATED,
                [signal.reporter_id],
                sos_level=signal.current_level.value,
            )
        ],
    )


def _check_target(signal: SosSignal, to_level: SosLevel | None) -> None:
    if to_level is not None and to_level.rank <= signal.current_level.rank:
        raise ValidationFailed(
            error=ErrorCode.SOS_INVALID_ESCALATION,
            details={"current_level": signal.current_level.value, "to_level": to_level.value},
        )
    if signal.status is SosStatus.PENDING and to_level is SosLevel.MEDIA:
        raise Conflict(error=ErrorCode.SOS_NOT_VERIFIED)


async def escalate(
    session: AsyncSession,
    settings: Settings,
    actor: User,
    signal_id: uuid.UUID,
    *,
    to_level: SosLevel | None,
    notes: str | None,
) -> SosSignal:
    """The holder (or an admin) moves the signal up: to ``to_level``, or the next leader up
    when it is None. Empty levels are skipped; above the last leader a verified signal goes
    to the media, a pending one to the moderators.

    Refusals: 404, 403 not the holder nor an admin, 3040 closed, 3041 ``to_level`` not above
    the current level (or nothing above), 3042 a pending signal sent to the media.
    """
    signal = await routing.for_holder(session, actor, signal_id)
    routing.require(signal, *OPEN_STATUSES)
    _check_target(signal, to_level)
    seat = await routing.landing(session, signal, to_level)
    if seat is None:
        if signal.status is SosStatus.PENDING:
            raise Conflict(error=ErrorCode.SOS_NOT_VERIFIED)
        raise ValidationFailed(
            error=ErrorCode.SOS_INVALID_ESCALATION,
            details={"current_level": signal.current_level.value},
        )
    await _move(
        session,
        settings,
        signal,
        seat,
        actor_id=actor.id,
        reason=EscalationReason.MANUAL,
        notes=notes,
    )
    return signal


# --- the deadline sweep -----------------------------------------------------------------------


async def escalate_overdue(session: AsyncSession, settings: Settings, signal: SosSignal) -> bool:
    """Move one overdue signal up one leader, with the system as actor. Returns whether it
    moved (a pending signal the moderators hold only loses its deadline)."""
    seat = await routing.landing(session, signal, None)
    if seat is None:
        signal.deadline_at = None
        await session.flush()
        return False
    await _move(
        session,
        settings,
        signal,
        seat,
        actor_id=None,
        reason=EscalationReason.DEADLINE,
        notes=None,
    )
    return True


async def sweep_batch(session: AsyncSession, settings: Settings, *, limit: int) -> tuple[int, int]:
    """One bounded batch of the sweep, in the caller's transaction: lock up to ``limit``
    overdue signals (``SKIP LOCKED``: another sweep's or a request's rows are left alone),
    then move each. Returns (signals taken, signals moved)."""
    now = clock.now()
    ids = await queries.overdue_ids(session, now, limit=limit)
    if not ids:
        return 0, 0
    moved = 0
    for signal in await queries.signals_by_ids(session, ids):
        # Re-checked on the locked row: a request may have closed or moved it just before.
        if signal.deadline_at is None or signal.deadline_at > now:
            continue
        if await escalate_overdue(session, settings, signal):
            moved += 1
    return len(ids), moved
