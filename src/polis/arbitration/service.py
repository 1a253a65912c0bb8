"""The rules of arbitration (DESIGN.md §3.7; choices in docs/arbitration.md). Flush only.

Who arbitrates: walk up the units that hold both parties' ateulis, from the case's minimum
level (ormotsdaateuli; aseuli for an election challenge; one level above the last decision
after an appeal), and take the first sitting leader who is neither a party nor a party's
guarantor. Failing that, an admin who is neither; failing that, nobody: the case stays
``pending``, the admins are told, and the hourly sweep tries again.

Every transition locks the case row (``SELECT … FOR UPDATE``) and re-reads it, so two
requests on one case (two resolves, an appeal racing a reassignment) are serialised and the
second sees the state the first left.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from polis.arbitration.models import (
    CASE_NUMBER_SEQUENCE,
    ArbitrationCase,
    ArbitrationDecision,
    CaseStatus,
    CaseType,
)
from polis.audit.service import record
from polis.config import Settings
from polis.endorsements import service as endorsements
from polis.gamification.service import LEVELS, chain_of, unlocked_level
from polis.kit import clock
from polis.kit.errors import (
    BusinessRuleViolation,
    Conflict,
    ErrorCode,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from polis.kit.pagination import Page, PageParams, paginate
from polis.notifications.models import NotificationType
from polis.notifications.service import notify
from polis.units.models import LeadershipTerm, Unit, UnitLevel, UnitMembership
from polis.units.service import open_membership, path_up
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
_NO_CASE = "No such case."


async def _guarantors(session: AsyncSession, user_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    found = {await endorsements.guarantor_of(session, user_id) for user_id in user_ids}
    return {guarantor for guarantor in found if guarantor is not None}


# --- reading ------------------------------------------------------------------------------


async def get_case(
    session: AsyncSession, case_id: uuid.UUID, *, lock: bool = False
) -> ArbitrationCase:
    """The case ``case_id`` (locked and re-read with ``lock``), or 404."""
    statement = select(ArbitrationCase).where(ArbitrationCase.id == case_id)
    if lock:
        statement = statement.with_for_update().execution_options(populate_existing=True)
    case = await session.scalar(statement)
    if case is None:
        raise NotFound(_NO_CASE)
    return case


async def decisions_of(
    session: AsyncSession, case_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[ArbitrationDecision]]:
    """The decisions of each case, oldest round first (one query)."""
    out: dict[uuid.UUID, list[ArbitrationDecision]] = {case_id: [] for case_id in case_ids}
    if not case_ids:
        return out
    rows = await session.scalars(
        select(ArbitrationDecision)
        .where(ArbitrationDecision.case_id.in_(case_ids))
        .order_by(ArbitrationDecision.case_id, ArbitrationDecision.round)
    )
    for decision in rows:
        out[decision.case_id].append(decision)
    return out


def _level_rank(level: UnitLevel) -> int:
    return LEVELS.index(level)


async def _led_unit_ids(session: AsyncSession, user_id: uuid.UUID) -> list[uuid.UUID]:
    rows = await session.scalars(
        select(LeadershipTerm.unit_id).where(
            LeadershipTerm.user_id == user_id, LeadershipTerm.ended_at.is_(None)
        )
    )
    return list(rows.all())


async def _ateulis_under(session: AsyncSession, unit_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Every ateuli at or under ``unit_ids`` (at most three levels down)."""
    found: set[uuid.UUID] = set()
    frontier = list(unit_ids)
    for _ in range(len(UnitLevel)):
        if not frontier:
            break
        rows = await session.execute(
            select(Unit.id, Unit.level).where(
                or_(Unit.id.in_(frontier), Unit.parent_id.in_(frontier))
            )
        )
        next_frontier = []
        for unit_id, level in rows:
            if level is UnitLevel.ATEULI:
                found.add(unit_id)
            elif unit_id not in frontier:
                next_frontier.append(unit_id)
        frontier = next_frontier
    return found


