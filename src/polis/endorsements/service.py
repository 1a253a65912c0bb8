"""The rules of endorsements (DESIGN.md §3.2): asking, answering, expiring, revoking, and the
admin's limit and lift. Flush only; the caller commits.

Concurrency: a GeDer's slots are counted under a lock on the GeDer's ``users`` row
(``SELECT … FOR UPDATE``), so two approvals racing for the last slot are serialised and the
second one counts the first (409/3001). Every path that changes an endorsement takes its locks
in one order: the GeDer's row, then the endorsement's row, then the member's row (then, through
the units service, their ateuli's row), so no two paths can deadlock (the locks and the
revocation itself are in revocation.py, shared with the penalty). Partial unique indexes back
the one-pending-request and one-tavdebi rules should two requests ever pass a check at once.

The reads are in queries.py, arbitration's fraud penalty in penalties.py. The request lifetime
is a constant rather than a setting (``polis.config`` belongs to no single domain), named and
documented in docs/endorsements.md.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from polis.audit.service import record
from polis.audit.transitions import Tell, transition
from polis.endorsements import queries, revocation
from polis.endorsements.models import (
    MAX_LIMIT,
    MIN_LIMIT,
    Endorsement,
    EndorsementRights,
    EndorsementStatus,
)
from polis.kit import clock
from polis.kit.db import get_or_404
from polis.kit.errors import (
    BusinessRuleViolation,
    Conflict,
    ErrorCode,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from polis.notifications.models import NotificationType
from polis.notifications.service import notify
from polis.users import service as users_service
from polis.users.models import User, UserRole

# A pending request expires this long after it was made (§3.2).
REQUEST_LIFETIME = timedelta(days=7)


# --- asking ---------------------------------------------------------------------------------


async def request_endorsement(
    session: AsyncSession, user: User, *, geder_id: uuid.UUID, message: str | None
) -> Endorsement:
    """Ask the GeDer ``geder_id`` to vouch for ``user`` (onboarded: the route's dependency).

    Refusals: 403/1004 unless ``user`` is unverified; 403/3013 diaspora; 422/3007 oneself;
    404 unknown GeDer; 403/3016 another district; 409/3017 a request already pending;
    403/3018 the GeDer is suspended; 409/3001 the GeDer has no free slot.
    """
    _check_asker(user, geder_id)
    geder = await _geder_to_ask(session, user, geder_id)
    # The member's own row serialises their requests; the partial unique index is the backstop.
    await revocation.lock_user(session, user.id)
    await _refuse_pending(session, user)
    # Checked here for a clear answer at once; approval counts again under the GeDer's lock.
    await _require_free_slot(session, geder)
    endorsement = await _add_request(session, user, geder, message)
    await transition(
        session,
        action="endorsements.requested",
        entity_type="endorsement",
        entity_id=endorsement.id,
        actor_id=user.id,
        new={"geder_id": geder.id, "expires_at": endorsement.expires_at},
        tell=[
            Tell(
                NotificationType.ENDORSEMENT_REQUESTED,
                [geder.id],
                f"endorsement-requested:{endorsement.id}",
                {"requester_name": user.display_name, "endorsement_id": endorsement.id},
            )
        ],
    )
    return endorsement


def _check_asker(user: User, geder_id: uuid.UUID) -> None:
    """Only an unverified member with a district asks, and never themselves."""
    if user.role is not UserRole.UNVERIFIED:
        raise PermissionDenied("Only members without GeD or a tavdebi ask to be endorsed.")
    if user.is_diaspora:
        raise PermissionDenied(
            "Diaspora members are not endorsed: they have no district.",
            error=ErrorCode.DIASPORA_EXCLUDED,
        )
    if geder_id == user.id:
        raise BusinessRuleViolation(error=ErrorCode.CANNOT_ENDORSE_SELF)


async def _geder_to_ask(session: AsyncSession, user: User, geder_id: uuid.UUID) -> User:
    """The live GeDer ``geder_id`` (else 404), of ``user``'s own district (else 403/3016)."""
    geder = await get_or_404(session, User, geder_id, missing=queries.NO_GEDER)
    if geder.is_deleted or geder.role is not UserRole.GEDER:
        raise NotFound(queries.NO_GEDER)
    if geder.territory_id is None or geder.territory_id != user.territory_id:
        raise PermissionDenied(error=ErrorCode.DIFFERENT_DISTRICT)
    return geder


async def _refuse_pending(session: AsyncSession, user: User) -> None:
    pending = await queries.pending_request_of(session, user.id)
    if pending is not None:
        raise Conflict(
            error=ErrorCode.ENDORSEMENT_REQUEST_PENDING,
            details={"endorsement_id": str(pending.id)},
        )


async def _require_free_slot(session: AsyncSession, geder: User) -> None:
    """Refuse a suspended GeDer (403/3018) or one without a free slot (409/3001)."""
    rights = await queries.rights_of(session, geder.id)
    if queries.is_suspended(rights):
        raise PermissionDenied(error=ErrorCode.ENDORSEMENT_SUSPENDED)
    limit = queries.limit_of(rights)
    if await queries.used_slots(session, geder.id) >= limit:
        raise Conflict(error=ErrorCode.ENDORSEMENT_LIMIT_REACHED, details={"limit": limit})


async def _add_request(
    session: AsyncSession, user: User, geder: User, message: str | None
) -> Endorsement:
    """The pending request, flushed; 409/3017 should a racing request have won the index."""
    now = clock.now()
    endorsement = Endorsement(
        requester_id=user.id,
        geder_id=geder.id,
        message=message,
        requested_at=now,
        expires_at=now + REQUEST_LIFETIME,
    )
    session.add(endorsement)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise Conflict(error=ErrorCode.ENDORSEMENT_REQUEST_PENDING) from None
    return endorsement


# --- deciding -------------------------------------------------------------------------------


async def _pending_for_decision(
    session: AsyncSession, geder: User, endorsement_id: uuid.UUID
) -> Endorsement:
    """Lock the GeDer, then the endorsement; refuse unless it is this GeDer's and pending.

    A request past its deadline that the hourly job has not reached yet is expired here, and
    the refusal keeps that change.
    """
    endorsement = await queries.get_endorsement(session, endorsement_id)
    if endorsement.geder_id != geder.id:
        raise PermissionDenied("Only the GeDer asked may answer this request.")
    _, endorsement = await revocation.lock_geder_then_endorsement(session, endorsement)
    if endorsement.status is not EndorsementStatus.PENDING:
        raise Conflict(
            error=ErrorCode.ENDORSEMENT_NOT_PENDING, details={"status": endorsement.status.value}
        )
    if endorsement.expires_at <= clock.now():
        await _expire(session, endorsement, geder_name=geder.display_name)
        raise Conflict(
            "This request has expired.",
            error=ErrorCode.ENDORSEMENT_NOT_PENDING,
            details={"status": EndorsementStatus.EXPIRED.value},
            keep_changes=True,
        )
    return endorsement


async def approve(session: AsyncSession, geder: User, endorsement_id: uuid.UUID) -> Endorsement:
    """Vouch for the requester: they become a ``supporter`` with ``geder`` as tavdebi.

    Refusals: 404 unknown; 403/1004 another GeDer's request; 409/3019 not pending (or
    expired, or the requester no longer needs it); 403/3018 suspended; 409/3001 no free slot,
    counted under the lock on the GeDer's row.
    """
    endorsement = await _pending_for_decision(session, geder, endorsement_id)
    await _require_free_slot(session, geder)
    requester = await revocation.lock_user(session, endorsement.requester_id)
    if requester is None or requester.is_deleted or requester.role is not UserRole.UNVERIFIED:
        raise Conflict(
            "The requester no longer needs an endorsement.",
            error=ErrorCode.ENDORSEMENT_NOT_PENDING,
        )
    now = clock.now()
    endorsement.status = EndorsementStatus.APPROVED
    endorsement.decided_at = now
    # The status chosen at onboarding is kept (§3.2): only the role changes.
    requester.role = UserRole.SUPPORTER
    await transition(
        session,
        action="endorsements.approved",
        entity_type="endorsement",
        entity_id=endorsement.id,
        actor_id=geder.id,
        old={"status": EndorsementStatus.PENDING, "role": UserRole.UNVERIFIED},
        new={"status": endorsement.status, "role": requester.role, "tavdebi_id": geder.id},
        tell=[
            Tell(
                NotificationType.ENDORSEMENT_APPROVED,
                [requester.id],
                f"endorsement-approved:{endorsement.id}",
                {"geder_name": geder.display_name, "endorsement_id": endorsement.id},
            )
        ],
    )
    return endorsement


async def reject(
    session: AsyncSession, geder: User, endorsement_id: uuid.UUID, reason: str
) -> Endorsement:
    """Decline the request with ``reason``. Refusals as for :func:`approve`, without slots."""
    endorsement = await _pending_for_decision(session, geder, endorsement_id)
    endorsement.status = EndorsementStatus.REJECTED
    endorsement.decided_at = clock.now()
    endorsement.reject_reason = reason
    await transition(
        session,
        action="endorsements.rejected",
        entity_type="endorsement",
        entity_id=endorsement.id,
        actor_id=geder.id,
        new={"status": endorsement.status, "reason": reason},
        tell=[
            Tell(
                NotificationType.ENDORSEMENT_REJECTED,
                [endorsement.requester_id],
                f"endorsement-rejected:{endorsement.id}",
                {
                    "geder_name": geder.display_name,
                    "reason": reason,
                    "endorsement_id": endorsement.id,
                },
            )
        ],
    )
    return endorsement


async def _expire(session: AsyncSession, endorsement: Endorsement, *, geder_name: str) -> None:
    endorsement.status = EndorsementStatus.EXPIRED
    endorsement.decided_at = clock.now()
    await transition(
        session,
        action="endorsements.expired",
        entity_type="endorsement",
        entity_id=endorsement.id,
        actor_id=None,
        new={"status": endorsement.status},
        tell=[
            Tell(
                NotificationType.ENDORSEMENT_EXPIRED,
                [endorsement.requester_id],
                f"endorsement-expired:{endorsement.id}",
                {"geder_name": geder_name, "endorsement_id": endorsement.id},
            )
        ],
    )


async def expire_requests(session: AsyncSession) -> int:
    """Expire every pending request past its deadline; return how many. Idempotent: a row
    another transaction holds is skipped (it is being decided), and an expired one is never
    read again."""
    due = (
        await session.scalars(
            select(Endorsement)
            .where(
                Endorsement.status == EndorsementStatus.PENDING,
                Endorsement.expires_at <= clock.now(),
            )
            .order_by(Endorsement.expires_at)
            .with_for_update(skip_locked=True)
        )
    ).all()
    names = await users_service.people(session, {e.geder_id for e in due})
    for endorsement in due:
        geder = names.get(endorsement.geder_id)
        await _expire(session, endorsement, geder_name=geder.display_name if geder else "GeDer")
    return len(due)


# --- revoking -------------------------------------------------------------------------------


async def revoke(
    session: AsyncSession, actor: User, endorsement_id: uuid.UUID, reason: str
) -> Endorsement:
    """Take back an approved endorsement (by its GeDer or an admin). The slot frees.

    Refusals: 404 unknown; 403/1004 neither its GeDer nor an admin; 409/3019 not approved.
    """
    endorsement = await queries.get_endorsement(session, endorsement_id)
    if endorsement.geder_id != actor.id and not actor.is_admin:
        raise PermissionDenied("Only the tavdebi or an admin may revoke an endorsement.")
    geder, endorsement = await revocation.lock_geder_then_endorsement(session, endorsement)
    if endorsement.status is not EndorsementStatus.APPROVED or geder is None:
        raise Conflict(
            error=ErrorCode.ENDORSEMENT_NOT_PENDING, details={"status": endorsement.status.value}
        )
    supporter = await revocation.unendorse(session, endorsement, actor_id=actor.id, reason=reason)
    await revocation.tell_revoked(session, endorsement, supporter, geder)
    return endorsement


# --- admin ----------------------------------------------------------------------------------


async def _geder_for_admin(session: AsyncSession, geder_id: uuid.UUID) -> User:
    geder = await revocation.lock_user(session, geder_id)
    if geder is None or geder.is_deleted or geder.role is not UserRole.GEDER:
        raise NotFound(queries.NO_GEDER)
    return geder


async def set_limit(
    session: AsyncSession, admin: User, geder_id: uuid.UUID, limit: int
) -> EndorsementRights:
    """Set a GeDer's endorsement limit (5 to 10, else 422/2003). Endorsements above a lowered
    limit stay; the GeDer approves no more until they are under it."""
    if not MIN_LIMIT <= limit <= MAX_LIMIT:
        raise ValidationFailed(
            f"limit must be between {MIN_LIMIT} and {MAX_LIMIT}",
            error=ErrorCode.OUT_OF_RANGE,
            details={"field": "limit", "min": MIN_LIMIT, "max": MAX_LIMIT},
        )
    geder = await _geder_for_admin(session, geder_id)
    rights = await revocation.rights_for_update(session, geder.id)
    old = rights.endorsement_limit
    rights.endorsement_limit = limit
    await session.flush()
    if old != limit:
        await notify(
            session, geder.id, NotificationType.ENDORSEMENT_LIMIT_CHANGED, {"limit": limit}
        )
    await record(
        session,
        action="endorsements.limit.changed",
        entity_type="user",
        entity_id=geder.id,
        actor_id=admin.id,
        old={"endorsement_limit": old},
        new={"endorsement_limit": limit},
    )
    return rights


async def lift_suspension(
    session: AsyncSession, admin: User, geder_id: uuid.UUID
) -> EndorsementRights:
    """End a GeDer's suspension now. Lifting a GeDer who is not suspended changes nothing and
    is not an error. The offence still counts: a later confirmed fraud is a second one."""
    geder = await _geder_for_admin(session, geder_id)
    rights = await revocation.rights_for_update(session, geder.id)
    if not rights.is_suspended(clock.now()):
        return rights
    old = {"suspended_until": rights.suspended_until, "permanent": rights.suspended_permanently}
    rights.suspended_until = None
    rights.suspended_permanently = False
    rights.lifted_at = clock.now()
    rights.lifted_by_id = admin.id
    await session.flush()
    await notify(session, geder.id, NotificationType.ENDORSEMENT_SUSPENSION_LIFTED)
    await record(
        session,
        action="endorsements.suspension.lifted",
        entity_type="user",
        entity_id=geder.id,
        actor_id=admin.id,
        old=old,
        new={"suspended_until": None, "permanent": False},
    )
    return rights
