"""Gamification rules: progress up the chain of units, capabilities, awarding achievements.

Everything here reads the units, memberships and terms of ``polis.units`` and the members of
``polis.users`` (the plain reads, the achievements held and the leaderboard: queries.py); the
only table of its own is ``achievements``. Definitions, with the reasons for each choice:
docs/gamification.md. Flush only; the caller commits.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import Select, exists, func, literal, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from polis.gamification import queries
from polis.gamification.models import Achievement, AchievementCode
from polis.kit import clock
from polis.kit.db import get_or_404
from polis.notifications.models import NotificationType
from polis.notifications.service import notify
from polis.territories.models import Territory, TerritoryType
from polis.units import hierarchy
from polis.units.models import (
    MAX_UNIT_SIZE,
    LeadershipTerm,
    Unit,
    UnitLevel,
    UnitMembership,
    UnitStatus,
)
from polis.users.models import User

LEVELS: tuple[UnitLevel, ...] = tuple(UnitLevel)  # bottom up
# How many children make one unit of each level: members for an ateuli, led units above.
# Taken from the growth rules themselves, so progress can never disagree with growth.
CHILDREN_NEEDED: dict[UnitLevel, int] = {UnitLevel.ATEULI: MAX_UNIT_SIZE} | {
    parent: size for parent, size in hierarchy.GROUPS.values()
}


def _members_equivalent() -> dict[UnitLevel, int]:
    # 10 members make an ateuli; 5 of those an ormotsdaateuli (50), 2 of those an aseuli
    # (100), 10 of those an ataseuli (1000).
    sizes: dict[UnitLevel, int] = {}
    running = 1
    for level in LEVELS:
        running *= CHILDREN_NEEDED[level]
        sizes[level] = running
    return sizes


MEMBERS_FOR_LEVEL = _members_equivalent()
DISTRICT_MILESTONE_MEMBERS = 100


def _below(level: UnitLevel) -> UnitLevel | None:
    index = LEVELS.index(level)
    return LEVELS[index - 1] if index > 0 else None


def _above(level: UnitLevel | None) -> UnitLevel | None:
    if level is None:
        return LEVELS[0]
    index = LEVELS.index(level)
    return LEVELS[index + 1] if index + 1 < len(LEVELS) else None


def _percent(have: int, required: int) -> int:
    if required <= 0:
        return 100
    # Floor, so 100 % is shown only when the step is really complete.
    return min(have, required) * 100 // required


# --- the member's chain ---------------------------------------------------------------------


@dataclass(frozen=True)
class Progress:
    """One step up: ``have`` of ``required`` (members, or led units), ``needed`` the rest."""

    current_level: UnitLevel | None
    next_level: UnitLevel | None
    counts: Literal["members", "led_units", "none"]
    have: int
    required: int
    needed: int
    percent: int
    leader_needed: bool
    chain: list[queries.ChainLink] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


def reached_level(chain: Sequence[queries.ChainLink]) -> UnitLevel | None:
    """The highest level of the chain that counts as reached: an active ateuli, and above it
    any unit that exists (growth creates higher units active)."""
    reached: UnitLevel | None = None
    for link in chain:
        if link.unit.status is UnitStatus.ACTIVE:
            reached = link.unit.level
        else:
            break
    return reached


async def _waiting_led_units(session: AsyncSession, level: UnitLevel, region_id: uuid.UUID) -> int:
    """Led, active, unattached units of ``level`` in the region: the pool growth draws from."""
    places = await hierarchy.territory_map(session)
    in_region = [tid for tid in places if hierarchy.root_of(places, tid) == region_id]
    count = await session.scalar(
        select(func.count())
        .select_from(Unit)
        .where(
            Unit.level == level,
            Unit.parent_id.is_(None),
            Unit.status == UnitStatus.ACTIVE,
            Unit.territory_id.in_(in_region),
            queries.is_led(),
        )
    )
    return int(count or 0)


async def my_progress(session: AsyncSession, user: User) -> Progress:
    """How far the member's chain has grown and what the next level still needs.

    No ateuli: the next level is ateuli and one member (the caller) is needed. A forming
    ateuli: members still needed to reach ten. Higher: led, unattached units of the level
    below in the region (the pool hierarchy growth draws from), the member's own top unit
    counted only when it is led. See docs/gamification.md.
    """
    chain = await queries.chain_of(session, user)
    if not chain:
        return Progress(None, UnitLevel.ATEULI, "members", 0, 1, 1, 0, False)
    ateuli = chain[0].unit
    current = reached_level(chain)
    if current is None:
        have = ateuli.member_count
        required = CHILDREN_NEEDED[UnitLevel.ATEULI]
        return Progress(
            None,
            UnitLevel.ATEULI,
            "members",
            have,
            required,
            max(required - have, 0),
            _percent(have, required),
            False,
            chain,
        )
    # The chain runs bottom up from the ateuli, so a level's index is its place in the chain.
    top = chain[LEVELS.index(current)]
    next_level = _above(current)
    if next_level is None:
        return Progress(current, None, "none", 0, 0, 0, 100, False, chain)
    required = CHILDREN_NEEDED[next_level]
    places = await hierarchy.territory_map(session)
    region_id = hierarchy.root_of(places, top.unit.territory_id)
    pool = await _waiting_led_units(session, top.unit.level, region_id)
    # Our own top unit must be among the children; when it has no leader yet it cannot be,
    # however many others wait, so it counts as a missing one.
    have = pool if top.led else min(pool, required - 1)
    return Progress(
        current,
        next_level,
        "led_units",
        have,
        required,
        max(required - have, 0),
        _percent(have, required),
        not top.led,
        chain,
        {"region_id": region_id},
    )


# --- a territory ----------------------------------------------------------------------------


async def _subtree_ids(session: AsyncSession, territory_id: uuid.UUID) -> set[uuid.UUID]:
    places = await hierarchy.territory_map(session)
    return {tid for tid in places if territory_id in hierarchy.ancestors(places, tid)}


@dataclass(frozen=True)
class TerritoryProgress:
    territory: Territory
    current_level: UnitLevel | None
    next_level: UnitLevel | None
    members: int
    members_required: int
    members_needed: int
    units_level: UnitLevel | None
    units: int
    units_required: int
    units_needed: int
    percent: int


async def _verified_living_in(session: AsyncSession, within: set[uuid.UUID]) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(User)
        .where(queries.verified_member(), User.territory_id.in_(within))
    )
    return int(count or 0)


async def _units_by_level(
    session: AsyncSession, within: set[uuid.UUID]
) -> dict[UnitLevel, list[Unit]]:
    """The units that hold an active ateuli located in ``within``, by level: a walk up from
    those ateulis, level by level."""
    by_level: dict[UnitLevel, list[Unit]] = {}
    current_ids = list(
        (
            await session.scalars(
                select(Unit.id).where(
                    Unit.level == UnitLevel.ATEULI,
                    Unit.status == UnitStatus.ACTIVE,
                    Unit.territory_id.in_(within),
                )
            )
        ).all()
    )
    while current_ids:
        found = list((await session.scalars(select(Unit).where(Unit.id.in_(current_ids)))).all())
        if not found:
            break
        by_level[found[0].level] = found
        current_ids = list({u.parent_id for u in found if u.parent_id is not None})
    return by_level


async def _led_unattached(session: AsyncSession, units: Sequence[Unit]) -> int:
    """How many of ``units`` are led, active and have no parent yet."""
    candidates = [u for u in units if u.parent_id is None and u.status is UnitStatus.ACTIVE]
    led = await queries.led_ids(session, [u.id for u in candidates])
    return sum(1 for u in candidates if u.id in led)


async def territory_progress(session: AsyncSession, territory_id: uuid.UUID) -> TerritoryProgress:
    """How far a territory has grown, and what forming its next level still needs.

    ``current_level``: the highest level of a unit that holds an active ateuli located in the
    territory (or below it). ``members``: verified members living there;
    ``members_required``: the members one unit of the next level stands for (10, 50, 100,
    1000). ``units``: led, active, unattached units of the level below the next one that
    hold an ateuli of the territory (for an ateuli: none, members only). 404 when unknown.
    """
    territory = await get_or_404(session, Territory, territory_id, missing="No such territory.")
    within = await _subtree_ids(session, territory_id)
    members = await _verified_living_in(session, within)
    by_level = await _units_by_level(session, within)
    current = max(by_level, key=LEVELS.index) if by_level else None
    next_level = _above(current)
    if next_level is None:
        return TerritoryProgress(territory, current, None, members, 0, 0, None, 0, 0, 0, 100)
    members_required = MEMBERS_FOR_LEVEL[next_level]
    units_level = _below(next_level)
    units = units_required = 0
    if units_level is not None:
        units_required = CHILDREN_NEEDED[next_level]
        units = await _led_unattached(session, by_level.get(units_level, []))
    return TerritoryProgress(
        territory=territory,
        current_level=current,
        next_level=next_level,
        members=members,
        members_required=members_required,
        members_needed=max(members_required - members, 0),
        units_level=units_level,
        units=units,
        units_required=units_required,
        units_needed=max(units_required - units, 0),
        percent=_percent(members, members_required),
    )


# --- capabilities ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Capability:
    code: str
    level: UnitLevel
    title_en: str
    title_ka: str


CAPABILITIES: tuple[Capability, ...] = (
    Capability("voting", UnitLevel.ATEULI, "Voting", "ხმის მიცემა"),
    Capability("sos", UnitLevel.ATEULI, "SOS reports", "SOS შეტყობინება"),
    Capability("arbitration", UnitLevel.ORMOTSDAATEULI, "Arbitration", "არბიტრაჟი"),
    Capability(
        "local_initiatives",
        UnitLevel.ASEULI,
        "Local initiatives with a duty to respond",
        "ადგილობრივი ინიციატივები პასუხის ვალდებულებით",
    ),
    Capability("tv_time_basic", UnitLevel.ASEULI, "Basic TV time", "საბაზო სატელევიზიო დრო"),
    Capability(
        "tv_time_extended",
        UnitLevel.ATASEULI,
        "Extended TV time",
        "გაფართოებული სატელევიზიო დრო",
    ),
    Capability("budget", UnitLevel.ATASEULI, "A budget", "ბიუჯეტი"),
    Capability(
        "satatbiro_seat", UnitLevel.ATASEULI, "A seat in the satatbiro", "ადგილი სათათბიროში"
    ),
)


def unlocked_level(chain: Sequence[queries.ChainLink]) -> UnitLevel | None:
    """The highest level whose capabilities the member has.

    Ateuli: the member's ateuli is active (voting is how it elects its atistavi, so it cannot
    wait for one). Above it: the unit of that level in the chain exists and is led, and every
    level below is unlocked too.
    """
    unlocked: UnitLevel | None = None
    for link in chain:
        if link.unit.level is UnitLevel.ATEULI:
            ok = link.unit.status is UnitStatus.ACTIVE
        else:
            ok = link.unit.status is UnitStatus.ACTIVE and link.led
        if not ok:
            break
        unlocked = link.unit.level
    return unlocked


async def my_capabilities(
    session: AsyncSession, user: User
) -> tuple[UnitLevel | None, list[tuple[Capability, bool]]]:
    """Every capability with whether the member has it, and the level that unlocked them."""
    level = unlocked_level(await queries.chain_of(session, user))
    reached = LEVELS.index(level) if level is not None else -1
    return level, [(cap, LEVELS.index(cap.level) <= reached) for cap in CAPABILITIES]


# --- achievements ---------------------------------------------------------------------------


def _due_statements() -> dict[AchievementCode, Select[Any]]:
    """For each milestone, a SELECT of the user ids for whom it is due now."""
    membership = aliased(UnitMembership)
    ateuli = aliased(Unit)
    level1 = aliased(Unit)
    level2 = aliased(Unit)
    level3 = aliased(Unit)
    open_in_ateuli = (
        select(membership.user_id)
        .join(ateuli, ateuli.id == membership.unit_id)
        .where(membership.left_at.is_(None))
    )
    district_members = (
        select(User.territory_id)
        .join(Territory, Territory.id == User.territory_id)
        .where(queries.verified_member(), Territory.type == TerritoryType.ELECTORAL_DISTRICT)
        .group_by(User.territory_id)
        .having(func.count() >= DISTRICT_MILESTONE_MEMBERS)
    )
    return {
        AchievementCode.ATEULI_JOINED: select(UnitMembership.user_id).distinct(),
        AchievementCode.ATEULI_ACTIVATED: open_in_ateuli.where(ateuli.status == UnitStatus.ACTIVE),
        AchievementCode.ORMOTSDAATEULI_FORMED: open_in_ateuli.join(
            level1, level1.id == ateuli.parent_id
        ),
        AchievementCode.ASEULI_FORMED: open_in_ateuli.join(
            level1, level1.id == ateuli.parent_id
        ).join(level2, level2.id == level1.parent_id),
        AchievementCode.ATASEULI_FORMED: open_in_ateuli.join(level1, level1.id == ateuli.parent_id)
        .join(level2, level2.id == level1.parent_id)
        .join(level3, level3.id == level2.parent_id),
        AchievementCode.FIRST_SEAT: select(LeadershipTerm.user_id).distinct(),
        AchievementCode.DISTRICT_100_MEMBERS: select(User.id).where(
            queries.verified_member(), User.territory_id.in_(district_members)
        ),
    }


async def award_milestones(
    session: AsyncSession, user_ids: Sequence[uuid.UUID] | None = None
) -> list[tuple[uuid.UUID, AchievementCode]]:
    """Award every milestone that is due (for ``user_ids``, or everyone) and not yet held.

    Idempotent and safe under races: each award is an ``INSERT … ON CONFLICT DO NOTHING``
    on (user, code), and only rows really inserted are notified (with a dedupe key as well),
    so a milestone is awarded and announced once however many sweeps run. Returns what was
    awarded now.
    """
    now = clock.now()
    awarded: list[tuple[uuid.UUID, AchievementCode]] = []
    for code, due in _due_statements().items():
        candidates = due.subquery()
        user_id = candidates.c[0]
        chosen = (
            select(
                func.gen_random_uuid(),
                user_id,
                literal(code.value),
                literal(now),
                literal(now),
                literal(now),
            )
            .select_from(candidates)
            .join(User, User.id == user_id)
            .where(
                User.deleted_at.is_(None),
                ~exists().where(Achievement.user_id == user_id, Achievement.code == code.value),
            )
        )
        if user_ids is not None:
            chosen = chosen.where(user_id.in_(list(user_ids)))
        statement = (
            insert(Achievement)
            .from_select(
                ["id", "user_id", "code", "awarded_at", "created_at", "updated_at"], chosen
            )
            .on_conflict_do_nothing(constraint="uq_achievements_user_id_code")
            .returning(Achievement.user_id)
        )
        inserted = (await session.scalars(statement)).all()
        awarded.extend((uid, code) for uid in inserted)
    for uid, code in sorted(awarded, key=lambda pair: (str(pair[0]), pair[1].value)):
        await notify(
            session,
            uid,
            NotificationType.ACHIEVEMENT_UNLOCKED,
            {"achievement": code.value},
            dedupe_key=f"achievement:{code.value}",
        )
    return awarded