def _members_of(ateuli_ids: set[uuid.UUID]) -> Select[Any]:
    return select(UnitMembership.user_id).where(
        UnitMembership.unit_id.in_(ateuli_ids), UnitMembership.left_at.is_(None)
    )


async def _visible_to(session: AsyncSession, user: User) -> Select[Any]:
    """The cases ``user`` may see: their own (as a party or the arbitrator), those whose
    parties are now in ateulis under a unit they lead, and every case for an admin."""
    statement = select(ArbitrationCase)
    if user.is_admin:
        return statement
    conditions = [
        ArbitrationCase.plaintiff_id == user.id,
        ArbitrationCase.defendant_id == user.id,
        ArbitrationCase.arbitrator_id == user.id,
    ]
    led = await _led_unit_ids(session, user.id)
    if led:
        members = _members_of(await _ateulis_under(session, led))
        conditions += [
            ArbitrationCase.plaintiff_id.in_(members),
            ArbitrationCase.defendant_id.in_(members),
        ]
    return statement.where(or_(*conditions))


async def visible_case(session: AsyncSession, user: User, case_id: uuid.UUID) -> ArbitrationCase:
    """The case, if ``user`` may see it; 404 otherwise (a foreign case is not found)."""
    statement = (await _visible_to(session, user)).where(ArbitrationCase.id == case_id)
    case: ArbitrationCase | None = await session.scalar(statement)
    if case is None:
        raise NotFound(_NO_CASE)
    return case


@dataclass(frozen=True)
class CaseFilters:
    status: CaseStatus | None = None
    type: CaseType | None = None
    # "mine": as a party; "assigned": as the arbitrator; None: everything I may see.
    scope: str | None = None


async def list_cases(
    session: AsyncSession, user: User, filters: CaseFilters, params: PageParams
) -> Page:
    """One page of the cases ``user`` may see (newest first by default)."""
    if filters.scope == "mine":
        statement = select(ArbitrationCase).where(
            or_(ArbitrationCase.plaintiff_id == user.id, ArbitrationCase.defendant_id == user.id)
        )
    elif filters.scope == "assigned":
        statement = select(ArbitrationCase).where(ArbitrationCase.arbitrator_id == user.id)
    else:
        statement = await _visible_to(session, user)
    if filters.status is not None:
        statement = statement.where(ArbitrationCase.status == filters.status)
    if filters.type is not None:
        statement = statement.where(ArbitrationCase.type == filters.type)
    return await paginate(
        session,
        statement,
        params,
        sortable={"created_at": ArbitrationCase.created_at, "number": ArbitrationCase.number},
        default_sort="created_at",
    )


# --- who may arbitrate ---------------------------------------------------------------------


async def _chain_ids(session: AsyncSession, user_id: uuid.UUID) -> list[Unit]:
    membership = await open_membership(session, user_id)
    if membership is None:
        return []
    ateuli = await session.get_one(Unit, membership.unit_id)
    return await path_up(session, ateuli)


async def common_units(
    session: AsyncSession, case: ArbitrationCase, min_level: UnitLevel
) -> list[Unit]:
    """The units that hold both parties' ateulis, at ``min_level`` or higher, bottom up."""
    plaintiff_chain = await _chain_ids(session, case.plaintiff_id)
    defendant_ids = {unit.id for unit in await _chain_ids(session, case.defendant_id)}
    return [
        unit
        for unit in plaintiff_chain
        if unit.id in defendant_ids and _level_rank(unit.level) >= _level_rank(min_level)
    ]


@dataclass(frozen=True)
class Seat:
    """Where an arbitrator sits: a unit they lead, or ``unit is None`` for an admin."""

    arbitrator: User
    unit: Unit | None


async def _excluded(session: AsyncSession, case: ArbitrationCase) -> set[uuid.UUID]:
    # Never a party, never a party's guarantor (§3.7).
    parties = [case.plaintiff_id, case.defendant_id]
    return set(parties) | await _guarantors(session, parties)


