"""The rules of SOS signals (DESIGN.md §3.5; choices in docs/sos.md). Flush only.

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
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from polis.audit.service import record
from polis.config import Settings
from polis.kit import clock
from polis.kit.errors import (
    Conflict,
    ErrorCode,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from polis.kit.events import enqueue_task, publish_event
from polis.kit.logging import get_logger
from polis.kit.pagination import Page, PageParams, paginate
from polis.notifications.models import NotificationType
from polis.notifications.service import notify
from polis.realtime.schemas import user_channel
from polis.sos.models import (
    OPEN_STATUSES,
    EscalationReason,
    SosEscalation,
    SosLevel,
    SosPriority,
    SosSignal,
    SosStatus,
)
from polis.units.models import LeadershipTerm, Unit
from polis.units.service import leaders_of, open_membership, path_up
from polis.users.models import Language, User

log = get_logger(__name__)

NEW_SIGNAL_EVENT = "sos.new_signal"
EMAIL_TASK = "polis.email.send"
_NO_SIGNAL = "No such signal."
_TOP_UNIT_RANK = SosLevel.ATASEULI.rank


# --- settings ---------------------------------------------------------------------------------


def verification_window(settings: Settings, priority: SosPriority) -> timedelta:
    """How long a pending signal of ``priority`` waits at one level for its verification."""
    hours = {
        SosPriority.CRITICAL: settings.sos_verify_hours_critical,
        SosPriority.HIGH: settings.sos_verify_hours_high,
        SosPriority.NORMAL: settings.sos_verify_hours_normal,
        SosPriority.LOW: settings.sos_verify_hours_low,
    }[priority]
    return timedelta(hours=hours)


def moral_filter(settings: Settings, language: Language) -> str:
    """The moral-filter question in ``language``."""
    return settings.sos_moral_filter_ka if language is Language.KA else settings.sos_moral_filter_en


def _deadline(settings: Settings, signal: SosSignal, now: datetime) -> datetime | None:
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


# --- reading ----------------------------------------------------------------------------------


def _subtree_of_leader(user_id: uuid.UUID) -> Select[Any]:
    """The ids of every unit at or under a unit ``user_id`` leads now (a recursive CTE)."""
    led = select(LeadershipTerm.unit_id).where(
        LeadershipTerm.user_id == user_id, LeadershipTerm.ended_at.is_(None)
    )
    tree = select(Unit.id).where(Unit.id.in_(led)).cte("sos_led_subtree", recursive=True)
    tree = tree.union_all(select(Unit.id).where(Unit.parent_id == tree.c.id))
    return select(tree.c.id)


def _visible_to(user: User) -> Select[Any]:
    """The signals ``user`` may see: their own, those they hold or held, those raised in an
    ateuli under a unit they lead, and every signal for an admin."""
    statement = select(SosSignal)
    if user.is_admin:
        return statement
    held = select(SosEscalation.signal_id).where(SosEscalation.to_holder_id == user.id)
    return statement.where(
        or_(
            SosSignal.reporter_id == user.id,
            SosSignal.holder_id == user.id,
            SosSignal.id.in_(held),
            SosSignal.ateuli_id.in_(_subtree_of_leader(user.id)),
        )
    )


async def visible_signal(session: AsyncSession, user: User, signal_id: uuid.UUID) -> SosSignal:
    """The signal, if ``user`` may see it; 404 otherwise (a foreign signal is not found)."""
    signal: SosSignal | None = await session.scalar(
        _visible_to(user).where(SosSignal.id == signal_id)
    )
    if signal is None:
        raise NotFound(_NO_SIGNAL)
    return signal


async def _locked(session: AsyncSession, signal_id: uuid.UUID) -> SosSignal:
    signal = await session.scalar(
        select(SosSignal)
        .where(SosSignal.id == signal_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if signal is None:  # pragma: no cover - seen a moment ago; signals are never deleted
        raise NotFound(_NO_SIGNAL)
    return signal


@dataclass(frozen=True)
class SignalFilters:
    status: SosStatus | None = None
    priority: SosPriority | None = None
    current_level: SosLevel | None = None


_SORTABLE = {
    "created_at": SosSignal.created_at,
    "deadline_at": SosSignal.deadline_at,
    "updated_at": SosSignal.updated_at,
}


def _filtered(statement: Select[Any], filters: SignalFilters) -> Select[Any]:
    if filters.status is not None:
        statement = statement.where(SosSignal.status == filters.status)
    if filters.priority is not None:
        statement = statement.where(SosSignal.priority == filters.priority)
    if filters.current_level is not None:
        statement = statement.where(SosSignal.current_level == filters.current_level)
    return statement


async def list_signals(
    session: AsyncSession, user: User, filters: SignalFilters, params: PageParams
) -> Page:
    """One page of the signals ``user`` may see (newest first by default)."""
    statement = _filtered(_visible_to(user), filters)
    return await paginate(session, statement, params, sortable=_SORTABLE, default_sort="created_at")


async def pending_verification(session: AsyncSession, user: User, params: PageParams) -> Page:
    """The pending signals waiting for ``user``: those they hold, and for an admin those the
    moderators hold. Soonest deadline first by default."""
    mine = SosSignal.holder_id == user.id
    if user.is_admin:
        mine = or_(mine, SosSignal.current_level == SosLevel.MODERATORS)
    statement = select(SosSignal).where(SosSignal.status == SosStatus.PENDING, mine)
    if params.sort_by is None:
        params = PageParams(
            page=params.page, per_page=params.per_page, sort_by="deadline_at", sort_order="asc"
        )
    return await paginate(
        session, statement, params, sortable=_SORTABLE, default_sort="deadline_at"
    )


async def escalations_of(session: AsyncSession, signal: SosSignal) -> list[SosEscalation]:
    """The trail of ``signal``, oldest step first."""
    rows = await session.scalars(
        select(SosEscalation)
        .where(SosEscalation.signal_id == signal.id)
        .order_by(SosEscalation.step)
    )
    return list(rows.all())


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


async def _first_seat(session: AsyncSession, reporter: User, ateuli_id: uuid.UUID | None) -> Seat:
    seat = await _climb(session, ateuli_id, at_least=0, skip={reporter.id})
    return seat or Seat(SosLevel.MODERATORS)


async def _landing(
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


# --- telling people -------------------------------------------------------------------------


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


async def _tell(
    session: AsyncSession,
    signal: SosSignal,
    kind: NotificationType,
    user_ids: Iterable[uuid.UUID | None],
    **params: Any,
) -> None:
    # One notification per signal, per move and per kind: a retry never tells anyone twice.
    for user_id in dict.fromkeys(uid for uid in user_ids if uid is not None):
        await notify(
            session,
            user_id,
            kind,
            {"signal_title": signal.title, "signal_id": signal.id, **params},
            dedupe_key=f"sos:{signal.id}:{signal.escalation_count}:{kind.value}",
        )


async def _admin_ids(session: AsyncSession) -> list[uuid.UUID]:
    rows = await session.scalars(
        select(User.id).where(User.is_admin.is_(True), User.deleted_at.is_(None))
    )
    return list(rows.all())


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


async def _announce(session: AsyncSession, settings: Settings, signal: SosSignal) -> None:
    """Tell whoever holds ``signal`` now: the leader, every admin at the moderators, the media
    contacts by email at the media."""
    if signal.current_level is SosLevel.MEDIA:
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
        return
    holders = (
        [signal.holder_id]
        if signal.current_level is not SosLevel.MODERATORS
        else [uid for uid in await _admin_ids(session) if uid != signal.reporter_id]
    )
    kind = (
        NotificationType.SOS_SIGNAL_CRITICAL
        if signal.priority is SosPriority.CRITICAL
        else NotificationType.SOS_SIGNAL_RECEIVED
    )
    await _tell(session, signal, kind, holders)
    data = _event_data(signal)
    for user_id in dict.fromkeys(uid for uid in holders if uid is not None):
        publish_event(session, user_channel(user_id), NEW_SIGNAL_EVENT, data)


def _place(signal: SosSignal, seat: Seat, now: datetime) -> None:
    signal.current_level = seat.level
    signal.holder_id = seat.holder.id if seat.holder else None
    signal.holder_unit_id = seat.unit.id if seat.unit else None
    signal.level_since = now


def _seat_values(signal: SosSignal) -> dict[str, Any]:
    return {
        "status": signal.status,
        "current_level": signal.current_level,
        "holder_id": signal.holder_id,
        "holder_unit_id": signal.holder_unit_id,
        "deadline_at": signal.deadline_at,
    }


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
    seat = await _first_seat(session, reporter, ateuli_id)
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
        current_level=seat.level,
        level_since=now,
    )
    _place(signal, seat, now)
    signal.deadline_at = _deadline(settings, signal, now)
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
    await _announce(session, settings, signal)
    await record(
        session,
        action="sos.signal.raised",
        entity_type="sos_signal",
        entity_id=signal.id,
        actor_id=reporter.id,
        new={"priority": signal.priority, "ateuli_id": ateuli_id, **_seat_values(signal)},
    )
    return signal


def _check_coordinates(latitude: float | None, longitude: float | None) -> None:
    if (latitude is None) != (longitude is None):
        raise ValidationFailed(
            "Send both latitude and longitude, or neither.",
            error=ErrorCode.MISSING_FIELD,
            details={"field": "longitude" if longitude is None else "latitude"},
        )


# --- acting on a signal -----------------------------------------------------------------------


def _require(signal: SosSignal, *allowed: SosStatus) -> None:
    if signal.status not in allowed:
        raise Conflict(
            error=ErrorCode.SOS_WRONG_STATE,
            details={"status": signal.status.value, "allowed": [s.value for s in allowed]},
        )


def _handles(actor: User, signal: SosSignal) -> bool:
    # Admins stand for the moderators, and may act wherever a holder may (§3.5: "the holder,
    # or an admin"); the moderators and the media have no holder of their own.
    return actor.is_admin or (signal.holder_id is not None and signal.holder_id == actor.id)


async def _for_holder(session: AsyncSession, actor: User, signal_id: uuid.UUID) -> SosSignal:
    await visible_signal(session, actor, signal_id)
    signal = await _locked(session, signal_id)
    if not _handles(actor, signal):
        raise PermissionDenied("Only the signal's holder or an admin may do this.")
    return signal


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
    await visible_signal(session, reporter, signal_id)
    signal = await _locked(session, signal_id)
    if signal.reporter_id != reporter.id:
        raise PermissionDenied("Only the reporter may change a signal.")
    _require(signal, SosStatus.PENDING)
    latitude = changes.get("latitude", signal.latitude)
    longitude = changes.get("longitude", signal.longitude)
    _check_coordinates(latitude, longitude)
    old = {name: getattr(signal, name) for name in changes}
    for name, value in changes.items():
        setattr(signal, name, value)
    await session.flush()
    await record(
        session,
        action="sos.signal.updated",
        entity_type="sos_signal",
        entity_id=signal.id,
        actor_id=reporter.id,
        old=old,
        new=changes,
    )
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
    signal = await _for_holder(session, actor, signal_id)
    if signal.reporter_id == actor.id:
        # Routing never gives a signal to its reporter; an admin may not judge their own either.
        raise PermissionDenied("Nobody verifies their own signal.")
    _require(signal, SosStatus.PENDING)
    if not is_legitimate and not (notes and notes.strip()):
        raise ValidationFailed(
            "Say why the signal is not legitimate.",
            error=ErrorCode.MISSING_FIELD,
            details={"field": "verification_notes"},
        )
    now = clock.now()
    old = {"status": signal.status, "priority": signal.priority, "deadline_at": signal.deadline_at}
    signal.status = SosStatus.VERIFIED if is_legitimate else SosStatus.REJECTED
    if is_legitimate and priority is not None:
        signal.priority = priority
    signal.verified_at = now
    signal.verified_by_id = actor.id
    signal.verification_notes = notes
    signal.deadline_at = _deadline(settings, signal, now)
    await session.flush()
    if is_legitimate:
        await _tell(
            session,
            signal,
            NotificationType.SOS_SIGNAL_VERIFIED,
            [signal.reporter_id],
            sos_priority=signal.priority.value,
        )
    else:
        await _tell(
            session,
            signal,
            NotificationType.SOS_SIGNAL_REJECTED,
            [signal.reporter_id],
            notes=notes or "",
        )
    await record(
        session,
        action="sos.signal.verified" if is_legitimate else "sos.signal.rejected",
        entity_type="sos_signal",
        entity_id=signal.id,
        actor_id=actor.id,
        old=old,
        new={
            "status": signal.status,
            "priority": signal.priority,
            "deadline_at": signal.deadline_at,
        },
    )
    return signal


async def _move(
    session: AsyncSession,
    settings: Settings,
    signal: SosSignal,
    seat: Seat,
    *,
    actor_id: uuid.UUID | None,
    reason: EscalationReason,
    notes: str | None,
) -> None:
    """Move ``signal`` to ``seat``: the trail, the new holder told, the reporter told."""
    now = clock.now()
    old = _seat_values(signal)
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
    _place(signal, seat, now)
    signal.escalation_count += 1
    if signal.status is SosStatus.VERIFIED:
        signal.status = SosStatus.ESCALATED
    signal.deadline_at = _deadline(settings, signal, now)
    await session.flush()
    await _announce(session, settings, signal)
    await _tell(
        session,
        signal,
        NotificationType.SOS_SIGNAL_ESCALATED,
        [signal.reporter_id],
        sos_level=signal.current_level.value,
    )
    await record(
        session,
        action="sos.signal.escalated",
        entity_type="sos_signal",
        entity_id=signal.id,
        actor_id=actor_id,
        old=old,
        new={**_seat_values(signal), "reason": reason, "notes": notes},
    )


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
    signal = await _for_holder(session, actor, signal_id)
    _require(signal, *OPEN_STATUSES)
    if to_level is not None and to_level.rank <= signal.current_level.rank:
        raise ValidationFailed(
            error=ErrorCode.SOS_INVALID_ESCALATION,
            details={"current_level": signal.current_level.value, "to_level": to_level.value},
        )
    pending = signal.status is SosStatus.PENDING
    if pending and to_level is SosLevel.MEDIA:
        raise Conflict(error=ErrorCode.SOS_NOT_VERIFIED)
    seat = await _landing(session, signal, to_level)
    if seat is None:
        if pending:
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


async def resolve(
    session: AsyncSession, actor: User, signal_id: uuid.UUID, *, notes: str
) -> SosSignal:
    """The holder, an admin or the reporter closes the signal with notes; the reporter and the
    holder (whichever did not close it) are told.

    Refusals: 404, 403 neither holder, admin nor reporter, 3040 already closed.
    """
    await visible_signal(session, actor, signal_id)
    signal = await _locked(session, signal_id)
    if not (_handles(actor, signal) or signal.reporter_id == actor.id):
        raise PermissionDenied("Only the holder, the reporter or an admin may close a signal.")
    _require(signal, *OPEN_STATUSES)
    old = {"status": signal.status, "deadline_at": signal.deadline_at}
    now = clock.now()
    signal.status = SosStatus.RESOLVED
    signal.resolved_at = now
    signal.resolved_by_id = actor.id
    signal.resolution_notes = notes
    signal.deadline_at = None
    await session.flush()
    await _tell(
        session,
        signal,
        NotificationType.SOS_SIGNAL_RESOLVED,
        [uid for uid in (signal.reporter_id, signal.holder_id) if uid != actor.id],
    )
    await record(
        session,
        action="sos.signal.resolved",
        entity_type="sos_signal",
        entity_id=signal.id,
        actor_id=actor.id,
        old=old,
        new={"status": signal.status, "notes": notes},
    )
    return signal


# --- the deadline sweep -----------------------------------------------------------------------


async def escalate_overdue(session: AsyncSession, settings: Settings, signal: SosSignal) -> bool:
    """Move one overdue signal up one leader, with the system as actor. Returns whether it
    moved (a pending signal the moderators hold only loses its deadline)."""
    seat = await _landing(session, signal, None)
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
    ids = list(
        (
            await session.scalars(
                select(SosSignal.id)
                .where(SosSignal.deadline_at <= now)
                .order_by(SosSignal.deadline_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        ).all()
    )
    if not ids:
        return 0, 0
    signals = await session.scalars(
        select(SosSignal)
        .where(SosSignal.id.in_(ids))
        .order_by(SosSignal.deadline_at)
        .execution_options(populate_existing=True)
    )
    moved = 0
    for signal in signals.all():
        # Re-checked on the locked row: a request may have closed or moved it just before.
        if signal.deadline_at is None or signal.deadline_at > now:
            continue
        if await escalate_overdue(session, settings, signal):
            moved += 1
    return len(ids), moved
