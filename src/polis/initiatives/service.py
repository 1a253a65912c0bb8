"""The rules of initiatives (DESIGN.md §3.6; choices in docs/initiatives.md). Flush only.

Concurrency: every change to an initiative (support, withdrawal, edit, publish, assignment,
answer, the deadline sweep) locks its row (``SELECT … FOR UPDATE``) and re-reads it first. So
twenty supports arriving at once for the last missing one are serialised on that row: the one
that reaches the target sees ``active`` and makes the single transition (achieved, assigned,
one set of notifications, one real-time event); the others then see ``assigned`` and are
refused with 409/3052. ``current_support`` is recounted from the rows under the same lock, so
it always equals the number of supports. The unique (initiative, member) constraint backs the
once-per-member rule.

Who answers: the sitting leader of the scope's unit; when that seat is empty (or held by the
creator), the next leader up the scope unit's chain; with no leader at all, an admin (the
longest-standing one). A national initiative goes to an admin: the nation has no single leader
(the satatbiro is a council). Past the answer deadline it moves one leader up the same way; at
the top (an admin holds it) it moves to the next admin, or stays with a fresh deadline when
there is no other.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from polis.audit.service import record
from polis.config import Settings
from polis.initiatives import queries
from polis.initiatives.models import (
    Initiative,
    InitiativeCategory,
    InitiativeScope,
    InitiativeStatus,
    InitiativeSupport,
)
from polis.kit import clock
from polis.kit.errors import (
    BusinessRuleViolation,
    Conflict,
    ErrorCode,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from polis.kit.events import publish_event
from polis.notifications.models import NotificationType
from polis.notifications.service import notify
from polis.realtime.schemas import user_channel
from polis.units.models import Unit
from polis.units.queries import leaders_of
from polis.users import service as users_service
from polis.users.models import User

THRESHOLD_EVENT = "initiative.support_threshold_reached"
# The sweep's bounds per run: what is left waits for the next hourly run.
SWEEP_BATCH_SIZE = 200
SWEEP_MAX_BATCHES = 20


# --- scope --------------------------------------------------------------------------------


def minimum_target(settings: Settings, scope: InitiativeScope) -> int:
    """The smallest support target allowed for ``scope`` (settings, §3.6)."""
    minimum: int = getattr(settings, f"initiative_min_support_{scope.value}")
    return minimum


async def _check_in_scope(
    session: AsyncSession, user: User, scope: InitiativeScope, scope_id: uuid.UUID | None
) -> None:
    # Every verified member belongs to the nation; a unit scope holds the members of the
    # ateulis at or under it.
    if scope is InitiativeScope.NATIONAL:
        return
    if not any(unit.id == scope_id for unit in await queries.chain_of(session, user.id)):
        raise PermissionDenied(error=ErrorCode.INITIATIVE_NOT_IN_SCOPE)


async def _scope_unit(
    session: AsyncSession, scope: InitiativeScope, scope_id: uuid.UUID | None
) -> Unit | None:
    if scope is InitiativeScope.NATIONAL:
        if scope_id is not None:
            raise ValidationFailed(
                "A national initiative has no scope_id.",
                error=ErrorCode.BAD_FORMAT,
                details={"field": "scope_id"},
            )
        return None
    if scope_id is None:
        raise ValidationFailed(
            f"scope_id is required for scope_type {scope.value}.",
            error=ErrorCode.MISSING_FIELD,
            details={"field": "scope_id"},
        )
    unit = await session.get(Unit, scope_id)
    if unit is None or unit.level is not scope.unit_level:
        raise NotFound(f"No such {scope.value}.")
    return unit


def _check_target(settings: Settings, scope: InitiativeScope, target: int) -> None:
    minimum = minimum_target(settings, scope)
    if target < minimum:
        raise BusinessRuleViolation(
            f"The support target of a {scope.value} initiative is at least {minimum}.",
            error=ErrorCode.INITIATIVE_TARGET_TOO_LOW,
            details={"field": "target_support", "minimum": minimum, "scope_type": scope.value},
        )


# --- creating and editing -------------------------------------------------------------------


async def create_initiative(
    session: AsyncSession,
    settings: Settings,
    creator: User,
    *,
    title: str,
    description: str,
    category: InitiativeCategory,
    scope_type: InitiativeScope,
    scope_id: uuid.UUID | None,
    target_support: int,
    draft: bool = False,
) -> Initiative:
    """Start an initiative (``active``, or ``draft`` when asked) for a scope ``creator``
    (verified: the route's dependency) belongs to.

    Refusals: 2001 ``scope_id`` missing for a unit scope, 2002 sent for ``national``, 404 no
    unit of that level, 403/3050 not a member of the scope, 422/3051 target below the scope's
    minimum.
    """
    unit = await _scope_unit(session, scope_type, scope_id)
    await _check_in_scope(session, creator, scope_type, unit.id if unit else None)
    _check_target(settings, scope_type, target_support)
    now = clock.now()
    initiative = Initiative(
        title=title,
        description=description,
        category=category,
        scope_type=scope_type,
        scope_id=unit.id if unit else None,
        target_support=target_support,
        current_support=0,
        status=InitiativeStatus.DRAFT if draft else InitiativeStatus.ACTIVE,
        creator_id=creator.id,
        published_at=None if draft else now,
    )
    session.add(initiative)
    await session.flush()
    await record(
        session,
        action="initiatives.created",
        entity_type="initiative",
        entity_id=initiative.id,
        actor_id=creator.id,
        new={
            "status": initiative.status,
            "scope_type": scope_type,
            "scope_id": initiative.scope_id,
            "target_support": target_support,
            "category": category,
        },
    )
    return initiative


@dataclass(frozen=True)
class InitiativeChanges:
    title: str | None = None
    description: str | None = None
    category: InitiativeCategory | None = None
    target_support: int | None = None


async def _own(session: AsyncSession, user: User, initiative_id: uuid.UUID) -> Initiative:
    initiative = await queries.visible_initiative(session, user, initiative_id)
    if initiative.creator_id != user.id:
        raise PermissionDenied("Only the initiative's creator may do this.")
    return await queries.get_initiative(session, initiative_id, lock=True)


async def update_initiative(
    session: AsyncSession,
    settings: Settings,
    user: User,
    initiative_id: uuid.UUID,
    changes: InitiativeChanges,
) -> Initiative:
    """Change the text, category or target, by the creator, while a draft or before anyone
    ever supported it (what members signed must not change under them).

    Refusals: 404, 403/1004 not the creator, 409/3055 supported already (or answered),
    422/3051 a target below the scope's minimum.
    """
    initiative = await _own(session, user, initiative_id)
    editable = initiative.status is InitiativeStatus.DRAFT or (
        initiative.status is InitiativeStatus.ACTIVE and initiative.first_supported_at is None
    )
    if not editable:
        raise Conflict(
            error=ErrorCode.INITIATIVE_LOCKED, details={"status": initiative.status.value}
        )
    if changes.target_support is not None:
        _check_target(settings, initiative.scope_type, changes.target_support)
    old: dict[str, Any] = {}
    new: dict[str, Any] = {}
    for name in ("title", "description", "category", "target_support"):
        value = getattr(changes, name)
        if value is not None and value != getattr(initiative, name):
            old[name] = getattr(initiative, name)
            new[name] = value
            setattr(initiative, name, value)
    if new:
        await session.flush()
        await record(
            session,
            action="initiatives.updated",
            entity_type="initiative",
            entity_id=initiative.id,
            actor_id=user.id,
            old={k: v for k, v in old.items() if k != "description"},
            new={k: v for k, v in new.items() if k != "description"}
            | ({"description_changed": True} if "description" in new else {}),
        )
    return initiative


async def publish(session: AsyncSession, user: User, initiative_id: uuid.UUID) -> Initiative:
    """Open a draft for support (creator only; still a member of its scope).

    Refusals: 404, 403/1004 not the creator, 409/3052 not a draft, 403/3050 no longer in scope.
    """
    initiative = await _own(session, user, initiative_id)
    if initiative.status is not InitiativeStatus.DRAFT:
        raise Conflict(
            "Only a draft can be published.",
            error=ErrorCode.INITIATIVE_WRONG_STATE,
            details={"status": initiative.status.value},
        )
    await _check_in_scope(session, user, initiative.scope_type, initiative.scope_id)
    initiative.status = InitiativeStatus.ACTIVE
    initiative.published_at = clock.now()
    await session.flush()
    await record(
        session,
        action="initiatives.published",
        entity_type="initiative",
        entity_id=initiative.id,
        actor_id=user.id,
        old={"status": InitiativeStatus.DRAFT},
        new={"status": initiative.status},
    )
    return initiative


# --- support --------------------------------------------------------------------------------


async def _recount(session: AsyncSession, initiative: Initiative) -> None:
    initiative.current_support = await queries.support_count(session, initiative.id)
    await session.flush()


def _check_active(initiative: Initiative, doing: str) -> None:
    if initiative.status is not InitiativeStatus.ACTIVE:
        raise Conflict(
            f"Only an active initiative can be {doing}.",
            error=ErrorCode.INITIATIVE_WRONG_STATE,
            details={"status": initiative.status.value},
        )


async def support(
    session: AsyncSession,
    settings: Settings,
    user: User,
    initiative_id: uuid.UUID,
    *,
    comment: str | None,
    public: bool,
) -> Initiative:
    """Add ``user``'s support (verified: the route's dependency). The support that reaches the
    target makes the initiative ``achieved`` and hands it to its leader at once.

    Refusals, in this order: 404 (others' drafts too), 403/3050 not a member of the scope,
    409/3052 not active (a draft, or already achieved), 409/3053 supported already.
    """
    initiative = await queries.visible_initiative(session, user, initiative_id)
    await _check_in_scope(session, user, initiative.scope_type, initiative.scope_id)
    initiative = await queries.get_initiative(session, initiative_id, lock=True)
    _check_active(initiative, "supported")
    if await queries.has_supported(session, initiative.id, user.id):
        raise Conflict(error=ErrorCode.ALREADY_SUPPORTED)
    session.add(
        InitiativeSupport(
            initiative_id=initiative.id, user_id=user.id, comment=comment, public=public
        )
    )
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise Conflict(error=ErrorCode.ALREADY_SUPPORTED) from None
    if initiative.first_supported_at is None:
        initiative.first_supported_at = clock.now()
    await _recount(session, initiative)
    if initiative.current_support >= initiative.target_support:
        await _achieve(session, settings, initiative)
    return initiative


async def withdraw(session: AsyncSession, user: User, initiative_id: uuid.UUID) -> Initiative:
    """Take back ``user``'s support while the initiative is active.

    Refusals: 404, 409/3052 not active, 409/3054 ``user`` does not support it.
    """
    await queries.visible_initiative(session, user, initiative_id)
    initiative = await queries.get_initiative(session, initiative_id, lock=True)
    _check_active(initiative, "withdrawn from")
    removed = await session.scalar(
        delete(InitiativeSupport)
        .where(
            InitiativeSupport.initiative_id == initiative.id, InitiativeSupport.user_id == user.id
        )
        .returning(InitiativeSupport.id)
    )
    if removed is None:
        raise Conflict(error=ErrorCode.NOT_SUPPORTED)
    await _recount(session, initiative)
    return initiative


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


async def _first_seat(session: AsyncSession, initiative: Initiative) -> Seat | None:
    excluded = {initiative.creator_id}
    path = await queries.scope_path(session, initiative)
    return await _leader_seat(session, path, excluded) or await _admin_seat(session, excluded)


async def _next_seat_up(session: AsyncSession, initiative: Initiative) -> Seat | None:
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


async def _seat_of(session: AsyncSession, initiative: Initiative, candidate: User) -> Seat | None:
    """Where ``candidate`` could answer: the lowest unit of the scope's chain they lead, else
    as an admin; never the creator."""
    if candidate.is_deleted or candidate.id == initiative.creator_id:
        return None
    led = await queries.led_unit_ids(session, candidate.id)
    for unit in await queries.scope_path(session, initiative):
        if unit.id in led:
            return Seat(candidate, unit)
    return Seat(candidate, None) if candidate.is_admin else None


# --- transitions ----------------------------------------------------------------------------


def _threshold_event(initiative: Initiative) -> dict[str, Any]:
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


async def _achieve(session: AsyncSession, settings: Settings, initiative: Initiative) -> None:
    """The target is reached (the row is locked): ``achieved``, then at once ``assigned`` to
    whoever answers. With nobody to take it, it stays ``achieved`` and the hourly sweep tries
    again."""
    initiative.status = InitiativeStatus.ACHIEVED
    initiative.achieved_at = clock.now()
    await session.flush()
    await record(
        session,
        action="initiatives.achieved",
        entity_type="initiative",
        entity_id=initiative.id,
        old={"status": InitiativeStatus.ACTIVE},
        new={"status": initiative.status, "current_support": initiative.current_support},
    )
    await notify(
        session,
        initiative.creator_id,
        NotificationType.INITIATIVE_SUPPORTED_THRESHOLD,
        {
            "title": initiative.title,
            "target": initiative.target_support,
            "initiative_id": initiative.id,
        },
        dedupe_key=f"initiative:{initiative.id}:threshold",
    )
    seat = await _first_seat(session, initiative)
    if seat is not None:
        await _hand_over(session, settings, initiative, seat, actor_id=None, reason="threshold")
    data = _threshold_event(initiative)
    for user_id in dict.fromkeys(
        uid for uid in (initiative.creator_id, initiative.assignee_id) if uid is not None
    ):
        publish_event(session, user_channel(user_id), THRESHOLD_EVENT, data)


async def _hand_over(
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
    previous = initiative.assignee_id
    old = {
        "status": initiative.status,
        "assignee_id": previous,
        "assigned_unit_id": initiative.assigned_unit_id,
        "answer_due_at": initiative.answer_due_at,
    }
    now = clock.now()
    first = previous is None and initiative.assigned_at is None
    initiative.status = InitiativeStatus.ASSIGNED
    initiative.assignee_id = seat.user.id
    initiative.assigned_unit_id = seat.unit.id if seat.unit else None
    initiative.assigned_level = seat.unit.level if seat.unit else None
    initiative.assigned_at = now
    initiative.answer_due_at = now + timedelta(days=settings.initiative_answer_days)
    if not first:
        initiative.reassign_count += 1
    await session.flush()
    step = initiative.reassign_count
    await notify(
        session,
        seat.user.id,
        NotificationType.INITIATIVE_ASSIGNED,
        {
            "title": initiative.title,
            "due_date": initiative.answer_due_at.date().isoformat(),
            "initiative_id": initiative.id,
        },
        dedupe_key=f"initiative:{initiative.id}:assigned:{step}",
    )
    if not first:
        for user_id in dict.fromkeys(
            uid for uid in (initiative.creator_id, previous) if uid not in (None, seat.user.id)
        ):
            assert user_id is not None
            await notify(
                session,
                user_id,
                NotificationType.INITIATIVE_REASSIGNED,
                {"title": initiative.title, "initiative_id": initiative.id},
                dedupe_key=f"initiative:{initiative.id}:reassigned:{step}",
            )
    await record(
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
    )


async def assign(
    session: AsyncSession,
    settings: Settings,
    actor: User,
    initiative_id: uuid.UUID,
    assignee_id: uuid.UUID,
) -> Initiative:
    """Hand an achieved or assigned initiative to ``assignee_id`` (a leader of the scope's
    chain, or an admin), with a fresh deadline. By an admin, or a leader above the holder.

    Refusals: 404 initiative or member, 403/1004 neither an admin nor a higher leader,
    409/3052 not achieved or assigned, 422/3056 the member may not answer it.
    """
    initiative = await queries.visible_initiative(session, actor, initiative_id)
    if not await may_reassign(session, actor, initiative):
        raise PermissionDenied("Only admins and leaders above its holder may reassign this.")
    initiative = await queries.get_initiative(session, initiative_id, lock=True)
    if initiative.status not in (InitiativeStatus.ACHIEVED, InitiativeStatus.ASSIGNED):
        raise Conflict(
            "Only an achieved or assigned initiative can be assigned.",
            error=ErrorCode.INITIATIVE_WRONG_STATE,
            details={"status": initiative.status.value},
        )
    assignee = await users_service.get_member(session, assignee_id)
    seat = await _seat_of(session, initiative, assignee)
    if seat is None:
        raise ValidationFailed(error=ErrorCode.ASSIGNEE_NOT_ELIGIBLE)
    await _hand_over(session, settings, initiative, seat, actor_id=actor.id, reason="by_hand")
    return initiative


async def _answerable(session: AsyncSession, user: User, initiative_id: uuid.UUID) -> Initiative:
    initiative = await queries.visible_initiative(session, user, initiative_id)
    if initiative.assignee_id != user.id:
        raise PermissionDenied("Only the member the initiative is assigned to may answer it.")
    initiative = await queries.get_initiative(session, initiative_id, lock=True)
    if initiative.status is not InitiativeStatus.ASSIGNED:
        raise Conflict(
            "Only an assigned initiative can be answered.",
            error=ErrorCode.INITIATIVE_WRONG_STATE,
            details={"status": initiative.status.value},
        )
    if initiative.assignee_id != user.id:  # moved on while we waited for the lock
        raise PermissionDenied("Only the member the initiative is assigned to may answer it.")
    return initiative


async def complete(
    session: AsyncSession, user: User, initiative_id: uuid.UUID, outcome: str
) -> Initiative:
    """The assignee's answer: done, with ``outcome``. The creator is told.

    Refusals: 404, 403/1004 not the assignee, 409/3052 not assigned.
    """
    initiative = await _answerable(session, user, initiative_id)
    initiative.status = InitiativeStatus.COMPLETED
    initiative.outcome = outcome
    initiative.answered_at = clock.now()
    await session.flush()
    await notify(
        session,
        initiative.creator_id,
        NotificationType.INITIATIVE_COMPLETED,
        {"title": initiative.title, "initiative_id": initiative.id},
        dedupe_key=f"initiative:{initiative.id}:completed",
    )
    await record(
        session,
        action="initiatives.completed",
        entity_type="initiative",
        entity_id=initiative.id,
        actor_id=user.id,
        old={"status": InitiativeStatus.ASSIGNED},
        new={"status": initiative.status},
    )
    return initiative


async def reject(
    session: AsyncSession, user: User, initiative_id: uuid.UUID, reason: str
) -> Initiative:
    """The assignee's answer: refused, with ``reason``. The creator is told.

    Refusals: 404, 403/1004 not the assignee, 409/3052 not assigned.
    """
    initiative = await _answerable(session, user, initiative_id)
    initiative.status = InitiativeStatus.REJECTED
    initiative.reject_reason = reason
    initiative.answered_at = clock.now()
    await session.flush()
    await notify(
        session,
        initiative.creator_id,
        NotificationType.INITIATIVE_REJECTED,
        {"title": initiative.title, "reason": reason, "initiative_id": initiative.id},
        dedupe_key=f"initiative:{initiative.id}:rejected",
    )
    await record(
        session,
        action="initiatives.rejected",
        entity_type="initiative",
        entity_id=initiative.id,
        actor_id=user.id,
        old={"status": InitiativeStatus.ASSIGNED},
        new={"status": initiative.status, "reason": reason},
    )
    return initiative


# --- the hourly sweep -----------------------------------------------------------------------


async def sweep_one(session: AsyncSession, settings: Settings, initiative: Initiative) -> bool:
    """Move one due initiative (locked by the caller) one leader up, or give a waiting one its
    first assignee. Returns whether it changed hands."""
    if initiative.status is InitiativeStatus.ACHIEVED:
        seat = await _first_seat(session, initiative)
        if seat is None:
            return False
        await _hand_over(session, settings, initiative, seat, actor_id=None, reason="waiting")
        return True
    seat = await _next_seat_up(session, initiative)
    if seat is None:
        # Nobody above and no other admin: it stays, with a fresh deadline and a reminder, so
        # the sweep does not find it again every hour.
        holder = await session.get(User, initiative.assignee_id) if initiative.assignee_id else None
        if holder is None:
            return False
        unit_id = initiative.assigned_unit_id
        seat = Seat(holder, await session.get(Unit, unit_id) if unit_id else None)
    await _hand_over(session, settings, initiative, seat, actor_id=None, reason="deadline")
    return True


async def answer_deadline_sweep(
    session: AsyncSession,
    settings: Settings,
    *,
    batch_size: int = SWEEP_BATCH_SIZE,
    max_batches: int = SWEEP_MAX_BATCHES,
    after_commit: Callable[[AsyncSession], Awaitable[None]] | None = None,
) -> int:
    """Move every initiative past its answer deadline one leader up (the system as actor),
    and assign those that reached their target while nobody could take them. Commits after
    each batch (then calls ``after_commit``, which sends the buffered events). Idempotent: a
    moved initiative has a fresh deadline; safe with two runs at once (SKIP LOCKED)."""
    total = 0
    for _ in range(max_batches):
        now = clock.now()
        ids = await queries.due_ids(session, now, batch_size)
        moved = 0
        if ids:
            for initiative in await queries.initiatives_by_ids(session, ids):
                if await sweep_one(session, settings, initiative):
                    moved += 1
        await session.commit()
        if after_commit is not None:
            await after_commit(session)
        total += moved
        # A short batch is the last; a batch where nothing could move (achieved initiatives
        # with nobody to take them) would only be read again.
        if len(ids) < batch_size or moved == 0:
            break
    return total
