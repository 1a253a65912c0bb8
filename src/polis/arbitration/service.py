"""The rules of arbitration (DESIGN.md §3.7; choices in docs/arbitration.md). Flush only.

Who arbitrates: walk up the units that hold both parties' ateulis, from the case's minimum
level (ormotsdaateuli; aseuli for an election challenge; one level above the last decision
after an appeal), and take the first sitting leader who is neither a party nor a party's
guarantor. Failing that, an admin who is neither; failing that, nobody: the case stays
``pending``, the admins are told, and the hourly sweep tries again.

Every transition locks the case row (``SELECT … FOR UPDATE``) and re-reads it, so two
requests on one case (two resolves, an appeal racing a reassignment) are serialised and the
second sees the state the first left.

Filing, reassigning, starting, deciding and appealing live here; who may arbitrate and who is
told in seating.py, the reads in queries.py.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from polis.arbitration import queries, seating
from polis.arbitration.models import (
    CASE_NUMBER_SEQUENCE,
    ArbitrationCase,
    ArbitrationDecision,
    CaseStatus,
    CaseType,
)
from polis.audit.transitions import Tell, transition
from polis.config import Settings
from polis.endorsements import penalties
from polis.endorsements import queries as endorsements
from polis.gamification.queries import chain_of
from polis.gamification.service import LEVELS, unlocked_level
from polis.kit import clock
from polis.kit.errors import (
    BusinessRuleViolation,
    Conflict,
    ErrorCode,
    PermissionDenied,
    ValidationFailed,
)
from polis.notifications.models import NotificationType
from polis.units.models import UnitLevel
from polis.users import service as users_service
from polis.users.models import User, UserRole

# Either party may appeal within this long of a decision (§3.7). A module constant until
# config.py gains ``arbitration_appeal_days``.
APPEAL_WINDOW = timedelta(days=7)
# The lowest level that arbitrates a case of each type.
START_LEVEL = {
    CaseType.DISPUTE: UnitLevel.ORMOTSDAATEULI,
    CaseType.ENDORSEMENT_FRAUD: UnitLevel.ORMOTSDAATEULI,
    CaseType.ELECTION_CHALLENGE: UnitLevel.ASEULI,
}


# --- filing --------------------------------------------------------------------------------


async def _next_number(session: AsyncSession) -> str:
    value = await session.scalar(select(CASE_NUMBER_SEQUENCE.next_value()))
    return f"ARB-{clock.now().year}-{int(value or 0):06d}"


async def arbitration_unlocked(session: AsyncSession, user: User) -> bool:
    """The capability ``arbitration`` of ``/gamification/unlocked-capabilities``: the member's
    ateuli is active and a led ormotsdaateuli (or higher) sits above it."""
    level = unlocked_level(await chain_of(session, user))
    return level is not None and seating.level_rank(level) >= seating.level_rank(
        UnitLevel.ORMOTSDAATEULI
    )


async def file_case(
    session: AsyncSession,
    plaintiff: User,
    *,
    defendant_id: uuid.UUID,
    title: str,
    description: str,
    type: CaseType,
    supporter_id: uuid.UUID | None = None,
) -> ArbitrationCase:
    """File a case and give it to its arbitrator (or leave it ``pending`` for the admins).

    Refusals: 3021 against oneself, 404 an unknown or deleted defendant, 3020 arbitration
    not unlocked for the plaintiff, 2001/2002 ``supporter_id`` missing for
    ``endorsement_fraud`` / sent for another type, 3022 the defendant did not endorse that
    supporter.
    """
    if defendant_id == plaintiff.id:
        raise ValidationFailed(error=ErrorCode.CANNOT_FILE_AGAINST_SELF)
    defendant = await users_service.get_member(session, defendant_id)
    if not await arbitration_unlocked(session, plaintiff):
        raise PermissionDenied(error=ErrorCode.ARBITRATION_LOCKED)
    endorsement_id = await _fraud_endorsement(session, type, defendant, supporter_id)
    case = ArbitrationCase(
        number=await _next_number(session),
        type=type,
        status=CaseStatus.PENDING,
        title=title,
        description=description,
        plaintiff_id=plaintiff.id,
        defendant_id=defendant.id,
        min_level=START_LEVEL[type],
        endorsement_id=endorsement_id,
    )
    session.add(case)
    await session.flush()
    filed = seating.tell(
        case, NotificationType.ARBITRATION_CASE_FILED, "filed", seating.parties(case)
    )
    seat = await seating.find_arbitrator(session, case, case.min_level)
    if seat is not None:
        case.status = CaseStatus.ASSIGNED
    told = await seating.place(session, case, seat, "assigned")
    await transition(
        session,
        action="arbitration.case.filed",
        entity_type="arbitration_case",
        entity_id=case.id,
        actor_id=plaintiff.id,
        new={
            "number": case.number,
            "type": case.type,
            "defendant_id": case.defendant_id,
            "endorsement_id": endorsement_id,
            **seating.seat_values(case),
        },
        tell=[filed, *told],
    )
    return case


async def _fraud_endorsement(
    session: AsyncSession, type: CaseType, defendant: User, supporter_id: uuid.UUID | None
) -> uuid.UUID | None:
    """The endorsement an ``endorsement_fraud`` case is about: the defendant, a GeDer, must
    have endorsed ``supporter_id``."""
    if type is not CaseType.ENDORSEMENT_FRAUD:
        if supporter_id is not None:
            raise ValidationFailed(
                "supporter_id is only for endorsement_fraud cases.",
                details={"field": "supporter_id"},
            )
        return None
    if supporter_id is None:
        raise ValidationFailed(
            "An endorsement_fraud case names the supporter the defendant endorsed.",
            error=ErrorCode.MISSING_FIELD,
            details={"field": "supporter_id"},
        )
    found = (
        await endorsements.endorsement_between(
            session, supporter_id=supporter_id, guarantor_id=defendant.id
        )
        if defendant.role is UserRole.GEDER
        else None
    )
    if found is None:
        raise BusinessRuleViolation(error=ErrorCode.NOT_THE_GUARANTOR)
    return found.id


# --- transitions ---------------------------------------------------------------------------


def _told_all(case: ArbitrationCase, kind: NotificationType, event: str) -> Tell:
    """``kind`` for the parties and the arbitrator."""
    return seating.tell(case, kind, event, [*seating.parties(case), case.arbitrator_id])


def _require(case: ArbitrationCase, *allowed: CaseStatus) -> None:
    if case.status not in allowed:
        raise Conflict(
            error=ErrorCode.CASE_WRONG_STATE,
            details={"status": case.status.value, "allowed": [s.value for s in allowed]},
        )


async def assign(
    session: AsyncSession, actor: User, case_id: uuid.UUID, arbitrator_id: uuid.UUID
) -> ArbitrationCase:
    """Give the case to ``arbitrator_id`` (an admin or a higher leader's decision).

    Refusals: 404 a case the actor may not see or an unknown arbitrator, 403 not allowed to
    reassign, 3024 a resolved case, 3023 an arbitrator who may not arbitrate it.
    """
    case = await queries.visible_and_locked(session, actor, case_id)
    if not await seating.may_reassign(session, actor, case):
        raise PermissionDenied("Only an admin or a leader above the arbitrator may reassign.")
    _require(
        case, CaseStatus.PENDING, CaseStatus.ASSIGNED, CaseStatus.IN_PROGRESS, CaseStatus.APPEALED
    )
    candidate = await users_service.get_member(session, arbitrator_id)
    seat = await seating.seat_of(session, case, candidate)
    if seat is None:
        raise BusinessRuleViolation(error=ErrorCode.ARBITRATOR_NOT_ELIGIBLE)
    old = seating.seat_values(case)
    previous = case.arbitrator_id
    # A new arbitrator starts afresh; an appealed case stays "appealed" until it is started.
    if case.status in (CaseStatus.PENDING, CaseStatus.IN_PROGRESS):
        case.status = CaseStatus.ASSIGNED
    event = f"reassigned:{candidate.id}"
    told = await seating.place(session, case, seat, event)
    if previous is not None and previous != candidate.id:
        told.append(
            seating.tell(case, NotificationType.ARBITRATION_CASE_ASSIGNED, event, [previous])
        )
    await transition(
        session,
        action="arbitration.case.assigned",
        entity_type="arbitration_case",
        entity_id=case.id,
        actor_id=actor.id,
        old=old,
        new=seating.seat_values(case),
        tell=told,
    )
    return case


async def _arbitrated_by(session: AsyncSession, actor: User, case_id: uuid.UUID) -> ArbitrationCase:
    case = await queries.visible_and_locked(session, actor, case_id)
    if case.arbitrator_id != actor.id:
        raise PermissionDenied("Only the case's arbitrator may do this.")
    return case


async def start(session: AsyncSession, actor: User, case_id: uuid.UUID) -> ArbitrationCase:
    """The arbitrator takes the case up. Refusals: 404, 403 not the arbitrator, 3024."""
    case = await _arbitrated_by(session, actor, case_id)
    _require(case, CaseStatus.ASSIGNED, CaseStatus.APPEALED)
    old = case.status
    case.status = CaseStatus.IN_PROGRESS
    await transition(
        session,
        action="arbitration.case.started",
        entity_type="arbitration_case",
        entity_id=case.id,
        actor_id=actor.id,
        old={"status": old},
        new={"status": case.status},
        tell=[_told_all(case, NotificationType.ARBITRATION_CASE_STARTED, "started")],
    )
    return case


def _check_fraud_flag(case: ArbitrationCase, fraud_confirmed: bool | None) -> None:
    """``fraud_confirmed`` is said on an endorsement_fraud decision, and only there."""
    is_fraud = case.type is CaseType.ENDORSEMENT_FRAUD
    if is_fraud and fraud_confirmed is None:
        raise ValidationFailed(
            "An endorsement_fraud decision says whether the fraud is confirmed.",
            error=ErrorCode.MISSING_FIELD,
            details={"field": "fraud_confirmed"},
        )
    if not is_fraud and fraud_confirmed is not None:
        raise ValidationFailed(
            "fraud_confirmed is only for endorsement_fraud cases.",
            details={"field": "fraud_confirmed"},
        )


def _decide(
    session: AsyncSession,
    actor: User,
    case: ArbitrationCase,
    resolution: str,
    fraud_confirmed: bool | None,
) -> None:
    """The current round's decision on the trail, and the case resolved by it."""
    now = clock.now()
    session.add(
        ArbitrationDecision(
            case_id=case.id,
            round=case.appeal_count + 1,
            arbitrator_id=actor.id,
            level=case.level,
            unit_id=case.unit_id,
            resolution=resolution,
            fraud_confirmed=fraud_confirmed,
            decided_at=now,
        )
    )
    case.status = CaseStatus.RESOLVED
    case.resolution = resolution
    case.fraud_confirmed = fraud_confirmed
    case.resolved_at = now


async def resolve(
    session: AsyncSession,
    settings: Settings,
    actor: User,
    case_id: uuid.UUID,
    *,
    resolution: str,
    fraud_confirmed: bool | None,
) -> ArbitrationCase:
    """The arbitrator decides. A confirmed ``endorsement_fraud`` applies the penalty of §3.2
    in this same transaction.

    Refusals: 404, 403 not the arbitrator, 3024 not in progress, 2001 ``fraud_confirmed``
    missing on an endorsement_fraud case, 2002 sent on another type.
    """
    case = await _arbitrated_by(session, actor, case_id)
    _require(case, CaseStatus.IN_PROGRESS)
    _check_fraud_flag(case, fraud_confirmed)
    _decide(session, actor, case, resolution, fraud_confirmed)
    await session.flush()
    if fraud_confirmed:
        if case.endorsement_id is None:  # pragma: no cover - filing prevents it
            raise RuntimeError("a fraud case without an endorsement cannot be confirmed")
        # The penalty's own notifications and audit come before the decision's.
        await penalties.apply_fraud_penalty(
            session,
            settings,
            endorsement_id=case.endorsement_id,
            case_id=case.id,
            actor_id=actor.id,
        )
    await transition(
        session,
        action="arbitration.case.resolved",
        entity_type="arbitration_case",
        entity_id=case.id,
        actor_id=actor.id,
        new={
            "round": case.appeal_count + 1,
            "level": case.level,
            "fraud_confirmed": fraud_confirmed,
        },
        tell=[_told_all(case, NotificationType.ARBITRATION_CASE_RESOLVED, "resolved")],
    )
    return case


def appeal_deadline(case: ArbitrationCase) -> datetime | None:
    """Until when the current decision may be appealed (None while undecided)."""
    return case.resolved_at + APPEAL_WINDOW if case.resolved_at is not None else None


async def appeal(
    session: AsyncSession, actor: User, case_id: uuid.UUID, *, reason: str
) -> ArbitrationCase:
    """A party appeals the decision: the case goes to the next level up.

    Refusals: 404, 403 not a party, 3024 not resolved, 3026 decided at ataseuli level or by
    an admin (nothing above), 3025 more than seven days after the decision.
    """
    case = await queries.visible_and_locked(session, actor, case_id)
    if actor.id not in (case.plaintiff_id, case.defendant_id):
        raise PermissionDenied("Only a party may appeal.")
    _require(case, CaseStatus.RESOLVED)
    if case.level is None or case.level is UnitLevel.ATASEULI:
        raise Conflict(error=ErrorCode.DECISION_FINAL, details={"level": case.level})
    assert case.resolved_at is not None
    deadline = case.resolved_at + APPEAL_WINDOW
    if clock.now() > deadline:
        raise Conflict(
            error=ErrorCode.APPEAL_WINDOW_CLOSED, details={"deadline": deadline.isoformat()}
        )
    decision = await queries.current_decision(session, case)
    decision.appealed_at = clock.now()
    decision.appealed_by_id = actor.id
    decision.appeal_reason = reason
    old = {**seating.seat_values(case), "round": case.appeal_count + 1}
    previous = case.arbitrator_id
    case.min_level = LEVELS[seating.level_rank(case.level) + 1]
    case.appeal_count += 1
    case.status = CaseStatus.APPEALED
    case.resolution = None
    case.fraud_confirmed = None
    case.resolved_at = None
    await session.flush()
    appealed = seating.tell(
        case,
        NotificationType.ARBITRATION_CASE_APPEALED,
        "appealed",
        [*seating.parties(case), previous],
    )
    told = await seating.place(
        session, case, await seating.find_arbitrator(session, case, case.min_level), "assigned"
    )
    await transition(
        session,
        action="arbitration.case.appealed",
        entity_type="arbitration_case",
        entity_id=case.id,
        actor_id=actor.id,
        old=old,
        new={**seating.seat_values(case), "round": case.appeal_count + 1, "reason": reason},
        tell=[appealed, *told],
    )
    return case


# --- the sweep -----------------------------------------------------------------------------


async def assign_waiting(session: AsyncSession, *, limit: int = 100) -> int:
    """Give an arbitrator to cases that have none (no leader and no admin when they came):
    leaders get elected and admins appointed after a case is filed. Returns how many."""
    assigned = 0
    for case in await queries.waiting_cases(session, limit=limit):
        seat = await seating.find_arbitrator(session, case, case.min_level)
        if seat is None:
            continue
        if case.status is CaseStatus.PENDING:
            case.status = CaseStatus.ASSIGNED
        told = await seating.place(session, case, seat, "assigned")
        await transition(
            session,
            action="arbitration.case.assigned",
            entity_type="arbitration_case",
            entity_id=case.id,
            actor_id=None,
            new=seating.seat_values(case),
            tell=told,
        )
        assigned += 1
    return assigned
