"""The rules of initiatives (DESIGN.md §3.6; choices in docs/initiatives.md). Flush only.

Concurrency: every change to an initiative (support, withdrawal, edit, publish, assignment,
answer, the deadline sweep) locks its row (``SELECT … FOR UPDATE``) and re-reads it first. So
twenty supports arriving at once for the last missing one are serialised on that row: the one
that reaches the target sees ``active`` and makes the single transition (achieved, assigned,
one set of notifications, one real-time event); the others then see ``assigned`` and are
refused with 409/3052. ``current_support`` is recounted from the rows under the same lock, so
it always equals the number of supports. The unique (initiative, member) constraint backs the
once-per-member rule.

Who answers, and how an initiative is handed over (the threshold, by hand, the sweep), is in
handover.py; the reads are in queries.py.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from polis.audit.transitions import Tell, transition
from polis.config import Settings
from polis.initiatives import handover, queries
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
from polis.notifications.models import NotificationType
from polis.units.models import Unit
from polis.users import service as users_service
from polis.users.models import User

# --- scope ----------------------------------------------------------------------------------


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
    # Flushed first: the audit record names the new row's id.
    await session.flush()
    await transition(
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
    """Change the text, category or target, by the creator, while a draft or while active
    with no current support: what members signed must not change under them, and once the
    last of them has withdrawn nobody has signed it any more.

    Refusals: 404, 403/1004 not the creator, 409/3055 supported now (or answered),
    422/3051 a target below the scope's minimum.
    """
    initiative = await _own(session, user, initiative_id)
    # current_support is recounted under this row's lock by support and withdraw: exact here.
    editable = initiative.status is InitiativeStatus.DRAFT or (
        initiative.status is InitiativeStatus.ACTIVE and initiative.current_support == 0
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
        await transition(
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
    await transition(
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
        await handover.achieve(session, settings, initiative)
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


# --- assigning and answering ----------------------------------------------------------------


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
    if not await handover.may_reassign(session, actor, initiative):
        raise PermissionDenied("Only admins and leaders above its holder may reassign this.")
    initiative = await queries.get_initiative(session, initiative_id, lock=True)
    if initiative.status not in (InitiativeStatus.ACHIEVED, InitiativeStatus.ASSIGNED):
        raise Conflict(
            "Only an achieved or assigned initiative can be assigned.",
            error=ErrorCode.INITIATIVE_WRONG_STATE,
            details={"status": initiative.status.value},
        )
    assignee = await users_service.get_member(session, assignee_id)
    seat = await handover.seat_of(session, initiative, assignee)
    if seat is None:
        raise ValidationFailed(error=ErrorCode.ASSIGNEE_NOT_ELIGIBLE)
    await handover.hand_over(
        session, settings, initiative, seat, actor_id=actor.id, reason="by_hand"
    )
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


async def _supporters_told(
    session: AsyncSession,
    initiative: Initiative,
    type: NotificationType,
    params: dict[str, Any],
) -> Tell:
    # The creator hears the answer in their own words (their Tell); a creator who also
    # supports it is not told twice.
    ids = await queries.supporter_ids(session, initiative.id)
    return Tell(
        type,
        [uid for uid in ids if uid != initiative.creator_id],
        dedupe_key=f"initiative:{initiative.id}:outcome",
        params=params,
    )


async def complete(
    session: AsyncSession, user: User, initiative_id: uuid.UUID, outcome: str
) -> Initiative:
    """The assignee's answer: done, with ``outcome``. The creator and every supporter are
    told (the supporters in one bulk write).

    Refusals: 404, 403/1004 not the assignee, 409/3052 not assigned.
    """
    initiative = await _answerable(session, user, initiative_id)
    initiative.status = InitiativeStatus.COMPLETED
    initiative.outcome = outcome
    initiative.answered_at = clock.now()
    await transition(
        session,
        action="initiatives.completed",
        entity_type="initiative",
        entity_id=initiative.id,
        actor_id=user.id,
        old={"status": InitiativeStatus.ASSIGNED},
        new={"status": initiative.status},
        tell=[
            Tell(
                NotificationType.INITIATIVE_COMPLETED,
                [initiative.creator_id],
                dedupe_key=f"initiative:{initiative.id}:completed",
                params={"title": initiative.title, "initiative_id": initiative.id},
            ),
            await _supporters_told(
                session,
                initiative,
                NotificationType.SUPPORTED_INITIATIVE_COMPLETED,
                {"title": initiative.title, "initiative_id": initiative.id},
            ),
        ],
    )
    return initiative


async def reject(
    session: AsyncSession, user: User, initiative_id: uuid.UUID, reason: str
) -> Initiative:
    """The assignee's answer: refused, with ``reason``. The creator and every supporter are
    told (the supporters in one bulk write).

    Refusals: 404, 403/1004 not the assignee, 409/3052 not assigned.
    """
    initiative = await _answerable(session, user, initiative_id)
    initiative.status = InitiativeStatus.REJECTED
    initiative.reject_reason = reason
    initiative.answered_at = clock.now()
    await transition(
        session,
        action="initiatives.rejected",
        entity_type="initiative",
        entity_id=initiative.id,
        actor_id=user.id,
        old={"status": InitiativeStatus.ASSIGNED},
        new={"status": initiative.status, "reason": reason},
        tell=[
            Tell(
                NotificationType.INITIATIVE_REJECTED,
                [initiative.creator_id],
                dedupe_key=f"initiative:{initiative.id}:rejected",
                params={
                    "title": initiative.title,
                    "reason": reason,
                    "initiative_id": initiative.id,
                },
            ),
            await _supporters_told(
                session,
                initiative,
                NotificationType.SUPPORTED_INITIATIVE_REJECTED,
                {"title": initiative.title, "reason": reason, "initiative_id": initiative.id},
            ),
        ],
    )
    return initiative
