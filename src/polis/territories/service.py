"""Territory rules: importing the electoral map, point lookup, counts and statistics.

Services only flush; the caller's transaction commits (one request, or one CLI run), so an
import that fails part-way leaves nothing behind.

Units are read here (ateuli counts and lists), never written: the units domain owns them.
Their answers are cached 5 minutes (docs/territories.md), so a join or leave shows in a
territory's counts within that time.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from shapely.geometry import Point, shape
from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.elements import ColumnElement

from polis.kit.cache import ResponseCache
from polis.kit.db import get_or_404
from polis.kit.errors import ErrorCode, ValidationFailed
from polis.kit.pagination import Page, PageParams, paginate
from polis.territories import importer
from polis.territories.importer import FeatureSpec, ImportProblem, TerritoryImportError
from polis.territories.models import PARENT_TYPE, Territory, TerritoryType
from polis.units.models import ATEULI_SORTABLE, LeadershipTerm, Unit, UnitLevel, UnitStatus
from polis.users.models import MemberStatus, User, UserRole

CACHE_NAMESPACE = "territories"

# Called after each feature is written with (done, total): the CLI draws its progress bar.
Progress = Callable[[int, int], None]


@dataclass
class ImportResult:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    @property
    def changed(self) -> int:
        return len(self.created) + len(self.updated)

    @property
    def total(self) -> int:
        return self.changed + len(self.unchanged)


# --- import ---------------------------------------------------------------------------------


async def import_territories(
    session: AsyncSession, document: Any, *, progress: Progress | None = None
) -> ImportResult:
    """Upsert every territory of a GeoJSON FeatureCollection, matched by ``code``.

    Every feature is checked before anything is written; any problem raises
    ``TerritoryImportError`` listing all of them. A second import of the same file changes
    nothing; an edited name, parent or boundary updates the stored territory. The cache is not
    touched here: call ``invalidate_cache`` once the transaction has committed.
    """
    specs, problems = importer.parse_document(document)
    by_code = {spec.code: spec for spec in specs}
    wanted = set(by_code) | {spec.parent_code for spec in specs if spec.parent_code}
    stored = {
        territory.code: territory
        for territory in (
            await session.scalars(select(Territory).where(Territory.code.in_(wanted)))
        ).all()
    }
    problems.extend(_database_problems(specs, stored))
    if problems:
        problems.sort(key=lambda p: p.index if p.index is not None else -1)
        raise TerritoryImportError(problems)

    result = ImportResult()
    ids = {code: territory.id for code, territory in stored.items()}
    # Sorted by level: each parent's id is known before its children are written.
    for done, spec in enumerate(specs, start=1):
        parent_id = ids[spec.parent_code] if spec.parent_code else None
        territory = stored.get(spec.code)
        if territory is None:
            # The id is chosen here, not at flush, so children can point at it at once.
            territory = Territory(id=uuid.uuid4(), code=spec.code, type=spec.type)
            _apply(territory, spec, parent_id)
            session.add(territory)
            result.created.append(spec.code)
        elif _apply(territory, spec, parent_id):
            result.updated.append(spec.code)
        else:
            result.unchanged.append(spec.code)
        ids[spec.code] = territory.id
        if progress is not None:
            progress(done, len(specs))
    await session.flush()
    return result


def _database_problems(
    specs: Sequence[FeatureSpec], stored: dict[str, Territory]
) -> list[ImportProblem]:
    in_file = {spec.code: spec.type for spec in specs}
    problems: list[ImportProblem] = []
    for spec in specs:
        existing = stored.get(spec.code)
        if existing is not None and existing.type is not spec.type:
            # Members and children hang off a territory: its level never changes under them.
            problems.append(
                ImportProblem(
                    spec.index,
                    spec.code,
                    f"{spec.code} is stored as a {existing.type.value}; "
                    f"it cannot become a {spec.type.value}",
                )
            )
        if spec.parent_code is None:
            continue
        parent_type = in_file.get(spec.parent_code)
        if parent_type is None and spec.parent_code in stored:
            parent_type = stored[spec.parent_code].type
        if parent_type is None:
            problems.append(
                ImportProblem(spec.index, spec.code, f"unknown parent_code {spec.parent_code!r}")
            )
        elif parent_type is not PARENT_TYPE[spec.type]:
            expected = PARENT_TYPE[spec.type]
            assert expected is not None
            problems.append(
                ImportProblem(
                    spec.index,
                    spec.code,
                    f"the parent of a {spec.type.value} must be a {expected.value}, "
                    f"but {spec.parent_code} is a {parent_type.value}",
                )
            )
    return problems


def _apply(territory: Territory, spec: FeatureSpec, parent_id: uuid.UUID | None) -> bool:
    """Copy ``spec`` onto ``territory``; True when anything changed."""
    values: dict[str, Any] = {
        "name_ka": spec.name_ka,
        "name_en": spec.name_en,
        "parent_id": parent_id,
        "boundary": spec.boundary,
        "min_lat": spec.min_lat,
        "min_lng": spec.min_lng,
        "max_lat": spec.max_lat,
        "max_lng": spec.max_lng,
    }
    changed = False
    for name, value in values.items():
        # Assigning an equal value would still mark the row dirty and bump updated_at.
        if getattr(territory, name, None) != value:
            setattr(territory, name, value)
            changed = True
    return changed


async def import_file(
    session: AsyncSession, path: Path, *, progress: Progress | None = None
) -> ImportResult:
    """Import the GeoJSON file at ``path`` (see ``import_territories``)."""
    return await import_territories(session, importer.load_document(path), progress=progress)


async def seed_sample_map(session: AsyncSession) -> int:
    """Import the shipped map of Georgia, idempotently; the number of territories written.

    Zero on a second run. When it is not zero, invalidate the territory cache after commit.
    """
    result = await import_file(session, importer.SAMPLE_MAP)
    return result.changed


async def invalidate_cache(redis: Redis) -> None:
    """Retire every cached territory answer; call after an import has committed."""
    await ResponseCache(redis).invalidate(CACHE_NAMESPACE)


# --- point lookup ---------------------------------------------------------------------------


async def district_at(session: AsyncSession, lat: float, lng: float) -> Territory | None:
    """The electoral district whose boundary holds the point, or None.

    SQL keeps only districts whose bounding box holds the point (an indexed range filter);
    shapely then tests the real polygon. A point on a border shared by two districts belongs
    to the one with the smaller code, so the answer is stable.
    """
    if not -90 <= lat <= 90:
        raise ValidationFailed(
            "lat must be between -90 and 90.",
            error=ErrorCode.OUT_OF_RANGE,
            details={"field": "lat", "min": -90, "max": 90},
        )
    if not -180 <= lng <= 180:
        raise ValidationFailed(
            "lng must be between -180 and 180.",
            error=ErrorCode.OUT_OF_RANGE,
            details={"field": "lng", "min": -180, "max": 180},
        )
    candidates = await session.scalars(
        select(Territory)
        .where(
            Territory.min_lat <= lat,
            Territory.max_lat >= lat,
            Territory.min_lng <= lng,
            Territory.max_lng >= lng,
            Territory.type == TerritoryType.ELECTORAL_DISTRICT,
        )
        .order_by(Territory.code)
    )
    point = Point(lng, lat)  # GeoJSON order: longitude first
    for candidate in candidates:
        if candidate.boundary is not None and shape(candidate.boundary).covers(point):
            return candidate
    return None


# --- reads ----------------------------------------------------------------------------------


async def get_territory(session: AsyncSession, territory_id: uuid.UUID) -> Territory:
    """A territory by id; 404/4001 when there is none."""
    return await get_or_404(session, Territory, territory_id, missing="No such territory.")


async def parent_chain(session: AsyncSession, territory: Territory) -> list[Territory]:
    """The ancestors of ``territory``, its region first."""
    chain: list[Territory] = []
    parent_id = territory.parent_id
    # At most two steps (district > municipality > region); the guard stops a corrupt cycle.
    while parent_id is not None and len(chain) < 8:
        parent = await session.get(Territory, parent_id)
        if parent is None:
            break
        chain.append(parent)
        parent_id = parent.parent_id
    chain.reverse()
    return chain


def _escape_like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


async def list_territories(
    session: AsyncSession,
    params: PageParams,
    *,
    type_: TerritoryType | None = None,
    parent_id: uuid.UUID | None = None,
    search: str | None = None,
) -> Page:
    """Territories by type, parent and a part of a name (Georgian or English) or code."""
    statement = select(Territory)
    if type_ is not None:
        statement = statement.where(Territory.type == type_)
    if parent_id is not None:
        statement = statement.where(Territory.parent_id == parent_id)
    if search:
        pattern = _escape_like(search)
        statement = statement.where(
            or_(
                Territory.name_ka.ilike(pattern, escape="\\"),
                Territory.name_en.ilike(pattern, escape="\\"),
                Territory.code.ilike(pattern, escape="\\"),
            )
        )
    return await paginate(
        session,
        statement,
        params,
        sortable={
            "code": Territory.code,
            "name_en": Territory.name_en,
            "name_ka": Territory.name_ka,
            "created_at": Territory.created_at,
        },
        default_sort="code",
    )


def subtree(root_ids: Sequence[uuid.UUID]) -> Any:
    """A recursive CTE of (root_id, id): each root and every territory below it."""
    tree = (
        select(Territory.id.label("root_id"), Territory.id.label("id"))
        .where(Territory.id.in_(root_ids))
        .cte("subtree", recursive=True)
    )
    return tree.union_all(
        select(tree.c.root_id, Territory.id).join(tree, Territory.parent_id == tree.c.id)
    )


def _verified() -> ColumnElement[bool]:
    """Verified members (§3.1): onboarded, not unverified, not deleted."""
    return and_(
        User.deleted_at.is_(None),
        User.onboarded_at.is_not(None),
        User.role != UserRole.UNVERIFIED,
    )


async def _counts_below(
    session: AsyncSession,
    territory_ids: Sequence[uuid.UUID],
    counted: InstrumentedAttribute[uuid.UUID],
    located: InstrumentedAttribute[Any],
    where: ColumnElement[bool],
) -> dict[uuid.UUID, int]:
    """``count(counted)`` of the rows ``where`` holds whose ``located`` territory is each of
    ``territory_ids`` or anywhere below it, in one query; 0 for a territory with none."""
    if not territory_ids:
        return {}
    tree = subtree(territory_ids)
    rows = await session.execute(
        select(tree.c.root_id, func.count(counted))
        .join(counted.class_, located == tree.c.id)
        .where(where)
        .group_by(tree.c.root_id)
    )
    counts = {root_id: int(count) for root_id, count in rows}
    return {territory_id: counts.get(territory_id, 0) for territory_id in territory_ids}


async def member_counts(
    session: AsyncSession, territory_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, int]:
    """Verified members living in each territory or anywhere below it."""
    return await _counts_below(session, territory_ids, User.id, User.territory_id, _verified())


async def ateuli_counts(
    session: AsyncSession, territory_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, int]:
    """Ateulis (``forming`` or ``active``; a dissolved one is not counted) in each territory or
    anywhere below it, in one query."""
    return await _counts_below(session, territory_ids, Unit.id, Unit.territory_id, _live_ateuli())


def _live_ateuli() -> ColumnElement[bool]:
    return and_(Unit.level == UnitLevel.ATEULI, Unit.status != UnitStatus.INACTIVE)


def members_statement(territory: Territory) -> Select[Any]:
    """Verified members living in ``territory`` or below it, as a statement to page or count."""
    tree = subtree([territory.id])
    return select(User).where(_verified(), User.territory_id.in_(select(tree.c.id)))


async def list_members(session: AsyncSession, territory: Territory, params: PageParams) -> Page:
    """Verified members living in ``territory`` or below it."""
    return await paginate(
        session,
        members_statement(territory),
        params,
        sortable={"created_at": User.created_at, "last_name": User.last_name},
        default_sort="created_at",
    )


@dataclass(frozen=True)
class AteuliListing:
    """An ateuli in a territory's list, with its sitting atistavi if the seat is filled."""

    unit: Unit
    leader: User | None


