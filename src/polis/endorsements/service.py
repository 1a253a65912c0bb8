"""The rules of endorsements and their penalties (DESIGN.md §3.2). Flush only; the caller commits.

Concurrency: a GeDer's slots are counted under a lock on the GeDer's ``users`` row
(``SELECT … FOR UPDATE``), so two approvals racing for the last slot are serialised and the
second one counts the first (409/3001). Every path that changes an endorsement takes its locks
in one order: the GeDer's row, then the endorsement's row, then the member's row (then, through
the units service, their ateuli's row), so no two paths can deadlock. Partial unique indexes
back the one-pending-request and one-tavdebi rules should two requests ever pass a check at once.

Constants rather than settings (``polis.config`` belongs to no single domain): the request
lifetime, the suspension lengths and the fine are below, named and documented in
docs/endorsements.md.
"""

from __future__ import annotations

import calendar
import uuid
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from polis.audit.service import record
from polis.config import Settings
from polis.endorsements import queries
from polis.endorsements.models import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    MIN_LIMIT,
    Endorsement,
    EndorsementRights,
    EndorsementStatus,
    GedFine,
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
from polis.kit.events import enqueue_task
from polis.notifications.models import NotificationType
from polis.notifications.service import notify
from polis.units import queries as unit_queries
from polis.units import service as units
from polis.units.models import TermEndReason, Unit, UnitStatus
from polis.users import service as users_service
from polis.users.models import User, UserRole

# A pending request expires this long after it was made (§3.2).
REQUEST_LIFETIME = timedelta(days=7)
# A first confirmed fraud suspends the guarantor's right to endorse for this long; a second
# suspends it for good (§3.2).
FIRST_OFFENCE_SUSPENSION_MONTHS = 6
# The GeD fine for a confirmed endorsement fraud, in GeD (§3.2).
FRAUD_FINE_GED = 500
# What ``users.review_reason`` says of a supporter whose tavdebi was penalised.
REVIEW_REASON = "tavdebi_endorsement_fraud"

SEND_FINE_TASK = "polis.endorsements.send_ged_fine"


# --- locks ----------------------------------------------------------------------------------