async def _admin_seat(session: AsyncSession, excluded: set[uuid.UUID]) -> Seat | None:
    # The longest-standing admin: deterministic, and easy to explain to the admins.
    admin = await session.scalar(
        select(User)
        .where(User.is_admin.is_(True), User.deleted_at.is_(None), User.id.not_in(excluded))
        .order_by(User.created_at, User.id)
        .limit(1)
    )
    return Seat(admin, None) if admin is not None else None


async def find_arbitrator(
    session: AsyncSession, case: ArbitrationCase, min_level: UnitLevel
) -> Seat | None:
    """The lowest eligible leader at ``min_level`` or above, else an admin, else None."""
    excluded = await _excluded(session, case)
    for unit in await common_units(session, case, min_level):
        term = await session.scalar(
            select(LeadershipTerm).where(
                LeadershipTerm.unit_id == unit.id, LeadershipTerm.ended_at.is_(None)
            )
        )
        if term is not None and term.user_id not in excluded:
            leader = await session.get_one(User, term.user_id)
            if not leader.is_deleted:
                return Seat(leader, unit)
    return await _admin_seat(session, excluded)


async def seat_of(session: AsyncSession, case: ArbitrationCase, candidate: User) -> Seat | None:
    """Where ``candidate`` could arbitrate the current round, or None when they may not.

    A leader of a unit holding both parties at the round's minimum level or above (the lowest
    such unit); otherwise an admin. Never a party or a party's guarantor.
    """
    if candidate.is_deleted or candidate.id in await _excluded(session, case):
        return None
    led = set(await _led_unit_ids(session, candidate.id))
    for unit in await common_units(session, case, case.min_level):
        if unit.id in led:
            return Seat(candidate, unit)
    return Seat(candidate, None) if candidate.is_admin else None


# --- notifications -------------------------------------------------------------------------


async def _tell(
    session: AsyncSession,
    case: ArbitrationCase,
    kind: NotificationType,
    event: str,
    user_ids: Sequence[uuid.UUID | None],
) -> None:
    # One event per case, per round and per step; the dedupe key keeps a retried request
    # from telling anyone twice.
    for user_id in dict.fromkeys(uid for uid in user_ids if uid is not None):
        await notify(
            session,
            user_id,
            kind,
            {"case_number": case.number, "case_id": case.id},
            dedupe_key=f"arbitration:{case.id}:{case.appeal_count}:{event}:{kind.value}",
        )


def _parties(case: ArbitrationCase) -> list[uuid.UUID | None]:
    return [case.plaintiff_id, case.defendant_id]


async def _seat(
    session: AsyncSession, case: ArbitrationCase, seat: Seat | None, event: str
) -> None:
    """Give the case to ``seat`` (or to nobody) and tell whoever must hear of it."""
    if seat is None:
        case.arbitrator_id, case.unit_id, case.level = None, None, None
    else:
        case.arbitrator_id = seat.arbitrator.id
        case.unit_id = seat.unit.id if seat.unit else None
        case.level = seat.unit.level if seat.unit else None
    await session.flush()
    if seat is None:
        admins = await session.scalars(
            select(User.id).where(User.is_admin.is_(True), User.deleted_at.is_(None))
        )
        await _tell(
            session, case, NotificationType.ARBITRATION_CASE_UNASSIGNED, event, list(admins.all())
        )
        return
    await _tell(session, case, NotificationType.ARBITRATION_CASE_ASSIGNED, event, _parties(case))
    await _tell(
        session, case, NotificationType.ARBITRATION_CASE_TO_ARBITRATE, event, [seat.arbitrator.id]
    )


def _seat_values(case: ArbitrationCase) -> dict[str, object]:
    return {
        "status": case.status,
        "arbitrator_id": case.arbitrator_id,
        "unit_id": case.unit_id,
        "level": case.level,
    }


# --- filing --------------------------------------------------------------------------------


async def _next_number(session: AsyncSession) -> str:
    value = await session.scalar(select(CASE_NUMBER_SEQUENCE.next_value()))
    return f"ARB-{clock.now().year}-{int(value or 0):06d}"