async def list_ateulis(session: AsyncSession, territory: Territory, params: PageParams) -> Page:
    """Ateulis (not dissolved) in ``territory`` or below it: a page of ``AteuliListing``.

    Sortable by ``created_at`` (default), ``member_count`` and ``name``; the leaders of the page
    come in one more query.
    """
    tree = subtree([territory.id])
    statement = select(Unit).where(_live_ateuli(), Unit.territory_id.in_(select(tree.c.id)))
    page = await paginate(
        session,
        statement,
        params,
        sortable=ATEULI_SORTABLE,
        default_sort="created_at",
    )
    units: list[Unit] = list(page.items)
    leaders: dict[uuid.UUID, User] = {}
    if units:
        rows = await session.execute(
            select(LeadershipTerm.unit_id, User)
            .join(User, User.id == LeadershipTerm.user_id)
            .where(
                LeadershipTerm.unit_id.in_([unit.id for unit in units]),
                LeadershipTerm.ended_at.is_(None),
            )
        )
        leaders = {unit_id: user for unit_id, user in rows}
    items = [AteuliListing(unit=unit, leader=leaders.get(unit.id)) for unit in units]
    return Page(items=items, total=page.total, params=params)


@dataclass(frozen=True)
class TerritoryStatistics:
    members: int
    geders: int
    supporters: int
    active: int
    passive: int
    ateulis: int
    children: int
    municipalities: int
    electoral_districts: int


