"""The penalty for a confirmed endorsement fraud, as arbitration applies it (DESIGN.md §3.2).

One orchestrator, :func:`apply_fraud_penalty`, in named steps: revoke the endorsement with
the penalty flag, suspend the guarantor, fine them, flag their other supporters, then tell
everyone and audit. The locks are revocation.py's, taken in the one order (the guarantor's
row, then the endorsement's, then the supporter's). Flush only; the caller commits.

Constants rather than settings (``polis.config`` belongs to no single domain), named and
documented in docs/endorsements.md.
"""

from __future__ import annotations

import calendar
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from polis.audit.transitions import Tell, transition
from polis.config import Settings
from polis.endorsements import queries, revocation
from polis.endorsements.models import Endorsement, EndorsementRights, EndorsementStatus, GedFine
from polis.kit import clock
from polis.kit.errors import Conflict, ErrorCode, NotFound
from polis.kit.events import enqueue_task
from polis.notifications.models import NotificationType
from polis.users.models import User

# A first confirmed fraud suspends the guarantor's right to endorse for this long; a second
# suspends it for good (§3.2).
FIRST_OFFENCE_SUSPENSION_MONTHS = 6
# The GeD fine for a confirmed endorsement fraud, in GeD (§3.2).
FRAUD_FINE_GED = 500
# What ``users.review_reason`` says of a supporter whose tavdebi was penalised.
REVIEW_REASON = "tavdebi_endorsement_fraud"

SEND_FINE_TASK = "polis.endorsements.send_ged_fine"


@dataclass(frozen=True)
class _Outcome:
    """What one penalty did: which offence it was, the suspension, the fine, who was flagged."""

    offence: int
    rights: EndorsementRights
    fine: GedFine
    flagged: Sequence[uuid.UUID]


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

    - the endorsement is revoked with the penalty flag (as ``service.revoke``; one already
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
    guarantor, endorsement = await revocation.lock_geder_then_endorsement(session, endorsement)
    if endorsement.penalty:
        return
    if guarantor is None:
        raise NotFound(queries.NO_GEDER)
    await _revoke(session, endorsement, guarantor, case_id=case_id, actor_id=actor_id)
    now = clock.now()
    await _mark_penalised(session, endorsement, case_id=case_id, now=now)
    offence, rights = await _suspend(session, endorsement, guarantor, case_id=case_id, now=now)
    fine = await _fine(session, endorsement, guarantor, case_id=case_id)
    flagged = await _flag_supporters(session, guarantor, now=now)
    await _tell_and_audit(
        session,
        endorsement,
        guarantor,
        _Outcome(offence=offence, rights=rights, fine=fine, flagged=flagged),
        case_id=case_id,
        actor_id=actor_id,
    )


async def _revoke(
    session: AsyncSession,
    endorsement: Endorsement,
    guarantor: User,
    *,
    case_id: uuid.UUID,
    actor_id: uuid.UUID | None,
) -> None:
    """Revoke an approved endorsement (and tell its two people); leave a revoked one as it
    is; refuse any other (409/3019)."""
    if endorsement.status is EndorsementStatus.APPROVED:
        supporter = await revocation.unendorse(
            session,
            endorsement,
            actor_id=actor_id,
            reason=f"Endorsement fraud confirmed by arbitration (case {case_id}).",
        )
        await revocation.tell_revoked(session, endorsement, supporter, guarantor)
    elif endorsement.status is not EndorsementStatus.REVOKED:
        raise Conflict(
            "Only an endorsement that was approved can be penalised.",
            error=ErrorCode.ENDORSEMENT_NOT_PENDING,
            details={"status": endorsement.status.value},
        )


async def _mark_penalised(
    session: AsyncSession, endorsement: Endorsement, *, case_id: uuid.UUID, now: datetime
) -> None:
    endorsement.penalty = True
    endorsement.penalty_case_id = case_id
    endorsement.penalized_at = now
    await session.flush()


async def _suspend(
    session: AsyncSession,
    endorsement: Endorsement,
    guarantor: User,
    *,
    case_id: uuid.UUID,
    now: datetime,
) -> tuple[int, EndorsementRights]:
    """Suspend the guarantor: six months at a first offence, for good at any later one.
    Returns which offence this is and their rights row."""
    earlier = await queries.penalties_besides(session, guarantor.id, endorsement.id)
    offence = earlier + 1
    rights = await revocation.rights_for_update(session, guarantor.id)
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
    return offence, rights


async def _fine(
    session: AsyncSession, endorsement: Endorsement, guarantor: User, *, case_id: uuid.UUID
) -> GedFine:
    """Record the GeD fine in the outbox; its send is enqueued for after commit."""
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
    return fine


async def _flag_supporters(
    session: AsyncSession, guarantor: User, *, now: datetime
) -> Sequence[uuid.UUID]:
    """Flag the guarantor's current supporters for admin review; their ids."""
    return (
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


async def _tell_and_audit(
    session: AsyncSession,
    endorsement: Endorsement,
    guarantor: User,
    outcome: _Outcome,
    *,
    case_id: uuid.UUID,
    actor_id: uuid.UUID | None,
) -> None:
    """The flagged supporters hear of it first, then the guarantor; then the audit record."""
    rights = outcome.rights
    until = "permanent" if rights.suspended_permanently else _day(rights.suspended_until)
    await transition(
        session,
        action="endorsements.penalty.applied",
        entity_type="endorsement",
        entity_id=endorsement.id,
        actor_id=actor_id,
        new={
            "case_id": case_id,
            "guarantor_id": guarantor.id,
            "offence": outcome.offence,
            "suspended_until": rights.suspended_until,
            "suspended_permanently": rights.suspended_permanently,
            "fine_id": outcome.fine.id,
            "fine_amount": outcome.fine.amount,
            "flagged_supporter_ids": list(outcome.flagged),
        },
        tell=[
            Tell(
                NotificationType.SUPPORTER_FLAGGED,
                outcome.flagged,
                f"supporter-flagged:{endorsement.id}",
                {"geder_name": guarantor.display_name},
            ),
            Tell(
                NotificationType.ENDORSEMENT_PENALTY,
                [guarantor.id],
                f"endorsement-penalty:{endorsement.id}",
                {"amount": FRAUD_FINE_GED, "until": until, "case_id": case_id},
            ),
        ],
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