async def arbitration_unlocked(session: AsyncSession, user: User) -> bool:
    """The capability ``arbitration`` of ``/gamification/unlocked-capabilities``: the member's
    ateuli is active and a led ormotsdaateuli (or higher) sits above it."""
    level = unlocked_level(await chain_of(session, user))
    return level is not None and _level_rank(level) >= _level_rank(UnitLevel.ORMOTSDAATEULI)


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
    defendant = await session.get(User, defendant_id)
    if defendant is None or defendant.is_deleted:
        raise NotFound("No such member.")
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
    await _tell(session, case, NotificationType.ARBITRATION_CASE_FILED, "filed", _parties(case))
    seat = await find_arbitrator(session, case, case.min_level)
    if seat is not None:
        case.status = CaseStatus.ASSIGNED
    await _seat(session, case, seat, "assigned")
    await record(
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
            **_seat_values(case),
        },
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


def _require(case: ArbitrationCase, *allowed: CaseStatus) -> None:
    if case.status not in allowed:
        raise Conflict(
            error=ErrorCode.CASE_WRONG_STATE,
            details={"status": case.status.value, "allowed": [s.value for s in allowed]},
        )


async def _may_reassign(session: AsyncSession, actor: User, case: ArbitrationCase) -> bool:
    """An admin, or a leader of a unit holding both parties above the current arbitrator's
    level (at the round's minimum level or above when there is no leader-arbitrator). An
    admin-arbitrator is replaced only by admins."""
    if actor.is_admin:
        return True
    if case.arbitrator_id is not None and case.level is None:
        return False
    led = set(await _led_unit_ids(session, actor.id))
    for unit in await common_units(session, case, case.min_level):
        above = case.level is None or _level_rank(unit.level) > _level_rank(case.level)
        if unit.id in led and above:
            return True
    return False


async def assign(
    session: AsyncSession, actor: User, case_id: uuid.UUID, arbitrator_id: uuid.UUID
) -> ArbitrationCase:
    """Give the case to ``arbitrator_id`` (an admin or a higher leader's decision).

    Refusals: 404 a case the actor may not see or an unknown arbitrator, 403 not allowed to
    reassign, 3024 a resolved case, 3023 an arbitrator who may not arbitrate it.
    """
    await visible_case(session, actor, case_id)
    case = await get_case(session, case_id, lock=True)
    if not await _may_reassign(session, actor, case):
        raise PermissionDenied("Only an admin or a leader above the arbitrator may reassign.")
    _require(
        case, CaseStatus.PENDING, CaseStatus.ASSIGNED, CaseStatus.IN_PROGRESS, CaseStatus.APPEALED
    )
    candidate = await session.get(User, arbitrator_id)
    if candidate is None or candidate.is_deleted:
        raise NotFound("No such member.")
    seat = await seat_of(session, case, candidate)
    if seat is None:
        raise BusinessRuleViolation(error=ErrorCode.ARBITRATOR_NOT_ELIGIBLE)
    old = _seat_values(case)
    previous = case.arbitrator_id
    # A new arbitrator starts afresh; an appealed case stays "appealed" until it is started.
    if case.status in (CaseStatus.PENDING, CaseStatus.IN_PROGRESS):
        case.status = CaseStatus.ASSIGNED
    await _seat(session, case, seat, f"reassigned:{candidate.id}")
    if previous is not None and previous != candidate.id:
        await _tell(
            session,
            case,
            NotificationType.ARBITRATION_CASE_ASSIGNED,
            f"reassigned:{candidate.id}",
            [previous],
        )
    await record(
        session,
        action="arbitration.case.assigned",
        entity_type="arbitration_case",
        entity_id=case.id,
        actor_id=actor.id,
        old=old,
        new=_seat_values(case),
    )
    return case