async def statistics(session: AsyncSession, territory: Territory) -> TerritoryStatistics:
    """Verified members by role and status, units, and the territories below ``territory``."""
    tree = subtree([territory.id])
    row = (
        await session.execute(
            select(
                func.count(User.id),
                func.count(User.id).filter(User.role == UserRole.GEDER),
                func.count(User.id).filter(User.role == UserRole.SUPPORTER),
                func.count(User.id).filter(User.status == MemberStatus.ACTIVE),
                func.count(User.id).filter(User.status == MemberStatus.PASSIVE),
            ).where(_verified(), User.territory_id.in_(select(tree.c.id)))
        )
    ).one()
    below = (
        await session.execute(
            select(
                func.count().filter(Territory.parent_id == territory.id),
                func.count().filter(Territory.type == TerritoryType.MUNICIPALITY),
                func.count().filter(Territory.type == TerritoryType.ELECTORAL_DISTRICT),
            ).where(Territory.id.in_(select(tree.c.id)), Territory.id != territory.id)
        )
    ).one()
    ateulis = (await ateuli_counts(session, [territory.id]))[territory.id]
    return TerritoryStatistics(
        members=int(row[0]),
        geders=int(row[1]),
        supporters=int(row[2]),
        active=int(row[3]),
        passive=int(row[4]),
        ateulis=ateulis,
        children=int(below[0]),
        municipalities=int(below[1]),
        electoral_districts=int(below[2]),
    )
