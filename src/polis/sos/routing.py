"""Where an SOS signal goes and who hears of it: the base of the SOS rules (flush only).

The routing and the deadlines of DESIGN.md §3.5 (described in service.py), the holder's
announcement (a notification and a real-time event, or the media's email), and the checks
every transition makes. service.py (raising, verifying, closing) and escalation.py (moving
up, the deadline sweep) build on this module; it imports neither.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from polis.audit.transitions import Tell
from polis.config import Settings
from polis.kit.errors import Conflict, ErrorCode, PermissionDenied
from polis.kit.events import enqueue_task, publish_event
from polis.kit.logging import get_logger
from polis.notifications.models import NotificationType
from polis.notifications.service import notify_each
from polis.realtime.schemas import user_channel
from polis.sos import queries
from polis.sos.models import OPEN_STATUSES, SosLevel, SosPriority, SosSignal, SosStatus
from polis.units.models import Unit
from polis.units.queries import leaders_of, path_up
from polis.users.models import User

log = get_logger(__name__)

NEW_SIGNAL_EVENT = "sos.new_signal"
EMAIL_TASK = "polis.email.send"
_TOP_UNIT_RANK = SosLevel.ATASEULI.rank


# --- deadlines --------------------------------------------------------------------------------


def verification_window(settings: Settings, priority: SosPriority) -> timedelta:
    """How long a pending signal of ``priority`` waits at one level for its verification."""
    hours = {
        SosPriority.CRITICAL: settings.sos_verify_hours_critical,
        SosPriority.HIGH: settings.sos_verify_hours_high,
        SosPriority.NORMAL: settings.sos_verify_hours_normal,
        SosPriority.LOW: settings.sos_verify_hours_low,
    }[priority]
    return timedelta(hours=hours)


def deadline(settings: Settings, signal: SosSignal, now: datetime) -> datetime | None:
    """The next moment the sweep moves ``signal`` on its own (None: never).

    A pending signal waits its priority's verification window at each level; a verified one
    48 h (``sos_level_hours``) from when it became verified at its level. Nothing moves a
    closed signal, one at the media, or a pending one the moderators hold (it never goes to
    the media unverified).
    """
    if signal.status not in OPEN_STATUSES or signal.current_level is SosLevel.MEDIA:
        return None
    if signal.status is SosStatus.PENDING:
        if signal.current_level is SosLevel.MODERATORS:
            return None
        return now + verification_window(settings, signal.priority)
    return now + timedelta(hours=settings.sos_level_hours)


# --- where a signal goes ------------------------------------------------------------------


@dataclass(frozen=True)
class Seat:
    """Where a signal lands: a leader and the unit they hold it for, or a level nobody holds
    (moderators, media)."""

    level: SosLevel
    holder: User | None = None
    unit: Unit | None = None


async def _climb(
    session: AsyncSession, ateuli_id: uuid.UUID | None, *, at_least: int, skip: set[uuid.UUID]
) -> Seat | None:
    """The first sitting leader on the way up from ``ateuli_id``, at rank ``at_least`` or
    higher, who is not in ``skip``."""
    if ateuli_id is None or at_least > _TOP_UNIT_RANK:
        return None
    ateuli = await session.get(Unit, ateuli_id)
    if ateuli is None:
        return None
    path = await path_up(session, ateuli)
    leaders = await leaders_of(session, [unit.id for unit in path])
    for unit in path:
        level = SosLevel(unit.level.value)
        found = leaders.get(unit.id)
        if level.rank < at_least or found is None:
            continue
        leader, _ = found
        if leader.id in skip or leader.is_deleted:
            continue
        return Seat(level, leader, unit)
    return None


async def first_seat(session: AsyncSession, reporter: User, ateuli_id: uuid.UUID | None) -> Seat:
    seat = await _climb(session, ateuli_id, at_least=0, skip={reporter.id})
    return seat or Seat(SosLevel.MODERATORS)


async def landing(
    session: AsyncSession, signal: SosSignal, to_level: SosLevel | None
) -> Seat | None:
    """Where ``signal`` lands when moved up to ``to_level`` (None: the next leader up), or
    None when there is nowhere it may go."""
    if to_level is not None and to_level.rank > _TOP_UNIT_RANK:
        return Seat(to_level)
    start = to_level.rank if to_level is not None else signal.current_level.rank + 1
    skip = {uid for uid in (signal.reporter_id, signal.holder_id) if uid is not None}
    seat = await _climb(session, signal.ateuli_id, at_least=start, skip=skip)
    if seat is not None:
        return seat
    top = SosLevel.MODERATORS if signal.status is SosStatus.PENDING else SosLevel.MEDIA
    return Seat(top) if top.rank > signal.current_level.rank else None


def place(signal: SosSignal, seat: Seat, now: datetime) -> None:
    signal.current_level = seat.level
    signal.holder_id = seat.holder.id if seat.holder else None
    signal.holder_unit_id = seat.unit.id if seat.unit else None
    signal.level_since = now


def seat_values(signal: SosSignal) -> dict[str, Any]:
    return {
        "status": signal.status,
        "current_level": signal.current_level,
        "holder_id": signal.holder_id,
        "holder_unit_id": signal.holder_unit_id,
        "deadline_at": signal.deadline_at,
    }


# --- telling people -------------------------------------------------------------------------


def tell(
    signal: SosSignal, kind: NotificationType, user_ids: Iterable[uuid.UUID | None], **params: Any
) -> Tell:
    """The notification ``kind`` of ``signal`` for ``user_ids``. One per signal, per move and
    per kind: a retry never tells anyone twice."""
    return Tell(
        kind,
        user_ids,
        dedupe_key=f"sos:{signal.id}:{signal.escalation_count}:{kind.value}",
        params={"signal_title": signal.title, "signal_id": signal.id, **params},
    )


def _event_data(signal: SosSignal) -> dict[str, Any]:
    # No reporter identity in the event: the holder opens the signal for that.
    return {
        "id": str(signal.id),
        "title": signal.title,
        "priority": signal.priority.value,
        "status": signal.status.value,
        "current_level": signal.current_level.value,
        "deadline_at": signal.deadline_at.isoformat() if signal.deadline_at else None,
    }


def _media_email(settings: Settings, signal: SosSignal) -> tuple[str, str]:
    # A title is one line in an email header: no line break from a client gets through.
    title = " ".join(signal.title.split())
    subject = f"[{settings.app_name}] SOS ({signal.priority.value}): {title}"
    coordinates = (
        f"\nCoordinates: {signal.latitude}, {signal.longitude}"
        if signal.latitude is not None and signal.longitude is not None
        else ""
    )
    # The reporter is not named: the media get what happened and where, not who told us.
    body = (
        f"An SOS signal raised on {settings.app_name} went unresolved up to the top of the "
        f"community's hierarchy and is handed to you.\n\n"
        f"Title: {signal.title}\nPriority: {signal.priority.value}\n"
        f"Location: {signal.location}{coordinates}\n"
        f"Raised: {signal.created_at.isoformat()}\n\n{signal.description}\n\n"
        f"Reference: {signal.id}\n"
    )
    return subject, body


def _email_the_media(session: AsyncSession, settings: Settings, signal: SosSignal) -> None:
    subject, body = _media_email(settings, signal)
    if not settings.sos_media_contacts:
        log.warning("sos.no_media_contacts", signal_id=str(signal.id))
    for address in settings.sos_media_contacts:
        enqueue_task(
            session,
            EMAIL_TASK,
            to=address,
            subject=subject,
            body=body,
            dedupe_key=f"sos:{signal.id}:media:{address}",
        )


async def announce(session: AsyncSession, settings: Settings, signal: SosSignal) -> None:
    """Tell whoever holds ``signal`` now: the leader, every admin at the moderators, the media
    contacts by email at the media."""
    if signal.current_level is SosLevel.MEDIA:
        _email_the_media(session, settings, signal)
        return
    holders = (
        [signal.holder_id]
        if signal.current_level is not SosLevel.MODERATORS
        else [uid for uid in await queries.admin_ids(session) if uid != signal.reporter_id]
    )
    kind = (
        NotificationType.SOS_SIGNAL_CRITICAL
        if signal.priority is SosPriority.CRITICAL
        else NotificationType.SOS_SIGNAL_RECEIVED
    )
    told = tell(signal, kind, holders)
    await notify_each(session, told.user_ids, told.type, told.params, dedupe_key=told.dedupe_key)
    data = _event_data(signal)
    for user_id in dict.fromkeys(uid for uid in holders if uid is not None):
        publish_event(session, user_channel(user_id), NEW_SIGNAL_EVENT, data)


# --- the checks of a transition ---------------------------------------------------------------


def require(signal: SosSignal, *allowed: SosStatus) -> None:
    if signal.status not in allowed:
        raise Conflict(
            error=ErrorCode.SOS_WRONG_STATE,
            details={"status": signal.status.value, "allowed": [s.value for s in allowed]},
        )


def handles(actor: User, signal: SosSignal) -> bool:
    # Admins stand for the moderators, and may act wherever a holder may (§3.5: "the holder,
    # or an admin"); the moderators and the media have no holder of their own.
    return actor.is_admin or (signal.holder_id is not None and signal.holder_id == actor.id)


async def visible_and_locked(session: AsyncSession, actor: User, signal_id: uuid.UUID) -> SosSignal:
    """The signal ``actor`` may see (404 otherwise), its row locked and re-read."""
    await queries.visible_signal(session, actor, signal_id)
    return await queries.locked_signal(session, signal_id)


async def for_holder(session: AsyncSession, actor: User, signal_id: uuid.UUID) -> SosSignal:
    signal = await visible_and_locked(session, actor, signal_id)
    if not handles(actor, signal):
        raise PermissionDenied("Only the signal's holder or an admin may do this.")
    return signal
