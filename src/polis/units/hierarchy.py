"""Hierarchy growth: higher units form on their own from led, unattached children (§3.3).

    5 ateulis with atistavis          → 1 ormotsdaateuli
    2 ormotsdaateulis with leaders    → 1 aseuli
    10 aseulis with leaders           → 1 ataseuli

Children are grouped in the same electoral district first, then the same municipality, then
the same region, oldest first (``created_at``, then ``id``), so the same database always grows
the same tree. A group never crosses a region. The new unit's territory is the lowest common
ancestor of its children's; it is created ``active`` with its leader election due.

Growth of a region is serialised by a transaction-scoped advisory lock on the region, taken
before any row lock both by ``install_leader`` and by the hourly sweep (``polis.units.tasks``):
two growths of one region never run at once, and the second sees what the first formed.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import exists, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from polis.audit.service import record
from polis.kit import clock, hooks
from polis.territories.models import Territory, TerritoryType
from polis.units.models import LeadershipTerm, Unit, UnitLevel, UnitStatus

# child level → (parent level, how many children make one)
GROUPS: dict[UnitLevel, tuple[UnitLevel, int]] = {
    UnitLevel.ATEULI: (UnitLevel.ORMOTSDAATEULI, 5),
    UnitLevel.ORMOTSDAATEULI: (UnitLevel.ASEULI, 2),
    UnitLevel.ASEULI: (UnitLevel.ATASEULI, 10),
}
SCOPES = (TerritoryType.ELECTORAL_DISTRICT, TerritoryType.MUNICIPALITY, TerritoryType.REGION)
LABELS = {
    UnitLevel.ATEULI: "Ateuli",
    UnitLevel.ORMOTSDAATEULI: "Ormotsdaateuli",
    UnitLevel.ASEULI: "Aseuli",
    UnitLevel.ATASEULI: "Ataseuli",
}
# First key of the two-key advisory lock: "units growth". The second is the region's hash.
ADVISORY_NAMESPACE = 7_402


@dataclass(frozen=True)
class Place:
    type: TerritoryType
    parent_id: uuid.UUID | None
    name_en: str


TerritoryMap = dict[uuid.UUID, Place]


async def territory_map(session: AsyncSession) -> TerritoryMap:
    """Every territory's type, parent and name. The map of a country is a few hundred rows,
    far cheaper to hold than to walk with one query per ancestor."""
    rows = await session.execute(
        select(Territory.id, Territory.type, Territory.parent_id, Territory.name_en)
    )
    return {tid: Place(kind, parent, name) for tid, kind, parent, name in rows}


def ancestors(places: TerritoryMap, territory_id: uuid.UUID) -> list[uuid.UUID]:
    """``territory_id`` and its ancestors, nearest first."""
    chain: list[uuid.UUID] = []
    current: uuid.UUID | None = territory_id
    while current is not None and current not in chain:
        chain.append(current)
        current = places[current].parent_id if current in places else None
    return chain


def root_of(places: TerritoryMap, territory_id: uuid.UUID) -> uuid.UUID:
    """The top of ``territory_id``'s chain: its region."""
    return ancestors(places, territory_id)[-1]


def ancestor_at(
    places: TerritoryMap, territory_id: uuid.UUID, kind: TerritoryType
) -> uuid.UUID | None:
    """The territory of type ``kind`` that contains ``territory_id`` (itself included)."""
    for tid in ancestors(places, territory_id):
        if places[tid].type is kind:
            return tid
    return None


def lowest_common_ancestor(places: TerritoryMap, territory_ids: Iterable[uuid.UUID]) -> uuid.UUID:
    """The smallest territory containing every one of ``territory_ids``."""
    chains = [ancestors(places, tid) for tid in territory_ids]
    common = set(chains[0]).intersection(*map(set, chains[1:]))
    for tid in chains[0]:
        if tid in common:
            return tid
    raise ValueError("these territories share no ancestor")


