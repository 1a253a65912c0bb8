"""Who answers an initiative, and handing it over: the threshold, a reassignment by hand and
the answer-deadline sweep's moves (DESIGN.md §3.6). Flush only; the caller holds the row lock.

Who answers: the sitting leader of the scope's unit; when that seat is empty (or held by the
creator), the next leader up the scope unit's chain; with no leader at all, an admin (the
longest-standing one). A national initiative goes to an admin: the nation has no single leader
(the satatbiro is a council). Past the answer deadline it moves one leader up the same way; at
the top (an admin holds it) it moves to the next admin, or stays with a fresh deadline when
there is no other.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from polis.audit.transitions import Tell, transition
from polis.config import Settings
from polis.initiatives import queries
from polis.initiatives.models import Initiative, InitiativeStatus
from polis.kit import clock
from polis.kit.events import publish_event
from polis.notifications.models import NotificationType
from polis.realtime.schemas import user_channel
from polis.units.models import Unit
from polis.units.queries import leaders_of
from polis.users.models import User

THRESHOLD_EVENT = "initiative.support_threshold_reached"


# --- who answers ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Seat:
    """Who answers an initiative: the leader of ``unit``, or an admin (``unit`` is None)."""

    user: User
    unit: Unit | None


async def _leader_seat(
    session: AsyncSession, candidates: Sequence[Unit], excluded: set[uuid.UUID]
) -> Seat | None:
    leaders = await leaders_of(session, [unit.id for unit in candidates])
    for unit in candidates:
        found = leaders.get(unit.id)
        if found is not None:
            leader, _ = found
            if leader.id not in excluded and not leader.is_deleted:
                return Seat(leader, unit)
    return None


async def _admin_seat(
    session: AsyncSession, excluded: set[uuid.UUID], after: uuid.UUID | None = None
) -> Seat | None:
    """The first admin not ``excluded``; with ``after``, the next one after that admin in the
    same order (wrapping round), so the top of the chain rotates among the admins."""
    admins = [admin for admin in await queries.admins(session) if admin.id not in excluded]
    if after is not None:
        order = await queries.admins(session)
        ids = [admin.id for admin in order]
        if after in ids:
            start = ids.index(after) + 1
            rotated = order[start:] + order[:start]
            admins = [admin for admin in rotated if admin.id not in excluded]
    return Seat(admins[0], None) if admins else None


async def first_seat(session: AsyncSession, initiative: Initiative) -> Seat | None:
    """Who answers an initiative that nobody holds yet: the lowest leader of the scope's
    chain, else an admin; never the creator."""
    excluded = {initiative.creator_id}
    path = await queries.scope_path(session, initiative)
    return await _leader_seat(session, path, excluded) or await _admin_seat(session, excluded)


async def next_seat_up(session: AsyncSession, initiative: Initiative) -> Seat | None:
    """One leader above whoever holds the initiative now; at the top, the next admin."""
    path = await queries.scope_path(session, initiative)
    ids = [unit.id for unit in path]
    excluded = {initiative.creator_id}
    if initiative.assignee_id is not None:
        excluded.add(initiative.assignee_id)
    if initiative.assignee_id is not None and initiative.assigned_unit_id is None:
        # An admin holds it: the top of the chain.
        return await _admin_seat(session, {initiative.creator_id}, after=initiative.assignee_id)
    above = path
    if initiative.assigned_unit_id in ids:
        above = path[ids.index(initiative.assigned_unit_id) + 1 :]
    return await _leader_seat(session, above, excluded) or await _admin_seat(session, excluded)


def _position(initiative: Initiative, path: Sequence[Unit]) -> int:
    """The index in ``path`` of the unit that holds the initiative (-1: nobody yet;
    ``len(path)``: an admin holds it)."""
    ids = [unit.id for unit in path]
    if initiative.assigned_unit_id in ids:
        return ids.index(initiative.assigned_unit_id)
    if initiative.assignee_id is not None and initiative.assigned_unit_id is None:
        return len(path)
    return -1


async def may_reassign(session: AsyncSession, actor: User, initiative: Initiative) -> bool:
    """Admins, and sitting leaders of a unit above the one that holds the initiative."""
    if actor.is_admin:
        return True
    path = await queries.scope_path(session, initiative)
    led = await queries.led_unit_ids(session, actor.id)
    position = _position(initiative, path)
    return any(unit.id in led for unit in path[position + 1 :])


async def seat_of(session: AsyncSession, initiative: Initiative, candidate: User) -> Seat | None:
    """Where ``candidate`` could answer: the lowest unit of the scope's chain they lead, else
    as an admin; never the creator."""
    if candidate.is_deleted or candidate.id == initiative.creator_id:
        return None
    led = await queries.led_unit_ids(session, candidate.id)
    for unit in await queries.scope_path(session, initiative):
        if unit.id in led:
            return Seat(candidate, unit)
    return Seat(candidate, None) if candidate.is_admin else None


async def _current_seat(session: AsyncSession, initiative: Initiative) -> Seat | None:
    """The seat of whoever holds the initiative now (None when nobody does)."""
    holder = await session.get(User, initiative.assignee_id) if initiative.assignee_id else None
    if holder is None:
        return None
    unit_id = initiative.assigned_unit_id
    return Seat(holder, await session.get(Unit, unit_id) if unit_id else None)


# --- handing over ---------------------------------------------------------------------------


def _held_by(initiative: Initiative) -> dict[str, Any]:
    # What a hand-over changes, as the audit record's "before".
    return {
        "status": initiative.status,
        "assignee_id": initiative.assignee_id,
        "assigned_unit_id": initiative.assigned_unit_id,
        "answer_due_at": initiative.answer_due_at,
    }


def _seat(settings: Settings, initiative: Initiative, seat: Seat) -> bool:
    """Put the initiative in ``seat`` with a fresh answer deadline; returns whether this is its
    first assignment (a later one counts in ``reassign_count``)."""
    now = clock.now()
    first = initiative.assignee_id is None and initiative.assigned_at is None
    initiative.status = InitiativeStatus.ASSIGNED
    initiative.assignee_id = seat.user.id
    initiative.assigned_unit_id = seat.unit.id if seat.unit else None
    initiative.assigned_level = seat.unit.level if seat.unit else None
    initiative.assigned_at = now
    initiative.answer_due_at = now + timedelta(days=settings.initiative_answer_days)
    if not first:
        initiative.reassign_count += 1
    return first


def _told_of_hand_over(
    initiative: Initiative, previous: uuid.UUID | None, *, first: bool
) -> list[Tell]:
    """The new holder is told; on a reassignment the creator and the previous holder too (not
    the new holder twice). One key per step: a retry tells nobody twice."""
    assert initiative.assignee_id is not None and initiative.answer_due_at is not None
    step = initiative.reassign_count
    told = [
        Tell(
            NotificationType.INITIATIVE_ASSIGNED,
            [initiative.assignee_id],
            dedupe_key=f"initiative:{initiative.id}:assigned:{step}",
            params={
                "title": initiative.title,
                "due_date": initiative.answer_due_at.date().isoformat(),
                "initiative_id": initiative.id,
            },
        )
    ]
    if not first:
        others = [uid for uid in (initiative.creator_id, previous) if uid != initiative.assignee_id]
        told.append(
            Tell(
                NotificationType.INITIATIVE_REASSIGNED,
                others,
                dedupe_key=f"initiative:{initiative.id}:reassigned:{step}",
                params={"title": initiative.title, "initiative_id": initiative.id},
            )
        )
    return told


async def hand_over(
    session: AsyncSession,
    settings: Settings,
    initiative: Initiative,
    seat: Seat,
    *,
    actor_id: uuid.UUID | None,
    reason: str,
) -> None:
    """Give the (locked) initiative to ``seat`` with a fresh answer deadline, and tell the new
    holder, and on a reassignment the creator and the previous holder."""
    old = _held_by(initiative)
    first = _seat(settings, initiative, seat)
    await transition(
        session,
        action="initiatives.assigned" if first else "initiatives.reassigned",
        entity_type="initiative",
        entity_id=initiative.id,
        actor_id=actor_id,
        old=old,
        new={
            "status": initiative.status,
            "assignee_id": initiative.assignee_id,
            "assigned_unit_id": initiative.assigned_unit_id,
            "assigned_level": initiative.assigned_level,
            "answer_due_at": initiative.answer_due_at,
            "reason": reason,
        },
        tell=_told_of_hand_over(initiative, old["assignee_id"], first=first),
    )


# --- the threshold --------------------------------------------------------------------------


def threshold_event(initiative: Initiative) -> dict[str, Any]:
    """The data of ``THRESHOLD_EVENT`` (docs/initiatives.md)."""
    return {
        "initiative_id": str(initiative.id),
        "title": initiative.title,
        "scope_type": initiative.scope_type.value,
        "scope_id": str(initiative.scope_id) if initiative.scope_id else None,
        "target_support": initiative.target_support,
        "current_support": initiative.current_support,
        "status": initiative.status.value,
        "assignee_id": str(initiative.assignee_id) if initiative.assignee_id else None,
        "answer_due_at": initiative.answer_due_at.isoformat() if initiative.answer_due_at else None,
    }


async def achieve(session: AsyncSession, settings: Settings, initiative: Initiative) -> None:
    """The target is reached (the row is locked): ``achieved``, then at once ``assigned`` to
    whoever answers. With nobody to take it, it stays ``achieved`` and the hourly sweep tries
    again. The creator and the assignee get ``THRESHOLD_EVENT`` after commit."""
    initiative.status = InitiativeStatus.ACHIEVED
    initiative.achieved_at = clock.now()
    await transition(
        session,
        action="initiatives.achieved",
        entity_type="initiative",
        entity_id=initiative.id,
        actor_id=None,
        old={"status": InitiativeStatus.ACTIVE},
        new={"status": initiative.status, "current_support": initiative.current_support},
        tell=[
            Tell(
                NotificationType.INITIATIVE_SUPPORTED_THRESHOLD,
                [initiative.creator_id],
                dedupe_key=f"initiative:{initiative.id}:threshold",
                params={
                    "title": initiative.title,
                    "target": initiative.target_support,
                    "initiative_id": initiative.id,
                },
            )
        ],
    )
    seat = await first_seat(session, initiative)
    if seat is not None:
        await hand_over(session, settings, initiative, seat, actor_id=None, reason="threshold")
    # Published once the state is final, so the event shows who answers.
    data = threshold_event(initiative)
    for user_id in dict.fromkeys(
        uid for uid in (initiative.creator_id, initiative.assignee_id) if uid is not None
    ):
        publish_event(session, user_channel(user_id), THRESHOLD_EVENT, data)


# --- the answer-deadline sweep --------------------------------------------------------------


async def sweep_one(session: AsyncSession, settings: Settings, initiative: Initiative) -> bool:
    """Move one due initiative (locked by the caller) one leader up, or give a waiting one its
    first assignee. Returns whether it changed hands."""
    if initiative.status is InitiativeStatus.ACHIEVED:
        seat = await first_seat(session, initiative)
        if seat is None:
            return False
        await hand_over(session, settings, initiative, seat, actor_id=None, reason="waiting")
        return True
    # Nobody above and no other admin: it stays with its holder, with a fresh deadline and a
    # reminder, so the sweep does not find it again every hour.
    seat = await next_seat_up(session, initiative) or await _current_seat(session, initiative)
    if seat is None:
        return False
    await hand_over(session, settings, initiative, seat, actor_id=None, reason="deadline")
    return True


async def sweep_batch(session: AsyncSession, settings: Settings, *, limit: int) -> tuple[int, int]:
    """One bounded batch of the sweep, in the caller's transaction: lock up to ``limit`` due
    initiatives (``SKIP LOCKED``: another sweep's or a request's rows are left alone), then
    move each. Returns (initiatives taken, initiatives moved)."""
    ids = await queries.due_ids(session, clock.now(), limit)
    if not ids:
        return 0, 0
    moved = 0
    for initiative in await queries.initiatives_by_ids(session, ids):
        if await sweep_one(session, settings, initiative):
            moved += 1
    return len(ids), moved
