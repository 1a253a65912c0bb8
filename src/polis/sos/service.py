"""The rules of SOS signals (DESIGN.md §3.5; choices in docs/sos.md). Flush only.

Raising, correcting, verifying and closing a signal live here; moving it up and the deadline
sweep in escalation.py, where it goes and who hears of it in routing.py, the reads in
queries.py.

Routing: a signal goes to the first sitting leader on the way up from the reporter's ateuli
who is not the reporter (the atistavi, else the next leader up); with none, to the moderators
(the admins). Moving up (a holder's escalation or the deadline sweep) takes the first leader at
the target level or above who is neither the reporter nor the current holder; when the climb
runs out of leaders, a verified signal goes to the media (the configured contacts get an email)
and a pending one to the moderators: only a verified signal is ever handed to the media.

Every transition locks the signal's row (``SELECT … FOR UPDATE``) and re-reads it, so two
requests on one signal, or a request and the sweep, are serialised; the second sees the state
the first left. The sweep takes its rows with ``SKIP LOCKED``: a row a request (or another
sweep) holds is left for the next run.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from polis.audit.transitions import transition
from polis.config import Settings
from polis.kit import clock
from polis.kit.errors import ErrorCode, PermissionDenied, ValidationFailed
from polis.notifications.models import NotificationType
from polis.sos import routing
from polis.sos.models import (
    OPEN_STATUSES,
    EscalationReason,
    SosEscalation,
    SosPriority,
    SosSignal,
    SosStatus,
)
from polis.units.queries import open_membership
from polis.users.models import Language, User


def moral_filter(settings: Settings, language: Language) -> str:
    """The moral-filter question in ``language``."""
    return settings.sos_moral_filter_ka if language is Language.KA else settings.sos_moral_filter_en


# --- raising ----------------------------------------------------------------------------------


async def raise_signal(
    session: AsyncSession,
    settings: Settings,
    reporter: User,
    *,
    title: str,
    description: str,
    location: str,
    latitude: float | None,
    longitude: float | None,
    moral_filter_response: str,
    priority: SosPriority,
) -> SosSignal:
    """Raise a signal and route it to its first holder (DESIGN.md §3.5).

    The reporter may give an initial priority (``normal`` by default); it sets the
    verification deadline until the holder verifies it with a priority of their own.
    Refusals: 2001 only one of latitude/longitude.
    """
    _check_coordinates(latitude, longitude)
    now = clock.now()
    membership = await open_membership(session, reporter.id)
    ateuli_id = membership.unit_id if membership else None
    signal = SosSignal(
        reporter_id=reporter.id,
        ateuli_id=ateuli_id,
        title=title,
        description=description,
        location=location,
        latitude=latitude,
        longitude=longitude,
        moral_filter_response=moral_filter_response,
        status=SosStatus.PENDING,
        priority=priority,
    )
    await _route_first(session, settings, reporter, signal, now)
    # The holder hears of it (and a real-time event is raised) before the audit record.
    await routing.announce(session, settings, signal)
    await transition(
        session,
        action="sos.signal.raised",
        entity_type="sos_signal",
        entity_id=signal.id,
        actor_id=reporter.id,
        new={"priority": signal.priority, "ateuli_id": ateuli_id, **routing.seat_values(signal)},
    )
    return signal


async def _route_first(
    session: AsyncSession, settings: Settings, reporter: User, signal: SosSignal, now: datetime
) -> None:
    """Give the new ``signal`` to its first holder, with step 0 of its trail (flushed)."""
    seat = await routing.first_seat(session, reporter, signal.ateuli_id)
    routing.place(signal, seat, now)
    signal.deadline_at = routing.deadline(settings, signal, now)
    session.add(signal)
    await session.flush()
    session.add(
        SosEscalation(
            signal_id=signal.id,
            step=0,
            from_level=None,
            to_level=seat.level,
            from_holder_id=None,
            to_holder_id=signal.holder_id,
            actor_id=reporter.id,
            reason=EscalationReason.ROUTED,
            at=now,
        )
    )
    await session.flush()


def _check_coordinates(latitude: float | None, longitude: float | None) -> None:
    if (latitude is None) != (longitude is None):
        raise ValidationFailed(
            "Send both latitude and longitude, or neither.",
            error=ErrorCode.MISSING_FIELD,
            details={"field": "longitude" if longitude is None else "latitude"},
        )


# --- acting on a signal -----------------------------------------------------------------------


async def update_signal(
    session: AsyncSession,
    reporter: User,
    signal_id: uuid.UUID,
    changes: dict[str, Any],
) -> SosSignal:
    """The reporter corrects their signal while it waits for verification.

    ``changes`` holds only the fields sent (title, description, location, latitude,
    longitude, moral_filter_response). Refusals: 404, 403 not the reporter, 3040 no longer
    pending, 2001 coordinates left half set.
    """
    signal = await routing.visible_and_locked(session, reporter, signal_id)
    if signal.reporter_id != reporter.id:
        raise PermissionDenied("Only the reporter may change a signal.")
    routing.require(signal, SosStatus.PENDING)
    latitude = changes.get("latitude", signal.latitude)
    longitude = changes.get("longitude", signal.longitude)
    _check_coordinates(latitude, longitude)
    old = {name: getattr(signal, name) for name in changes}
    for name, value in changes.items():
        setattr(signal, name, value)
    await transition(
        session,
        action="sos.signal.updated",
        entity_type="sos_signal",
        entity_id=signal.id,
        actor_id=reporter.id,
        old=old,
        new=changes,
    )
    return signal


def _verdict_values(signal: SosSignal) -> dict[str, Any]:
    return {"status": signal.status, "priority": signal.priority, "deadline_at": signal.deadline_at}


async def _judged(session: AsyncSession, actor: User, signal_id: uuid.UUID) -> SosSignal:
    """The pending signal ``actor`` may verify, locked. Refusals: those of ``verify``."""
    signal = await routing.for_holder(session, actor, signal_id)
    if signal.reporter_id == actor.id:
        # Routing never gives a signal to its reporter; an admin may not judge their own either.
        raise PermissionDenied("Nobody verifies their own signal.")
    routing.require(signal, SosStatus.PENDING)
    return signal


async def verify(
    session: AsyncSession,
    settings: Settings,
    actor: User,
    signal_id: uuid.UUID,
    *,
    is_legitimate: bool,
    notes: str | None,
    priority: SosPriority | None,
) -> SosSignal:
    """The holder (or an admin) marks a pending signal legitimate (``verified``, with a
    priority: the one given, else the reporter's) or not (``rejected``: notes required). The
    reporter is told.

    Refusals: 404, 403 not the holder nor an admin (or the reporter themselves), 3040 not
    pending, 2001 a rejection without notes.
    """
    signal = await _judged(session, actor, signal_id)
    if not is_legitimate and not (notes and notes.strip()):
        raise ValidationFailed(
            "Say why the signal is not legitimate.",
            error=ErrorCode.MISSING_FIELD,
            details={"field": "verification_notes"},
        )
    now = clock.now()
    old = _verdict_values(signal)
    signal.status = SosStatus.VERIFIED if is_legitimate else SosStatus.REJECTED
    if is_legitimate and priority is not None:
        signal.priority = priority
    signal.verified_at = now
    signal.verified_by_id = actor.id
    signal.verification_notes = notes
    signal.deadline_at = routing.deadline(settings, signal, now)
    told = (
        routing.tell(
            signal,
            NotificationType.SOS_SIGNAL_VERIFIED,
            [signal.reporter_id],
            sos_priority=signal.priority.value,
        )
        if is_legitimate
        else routing.tell(
            signal, NotificationType.SOS_SIGNAL_REJECTED, [signal.reporter_id], notes=notes or ""
        )
    )
    await transition(
        session,
        action="sos.signal.verified" if is_legitimate else "sos.signal.rejected",
        entity_type="sos_signal",
        entity_id=signal.id,
        actor_id=actor.id,
        old=old,
        new=_verdict_values(signal),
        tell=[told],
    )
    return signal


async def resolve(
    session: AsyncSession, actor: User, signal_id: uuid.UUID, *, notes: str
) -> SosSignal:
    """The holder, an admin or the reporter closes the signal with notes; the reporter and the
    holder (whichever did not close it) are told.

    Refusals: 404, 403 neither holder, admin nor reporter, 3040 already closed.
    """
    signal = await routing.visible_and_locked(session, actor, signal_id)
    if not (routing.handles(actor, signal) or signal.reporter_id == actor.id):
        raise PermissionDenied("Only the holder, the reporter or an admin may close a signal.")
    routing.require(signal, *OPEN_STATUSES)
    old = {"status": signal.status, "deadline_at": signal.deadline_at}
    signal.status = SosStatus.RESOLVED
    signal.resolved_at = clock.now()
    signal.resolved_by_id = actor.id
    signal.resolution_notes = notes
    signal.deadline_at = None
    await transition(
        session,
        action="sos.signal.resolved",
        entity_type="sos_signal",
        entity_id=signal.id,
        actor_id=actor.id,
        old=old,
        new={"status": signal.status, "notes": notes},
        tell=[
            routing.tell(
                signal,
                NotificationType.SOS_SIGNAL_RESOLVED,
                [uid for uid in (signal.reporter_id, signal.holder_id) if uid != actor.id],
            )
        ],
    )
    return signal
