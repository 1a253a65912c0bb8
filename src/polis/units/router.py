"""HTTP for units: ``/ateulis`` (groups of ten) and ``/hierarchy`` (the units above them).

Both routers live in the units package: the hierarchy has no tables of its own, it reads the
same units, terms and memberships through the same service.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Annotated

from fastapi import Query
from sqlalchemy.ext.asyncio import AsyncSession

from polis.auth.deps import AuthenticatedUser, VerifiedUser
from polis.kit.deps import DbSession, SettingsDep
from polis.kit.envelope import Envelope, ListEnvelope, ok
from polis.kit.errors import ErrorCode
from polis.kit.pagination import Pagination, paginated
from polis.kit.presenting import from_row
from polis.kit.routing import DomainRouter, errors
from polis.units import queries, service
from polis.units.deps import AteuliEditor
from polis.units.hierarchy import GROUPS
from polis.units.models import MAX_UNIT_SIZE, LeadershipTerm, Unit, UnitLevel, UnitStatus
from polis.units.schemas import (
    CreateAteuliIn,
    JoinIn,
    LeaderRef,
    LevelTotals,
    MemberOut,
    MyPositionOut,
    OverviewOut,
    RenameIn,
    SatatbiroMemberOut,
    SeatOut,
    UnitOut,
)
from polis.users.models import User
from polis.users.presenters import public_out

router = DomainRouter(prefix="/ateulis", tags=["ateulis"])
hierarchy_router = DomainRouter(prefix="/hierarchy", tags=["hierarchy"])

# How many children (members for an ateuli) a unit of each level holds when complete.
CAPACITY = {UnitLevel.ATEULI: MAX_UNIT_SIZE} | {parent: size for parent, size in GROUPS.values()}


async def units_out(session: AsyncSession, units: Sequence[Unit]) -> list[UnitOut]:
    leaders = await queries.leaders_of(session, [unit.id for unit in units])
    out = []
    for unit in units:
        found = leaders.get(unit.id)
        capacity = CAPACITY[unit.level]
        out.append(
            from_row(
                UnitOut,
                unit,
                capacity=capacity,
                has_space=unit.status is not UnitStatus.INACTIVE and unit.member_count < capacity,
                leader=_leader(*found) if found else None,
            )
        )
    return out


def _leader(user: User, term: LeadershipTerm) -> LeaderRef:
    return from_row(LeaderRef, user, since=term.started_at)


async def unit_out(session: AsyncSession, unit: Unit) -> UnitOut:
    return (await units_out(session, [unit]))[0]


# --- /ateulis -------------------------------------------------------------------------------


@router.get("", response_model=ListEnvelope[UnitOut], summary="Find ateulis")
async def list_ateulis(
    _: AuthenticatedUser,
    session: DbSession,
    params: Pagination,
    territory_id: uuid.UUID | None = None,
    status: UnitStatus | None = None,
    has_space: Annotated[
        bool | None, Query(description="true: could be joined now (not full, not inactive)")
    ] = None,
) -> ListEnvelope[UnitOut]:
    filters = queries.AteuliFilters(territory_id=territory_id, status=status, has_space=has_space)
    page = await queries.list_ateulis(session, filters, params)
    return paginated(await units_out(session, page.items), page.total, params)


@router.post("", response_model=Envelope[UnitOut], status_code=201, summary="Found an ateuli")
@errors(
    ErrorCode.ALREADY_IN_GROUP,
    ErrorCode.INVALID_HIERARCHY_LEVEL,
    ErrorCode.NOT_IN_DISTRICT,
    ErrorCode.DIASPORA_EXCLUDED,
    ErrorCode.NOT_FOUND,
)
async def create_ateuli(
    body: CreateAteuliIn, user: VerifiedUser, session: DbSession
) -> Envelope[UnitOut]:
    unit = await service.create_ateuli(
        session, user, name=body.name, territory_id=body.territory_id
    )
    return ok(await unit_out(session, unit))


@router.get("/{ateuli_id}", response_model=Envelope[UnitOut], summary="An ateuli")
@errors(ErrorCode.NOT_FOUND)
async def get_ateuli(
    ateuli_id: uuid.UUID, _: AuthenticatedUser, session: DbSession
) -> Envelope[UnitOut]:
    unit = await queries.get_unit(session, ateuli_id, UnitLevel.ATEULI)
    return ok(await unit_out(session, unit))


@router.patch("/{ateuli_id}", response_model=Envelope[UnitOut], summary="Rename an ateuli")
@errors(ErrorCode.INSUFFICIENT_PERMISSIONS, ErrorCode.NOT_FOUND)
async def rename_ateuli(
    body: RenameIn, editor: AteuliEditor, session: DbSession
) -> Envelope[UnitOut]:
    unit, user = editor
    await service.rename_unit(session, unit, user, body.name)
    return ok(await unit_out(session, unit))


@router.post("/{ateuli_id}/join", response_model=Envelope[UnitOut], summary="Join an ateuli")
@errors(
    ErrorCode.GROUP_FULL,
    ErrorCode.ALREADY_IN_GROUP,
    ErrorCode.NOT_IN_DISTRICT,
    ErrorCode.DIASPORA_EXCLUDED,
    ErrorCode.UNIT_NOT_ACTIVE,
    ErrorCode.NOT_FOUND,
)
async def join_ateuli(
    ateuli_id: uuid.UUID, user: VerifiedUser, session: DbSession, body: JoinIn | None = None
) -> Envelope[UnitOut]:
    unit = await service.join_ateuli(
        session, user, ateuli_id, message=body.message if body else None
    )
    return ok(await unit_out(session, unit))


@router.post("/{ateuli_id}/leave", response_model=Envelope[UnitOut], summary="Leave an ateuli")
@errors(ErrorCode.NOT_A_MEMBER, ErrorCode.NOT_FOUND)
async def leave_ateuli(
    ateuli_id: uuid.UUID, user: VerifiedUser, session: DbSession
) -> Envelope[UnitOut]:
    unit = await service.leave_ateuli(session, user, ateuli_id)
    return ok(await unit_out(session, unit))


@router.get(
    "/{ateuli_id}/members", response_model=ListEnvelope[MemberOut], summary="An ateuli's members"
)
@errors(ErrorCode.NOT_FOUND)
async def ateuli_members(
    ateuli_id: uuid.UUID,
    _: VerifiedUser,
    session: DbSession,
    settings: SettingsDep,
    params: Pagination,
) -> ListEnvelope[MemberOut]:
    unit = await queries.get_unit(session, ateuli_id, UnitLevel.ATEULI)
    page = await queries.members_of(session, unit, params)
    term = await queries.open_term(session, unit.id)
    leader_id = term.user_id if term else None
    items = [
        MemberOut(
            **(await public_out(session, settings, member)).model_dump(),
            is_leader=member.id == leader_id,
        )
        for member in page.items
    ]
    return paginated(items, page.total, params)


# --- /hierarchy -----------------------------------------------------------------------------


@hierarchy_router.get("/overview", response_model=Envelope[OverviewOut], summary="Totals per level")
async def overview(_: AuthenticatedUser, session: DbSession) -> Envelope[OverviewOut]:
    levels, members, satatbiro_size = await queries.overview(session)
    return ok(
        OverviewOut(
            levels=[
                LevelTotals(
                    level=count.level,
                    total=sum(count.by_status.values()),
                    forming=count.by_status.get(UnitStatus.FORMING, 0),
                    active=count.by_status.get(UnitStatus.ACTIVE, 0),
                    inactive=count.by_status.get(UnitStatus.INACTIVE, 0),
                    led=count.led,
                )
                for count in levels
            ],
            members_in_ateulis=members,
            satatbiro_size=satatbiro_size,
        )
    )


async def _level_page(
    level: UnitLevel,
    session: AsyncSession,
    params: Pagination,
    territory_id: uuid.UUID | None,
    status: UnitStatus | None,
) -> ListEnvelope[UnitOut]:
    page = await queries.list_units(
        session, level, params, territory_id=territory_id, status=status
    )
    return paginated(await units_out(session, page.items), page.total, params)


_TERRITORY = Query(description="this territory and every territory under it")


def _level_route(level: UnitLevel, path: str, summary: str) -> None:
    """``GET /hierarchy/<path>``: one page of the units of ``level``."""

    async def route(
        _: AuthenticatedUser,
        session: DbSession,
        params: Pagination,
        territory_id: Annotated[uuid.UUID | None, _TERRITORY] = None,
        status: UnitStatus | None = None,
    ) -> ListEnvelope[UnitOut]:
        return await _level_page(level, session, params, territory_id, status)

    # The function's name is the route's (and the OpenAPI operation's) name.
    route.__name__ = route.__qualname__ = path.strip("/")
    hierarchy_router.get(path, response_model=ListEnvelope[UnitOut], summary=summary)(route)


_level_route(UnitLevel.ORMOTSDAATEULI, "/ormotsdaateulis", "Ormotsdaateulis")
_level_route(UnitLevel.ASEULI, "/aseulis", "Aseulis")
_level_route(UnitLevel.ATASEULI, "/ataseulis", "Ataseulis")


@hierarchy_router.get(
    "/satatbiro", response_model=Envelope[list[SatatbiroMemberOut]], summary="The satatbiro"
)
async def satatbiro(_: AuthenticatedUser, session: DbSession) -> Envelope[list[SatatbiroMemberOut]]:
    rows = await queries.satatbiro(session)
    units = await units_out(session, [unit for _, _, unit in rows])
    return ok(
        [
            SatatbiroMemberOut(
                leader=_leader(user, term),
                unit=unit,
            )
            for (user, term, _), unit in zip(rows, units, strict=True)
        ]
    )


@hierarchy_router.get(
    "/my-position", response_model=Envelope[MyPositionOut], summary="My place in the hierarchy"
)
async def my_position(user: AuthenticatedUser, session: DbSession) -> Envelope[MyPositionOut]:
    position = await queries.my_position(session, user)
    seat_units = await units_out(session, [unit for _, unit in position.seats])
    path = await units_out(session, position.path)
    return ok(
        MyPositionOut(
            positions=[
                SeatOut(unit=unit, started_at=term.started_at, election_id=term.election_id)
                for (term, _), unit in zip(position.seats, seat_units, strict=True)
            ],
            ateuli=path[0] if path else None,
            path=path,
        )
    )