async def _arbitrated_by(session: AsyncSession, actor: User, case_id: uuid.UUID) -> ArbitrationCase:
    await visible_case(session, actor, case_id)
    case = await get_case(session, case_id, lock=True)
    if case.arbitrator_id != actor.id:
        raise PermissionDenied("Only the case's arbitrator may do this.")
    return case


async def start(session: AsyncSession, actor: User, case_id: uuid.UUID) -> ArbitrationCase:
    """The arbitrator takes the case up. Refusals: 404, 403 not the arbitrator, 3024."""
    case = await _arbitrated_by(session, actor, case_id)
    _require(case, CaseStatus.ASSIGNED, CaseStatus.APPEALED)
    old = case.status
    case.status = CaseStatus.IN_PROGRESS
    await session.flush()
    await _tell(
        session,
        case,
        NotificationType.ARBITRATION_CASE_STARTED,
        "started",
        [*_parties(case), case.arbitrator_id],
    )
    await record(
        session,
        action="arbitration.case.started",
        entity_type="arbitration_case",
        entity_id=case.id,
        actor_id=actor.id,
        old={"status": old},
        new={"status": case.status},
    )
    return case


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
    await session.flush()
    if fraud_confirmed:
        if case.endorsement_id is None:  # pragma: no cover - filing prevents it
            raise RuntimeError("a fraud case without an endorsement cannot be confirmed")
        await endorsements.apply_fraud_penalty(
            session,
            settings,
            endorsement_id=case.endorsement_id,
            case_id=case.id,
            actor_id=actor.id,
        )
    await _tell(
        session,
        case,
        NotificationType.ARBITRATION_CASE_RESOLVED,
        "resolved",
        [*_parties(case), case.arbitrator_id],
    )
    await record(
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
    await visible_case(session, actor, case_id)
    case = await get_case(session, case_id, lock=True)
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
    decision = await session.scalar(
        select(ArbitrationDecision).where(
            ArbitrationDecision.case_id == case.id,
            ArbitrationDecision.round == case.appeal_count + 1,
        )
    )
    assert decision is not None
    decision.appealed_at = clock.now()
    decision.appealed_by_id = actor.id
    decision.appeal_reason = reason
    old = {**_seat_values(case), "round": case.appeal_count + 1}
    previous = case.arbitrator_id
    case.min_level = LEVELS[_level_rank(case.level) + 1]
    case.appeal_count += 1
    case.status = CaseStatus.APPEALED
    case.resolution = None
    case.fraud_confirmed = None
    case.resolved_at = None
    await session.flush()
    await _tell(
        session,
        case,
        NotificationType.ARBITRATION_CASE_APPEALED,
        "appealed",
        [*_parties(case), previous],
    )
    await _seat(session, case, await find_arbitrator(session, case, case.min_level), "assigned")
    await record(
        session,
        action="arbitration.case.appealed",
        entity_type="arbitration_case",
        entity_id=case.id,
        actor_id=actor.id,
        old=old,
        new={**_seat_values(case), "round": case.appeal_count + 1, "reason": reason},
    )
    return case


# --- the sweep -----------------------------------------------------------------------------


async def assign_waiting(session: AsyncSession, *, limit: int = 100) -> int:
    """Give an arbitrator to cases that have none (no leader and no admin when they came):
    leaders get elected and admins appointed after a case is filed. Returns how many."""
    waiting = await session.scalars(
        select(ArbitrationCase)
        .where(
            ArbitrationCase.arbitrator_id.is_(None),
            ArbitrationCase.status.in_([CaseStatus.PENDING, CaseStatus.APPEALED]),
        )
        .order_by(ArbitrationCase.created_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    assigned = 0
    for case in waiting.all():
        seat = await find_arbitrator(session, case, case.min_level)
        if seat is None:
            continue
        if case.status is CaseStatus.PENDING:
            case.status = CaseStatus.ASSIGNED
        await _seat(session, case, seat, "assigned")
        await record(
            session,
            action="arbitration.case.assigned",
            entity_type="arbitration_case",
            entity_id=case.id,
            new=_seat_values(case),
        )
        assigned += 1
    return assigned