async def _lock_user(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    # populate_existing: the session may hold a stale copy; the locked read is the truth.
    locked: User | None = await session.scalar(
        select(User)
        .where(User.id == user_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return locked


async def _lock_endorsement(session: AsyncSession, endorsement_id: uuid.UUID) -> Endorsement:
    locked = await session.scalar(
        select(Endorsement)
        .where(Endorsement.id == endorsement_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if locked is None:
        raise NotFound(queries.NO_ENDORSEMENT)
    return locked


# --- asking ---------------------------------------------------------------------------------


async def request_endorsement(
    session: AsyncSession, user: User, *, geder_id: uuid.UUID, message: str | None
) -> Endorsement:
    """Ask the GeDer ``geder_id`` to vouch for ``user`` (onboarded: the route's dependency).

    Refusals: 403/1004 unless ``user`` is unverified; 403/3013 diaspora; 422/3007 oneself;
    404 unknown GeDer; 403/3016 another district; 409/3017 a request already pending;
    403/3018 the GeDer is suspended; 409/3001 the GeDer has no free slot.
    """
    if user.role is not UserRole.UNVERIFIED:
        raise PermissionDenied("Only members without GeD or a tavdebi ask to be endorsed.")
    if user.is_diaspora:
        raise PermissionDenied(
            "Diaspora members are not endorsed: they have no district.",
            error=ErrorCode.DIASPORA_EXCLUDED,
        )
    if geder_id == user.id:
        raise BusinessRuleViolation(error=ErrorCode.CANNOT_ENDORSE_SELF)
    geder = await session.get(User, geder_id)
    if geder is None or geder.is_deleted or geder.role is not UserRole.GEDER:
        raise NotFound(queries.NO_GEDER)
    if geder.territory_id is None or geder.territory_id != user.territory_id:
        raise PermissionDenied(error=ErrorCode.DIFFERENT_DISTRICT)
    # The member's own row serialises their requests; the partial unique index is the backstop.
    await _lock_user(session, user.id)
    pending = await queries.pending_request_of(session, user.id)
    if pending is not None:
        raise Conflict(
            error=ErrorCode.ENDORSEMENT_REQUEST_PENDING,
            details={"endorsement_id": str(pending.id)},
        )
    rights = await queries.rights_of(session, geder.id)
    if queries.is_suspended(rights):
        raise PermissionDenied(error=ErrorCode.ENDORSEMENT_SUSPENDED)
    # Checked here for a clear answer at once; approval counts again under the GeDer's lock.
    limit = queries.limit_of(rights)
    if await queries.used_slots(session, geder.id) >= limit:
        raise Conflict(error=ErrorCode.ENDORSEMENT_LIMIT_REACHED, details={"limit": limit})
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
    await notify(
        session,
        geder.id,
        NotificationType.ENDORSEMENT_REQUESTED,
        {"requester_name": user.display_name, "endorsement_id": endorsement.id},
        dedupe_key=f"endorsement-requested:{endorsement.id}",
    )
    await record(
        session,
        action="endorsements.requested",
        entity_type="endorsement",
        entity_id=endorsement.id,
        actor_id=user.id,
        new={"geder_id": geder.id, "expires_at": endorsement.expires_at},
    )
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
    await _lock_user(session, geder.id)
    endorsement = await _lock_endorsement(session, endorsement_id)
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
    rights = await queries.rights_of(session, geder.id)
    if queries.is_suspended(rights):
        raise PermissionDenied(error=ErrorCode.ENDORSEMENT_SUSPENDED)
    limit = queries.limit_of(rights)
    if await queries.used_slots(session, geder.id) >= limit:
        raise Conflict(error=ErrorCode.ENDORSEMENT_LIMIT_REACHED, details={"limit": limit})
    requester = await _lock_user(session, endorsement.requester_id)
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
    await session.flush()
    await notify(
        session,
        requester.id,
        NotificationType.ENDORSEMENT_APPROVED,
        {"geder_name": geder.display_name, "endorsement_id": endorsement.id},
        dedupe_key=f"endorsement-approved:{endorsement.id}",
    )
    await record(
        session,
        action="endorsements.approved",
        entity_type="endorsement",
        entity_id=endorsement.id,
        actor_id=geder.id,
        old={"status": EndorsementStatus.PENDING, "role": UserRole.UNVERIFIED},
        new={"status": endorsement.status, "role": requester.role, "tavdebi_id": geder.id},
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
    await session.flush()
    await notify(
        session,
        endorsement.requester_id,
        NotificationType.ENDORSEMENT_REJECTED,
        {"geder_name": geder.display_name, "reason": reason, "endorsement_id": endorsement.id},
        dedupe_key=f"endorsement-rejected:{endorsement.id}",
    )
    await record(
        session,
        action="endorsements.rejected",
        entity_type="endorsement",
        entity_id=endorsement.id,
        actor_id=geder.id,
        new={"status": endorsement.status, "reason": reason},
    )
    return endorsement


async def _expire(session: AsyncSession, endorsement: Endorsement, *, geder_name: str) -> None:
    endorsement.status = EndorsementStatus.EXPIRED
    endorsement.decided_at = clock.now()
    await session.flush()
    await notify(
        session,
        endorsement.requester_id,
        NotificationType.ENDORSEMENT_EXPIRED,
        {"geder_name": geder_name, "endorsement_id": endorsement.id},
        dedupe_key=f"endorsement-expired:{endorsement.id}",
    )
    await record(
        session,
        action="endorsements.expired",
        entity_type="endorsement",
        entity_id=endorsement.id,
        new={"status": endorsement.status},
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


async def _unendorse(
    session: AsyncSession,
    endorsement: Endorsement,
    *,
    actor_id: uuid.UUID | None,
    reason: str,
) -> User | None:
    """Revoke an approved endorsement (its GeDer and the endorsement already locked): the
    supporter goes back to ``unverified``, leaves their ateuli through the units service (so
    counts, status and the atistavi's term stay right) and loses every seat. Votes stay."""
    now = clock.now()
    endorsement.status = EndorsementStatus.REVOKED
    endorsement.revoked_at = now
    endorsement.revoked_by_id = actor_id
    endorsement.revoke_reason = reason
    await session.flush()
    supporter = await _lock_user(session, endorsement.requester_id)
    if supporter is None:
        return None
    if supporter.role is UserRole.SUPPORTER:
        supporter.role = UserRole.UNVERIFIED
        await session.flush()
    membership = await unit_queries.open_membership(session, supporter.id)
    left_unit_id = None
    if membership is not None:
        left_unit_id = membership.unit_id
        await units.leave_ateuli(session, supporter, membership.unit_id)
    # Seats above the ateuli (kept when a leader merely leaves, docs/units.md) end too: §3.2
    # takes away any leadership. The units enum has no "revoked" reason; left_unit is the
    # nearest truth (the member left the society's ranks).
    ended = []
    for term in await unit_queries.open_terms_of(session, supporter.id):
        term.ended_at = now
        term.end_reason = TermEndReason.LEFT_UNIT
        ended.append(term.unit_id)
        await session.flush()
        unit = await session.get(Unit, term.unit_id)
        if unit is not None and unit.status is UnitStatus.ACTIVE:
            await units.on_leader_election_due(session, unit)
    await record(
        session,
        action="endorsements.revoked",
        entity_type="endorsement",
        entity_id=endorsement.id,
        actor_id=actor_id,
        old={"status": EndorsementStatus.APPROVED, "role": UserRole.SUPPORTER},
        new={
            "status": endorsement.status,
            "role": supporter.role,
            "reason": reason,
            "left_unit_id": left_unit_id,
            "ended_terms_unit_ids": ended,
        },
    )
    return supporter


async def _notify_revoked(
    session: AsyncSession, endorsement: Endorsement, supporter: User | None, geder: User
) -> None:
    params = {
        "supporter_name": supporter.display_name if supporter else "Member",
        "geder_name": geder.display_name,
        "reason": endorsement.revoke_reason or "",
        "endorsement_id": endorsement.id,
    }
    for person_id in (endorsement.requester_id, endorsement.geder_id):
        await notify(
            session,
            person_id,
            NotificationType.ENDORSEMENT_REVOKED,
            params,
            dedupe_key=f"endorsement-revoked:{endorsement.id}",
        )


async def revoke(
    session: AsyncSession, actor: User, endorsement_id: uuid.UUID, reason: str
) -> Endorsement:
    """Take back an approved endorsement (by its GeDer or an admin). The slot frees.

    Refusals: 404 unknown; 403/1004 neither its GeDer nor an admin; 409/3019 not approved.
    """
    endorsement = await queries.get_endorsement(session, endorsement_id)
    if endorsement.geder_id != actor.id and not actor.is_admin:
        raise PermissionDenied("Only the tavdebi or an admin may revoke an endorsement.")
    geder = await _lock_user(session, endorsement.geder_id)
    endorsement = await _lock_endorsement(session, endorsement_id)
    if endorsement.status is not EndorsementStatus.APPROVED or geder is None:
        raise Conflict(
            error=ErrorCode.ENDORSEMENT_NOT_PENDING, details={"status": endorsement.status.value}
        )
    supporter = await _unendorse(session, endorsement, actor_id=actor.id, reason=reason)
    await _notify_revoked(session, endorsement, supporter, geder)
    return endorsement


# --- penalties ------------------------------------------------------------------------------


async def apply_fraud_penalty(
    session: AsyncSession,
    settings: Settings,
    *,
    endorsement_id: uuid.UUID,
    case_id: uuid.UUID,
    actor_id: uuid.UUID | None,
) -> None:
    """Apply §3.2's penalty for a confirmed ``endorsement_fraud`` decision, in the caller's
    transaction (flush only; the fine is sent after commit).

    - the endorsement is revoked with the penalty flag (as :func:`revoke`; one already
      revoked keeps its earlier revocation and gains the flag: revoking first does not escape
      the penalty);
    - the guarantor's right to endorse is suspended: for six months at a first confirmed
      offence (counted from the penalty flags of their other endorsements), for good at any
      later one;
    - a GeD fine (``FRAUD_FINE_GED``) is recorded in ``ged_fines`` and the
      ``polis.endorsements.send_ged_fine`` task is enqueued after commit;
    - the guarantor's other supporters are flagged for admin review.

    Idempotent: an endorsement already penalised is left alone. Raises 404 for an unknown
    endorsement and 409/3019 for one that was never approved.
    """
    del settings  # the fine and the periods are constants for now (docs/endorsements.md)
    endorsement = await queries.get_endorsement(session, endorsement_id)
    guarantor = await _lock_user(session, endorsement.geder_id)
    endorsement = await _lock_endorsement(session, endorsement_id)
    if endorsement.penalty:
        return
    if guarantor is None:
        raise NotFound(queries.NO_GEDER)
    if endorsement.status is EndorsementStatus.APPROVED:
        supporter: User | None = await _unendorse(
            session,
            endorsement,
            actor_id=actor_id,
            reason=f"Endorsement fraud confirmed by arbitration (case {case_id}).",
        )
        await _notify_revoked(session, endorsement, supporter, guarantor)
    elif endorsement.status is not EndorsementStatus.REVOKED:
        raise Conflict(
            "Only an endorsement that was approved can be penalised.",
            error=ErrorCode.ENDORSEMENT_NOT_PENDING,
            details={"status": endorsement.status.value},
        )
    now = clock.now()
    endorsement.penalty = True
    endorsement.penalty_case_id = case_id
    endorsement.penalized_at = now
    await session.flush()

    previous = await session.scalar(
        select(func.count())
        .select_from(Endorsement)
        .where(
            Endorsement.geder_id == guarantor.id,
            Endorsement.penalty.is_(True),
            Endorsement.id != endorsement.id,
        )
    )
    offence = int(previous or 0) + 1
    rights = await _rights_for_update(session, guarantor.id)
    if offence == 1:
        until = add_months(now, FIRST_OFFENCE_SUSPENSION_MONTHS)
        # A suspension already running longer is not shortened.
        if rights.suspended_until is None or rights.suspended_until < until:
            rights.suspended_until = until
    else:
        rights.suspended_permanently = True
    rights.suspended_at = now
    rights.suspension_case_id = case_id
    rights.lifted_at = None
    rights.lifted_by_id = None

    fine = GedFine(
        guarantor_id=guarantor.id,
        endorsement_id=endorsement.id,
        case_id=case_id,
        ged_number=guarantor.ged_number,
        amount=FRAUD_FINE_GED,
    )
    session.add(fine)
    await session.flush()
    enqueue_task(session, SEND_FINE_TASK, str(fine.id))

    flagged = (
        await session.scalars(
            update(User)
            .where(
                User.id.in_(
                    select(Endorsement.requester_id).where(
                        Endorsement.geder_id == guarantor.id,
                        Endorsement.status == EndorsementStatus.APPROVED,
                    )
                )
            )
            .values(flagged_for_review_at=now, review_reason=REVIEW_REASON)
            .returning(User.id)
            .execution_options(synchronize_session="fetch")
        )
    ).all()
    for supporter_id in flagged:
        await notify(
            session,
            supporter_id,
            NotificationType.SUPPORTER_FLAGGED,
            {"geder_name": guarantor.display_name},
            dedupe_key=f"supporter-flagged:{endorsement.id}",
        )
    await notify(
        session,
        guarantor.id,
        NotificationType.ENDORSEMENT_PENALTY,
        {
            "amount": FRAUD_FINE_GED,
            "until": "permanent" if rights.suspended_permanently else _day(rights.suspended_until),
            "case_id": case_id,
        },
        dedupe_key=f"endorsement-penalty:{endorsement.id}",
    )
    await record(
        session,
        action="endorsements.penalty.applied",
        entity_type="endorsement",
        entity_id=endorsement.id,
        actor_id=actor_id,
        new={
            "case_id": case_id,
            "guarantor_id": guarantor.id,
            "offence": offence,
            "suspended_until": rights.suspended_until,
            "suspended_permanently": rights.suspended_permanently,
            "fine_id": fine.id,
            "fine_amount": fine.amount,
            "flagged_supporter_ids": list(flagged),
        },
    )


def add_months(moment: datetime, months: int) -> datetime:
    """``moment`` plus calendar months, the day clamped to the month's end (31 Aug + 6
    months is 28/29 Feb)."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def _day(moment: datetime | None) -> str:
    return moment.date().isoformat() if moment is not None else "permanent"


async def _rights_for_update(session: AsyncSession, geder_id: uuid.UUID) -> EndorsementRights:
    """The GeDer's rights row, made with the defaults when absent (their user row is locked,
    so no other transaction makes it at the same time)."""
    rights = await session.scalar(
        select(EndorsementRights)
        .where(EndorsementRights.user_id == geder_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if rights is None:
        rights = EndorsementRights(user_id=geder_id, endorsement_limit=DEFAULT_LIMIT)
        session.add(rights)
        await session.flush()
    return rights


# --- admin ----------------------------------------------------------------------------------


async def _geder_for_admin(session: AsyncSession, geder_id: uuid.UUID) -> User:
    geder = await _lock_user(session, geder_id)
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
    rights = await _rights_for_update(session, geder.id)
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
    rights = await _rights_for_update(session, geder.id)
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