async def lock_region(session: AsyncSession, region_id: uuid.UUID) -> None:
    """Hold the region's growth lock until the transaction ends."""
    await session.execute(
        text("SELECT pg_advisory_xact_lock(:namespace, hashtext(:region))"),
        {"namespace": ADVISORY_NAMESPACE, "region": str(region_id)},
    )


async def lock_region_of(session: AsyncSession, territory_id: uuid.UUID) -> uuid.UUID:
    """Lock the growth of ``territory_id``'s region; return the region's id."""
    region_id = root_of(await territory_map(session), territory_id)
    await lock_region(session, region_id)
    return region_id


async def _candidates(
    session: AsyncSession, level: UnitLevel, territory_ids: set[uuid.UUID]
) -> list[Unit]:
    statement = (
        select(Unit)
        .where(
            Unit.level == level,
            Unit.parent_id.is_(None),
            Unit.status == UnitStatus.ACTIVE,
            Unit.territory_id.in_(territory_ids),
            exists().where(LeadershipTerm.unit_id == Unit.id, LeadershipTerm.ended_at.is_(None)),
        )
        .order_by(Unit.created_at, Unit.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return list((await session.scalars(statement)).all())


async def _form(
    session: AsyncSession, level: UnitLevel, children: list[Unit], places: TerritoryMap
) -> Unit:
    territory_id = lowest_common_ancestor(places, [child.territory_id for child in children])
    existing = await session.scalar(
        select(func.count())
        .select_from(Unit)
        .where(Unit.level == level, Unit.territory_id == territory_id)
    )
    now = clock.now()
    unit = Unit(
        name=f"{places[territory_id].name_en} {LABELS[level]} {int(existing or 0) + 1}",
        level=level,
        territory_id=territory_id,
        status=UnitStatus.ACTIVE,
        member_count=len(children),
        activated_at=now,
        # The elections hook (see service.on_leader_election_due): its leader election is due.
        leader_election_due_at=now,
        created_at=now,
    )
    session.add(unit)
    await session.flush()
    for child in children:
        child.parent_id = unit.id
    await session.flush()
    await record(
        session,
        action="units.formed",
        entity_type="unit",
        entity_id=unit.id,
        new={"level": level, "children": [child.id for child in children]},
    )
    # Its leader election is scheduled at once (the elections domain, through the hook).
    await hooks.leader_election_due.fire(session, unit)
    return unit


async def grow(session: AsyncSession, region_id: uuid.UUID) -> list[Unit]:
    """Form every higher unit the region's led, unattached children allow; return them.

    The caller holds the region's lock (``lock_region``). Idempotent: run again on the same
    data, it forms nothing.
    """
    places = await territory_map(session)
    in_region = {tid for tid in places if root_of(places, tid) == region_id}
    formed: list[Unit] = []
    for child_level, (parent_level, size) in GROUPS.items():
        pool = await _candidates(session, child_level, in_region)
        for scope in SCOPES:
            groups: dict[uuid.UUID, list[Unit]] = {}
            for unit in pool:
                key = ancestor_at(places, unit.territory_id, scope)
                if key is not None:
                    groups.setdefault(key, []).append(unit)
            taken: set[uuid.UUID] = set()
            # Groups in the order of their oldest candidate, candidates oldest first.
            for members in groups.values():
                while len(members) >= size:
                    chunk, members = members[:size], members[size:]
                    formed.append(await _form(session, parent_level, chunk, places))
                    taken.update(child.id for child in chunk)
            pool = [unit for unit in pool if unit.id not in taken]
    return formed


async def regions_with_candidates(session: AsyncSession) -> list[uuid.UUID]:
    """The regions where some led unit still waits for a parent, in a stable order."""
    territory_ids = await session.scalars(
        select(Unit.territory_id)
        .where(
            Unit.level != UnitLevel.ATASEULI,
            Unit.parent_id.is_(None),
            Unit.status == UnitStatus.ACTIVE,
            exists().where(LeadershipTerm.unit_id == Unit.id, LeadershipTerm.ended_at.is_(None)),
        )
        .distinct()
    )
    places = await territory_map(session)
    return sorted({root_of(places, tid) for tid in territory_ids.all()}, key=str)
