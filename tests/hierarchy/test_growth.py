"""Leadership installation and hierarchy growth, and the /hierarchy endpoints."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from polis.auth.tokens import issue_access_token
from polis.config import Settings
from polis.kit import clock
from polis.kit.errors import PolisError
from polis.territories.models import Territory, TerritoryType
from polis.units import hierarchy, service
from polis.units import queries as unit_queries
from polis.units.models import LeadershipTerm, TermEndReason, Unit, UnitLevel, UnitStatus
from polis.users.models import User
from tests.auth.helpers import assert_error
from tests.units.factories import ateuli_with, bulk_users, territory, units_client, verified


async def _led_ateulis(
    session: AsyncSession, district_id: uuid.UUID, count: int, *, start: int = 0
) -> list[Unit]:
    """``count`` full ateulis of ``district_id`` with atistavis, created one second apart."""
    base = clock.now() - timedelta(days=1)
    units = []
    for n in range(count):
        ids = await bulk_users(session, district_id, 10)
        unit = await ateuli_with(
            session, district_id, ids, created_at=base + timedelta(seconds=start + n)
        )
        await service.install_leader(session, unit, await session.get_one(User, ids[0]))
        units.append(unit)
    return units


def _headers(settings: Settings, user: User) -> dict[str, str]:
    # A bulk-made member has no session row; a token naming a fresh session id still passes
    # (only revoked ids are refused), which is all a read needs.
    token, _ = issue_access_token(settings, user.id, uuid.uuid4())
    return {"Authorization": f"Bearer {token}"}


async def _units(session: AsyncSession, level: UnitLevel) -> list[Unit]:
    rows = await session.scalars(
        select(Unit)
        .where(Unit.level == level)
        .order_by(Unit.created_at, Unit.id)
        .execution_options(populate_existing=True)
    )
    return list(rows.all())


async def test_install_leader_rules(
    db_session: AsyncSession, settings: Settings, district: Territory
) -> None:
    a = await verified(db_session, settings, district.id)
    b = await verified(db_session, settings, district.id)
    outsider = await verified(db_session, settings, district.id)
    filler = await bulk_users(db_session, district.id, 8)
    unit = await ateuli_with(db_session, district.id, [a.user.id, b.user.id, *filler])
    forming = await ateuli_with(db_session, district.id, [outsider.user.id])

    for target, who, expected in ((unit, outsider, 3014), (forming, outsider, 3015)):
        with pytest.raises(PolisError) as refused:
            await service.install_leader(db_session, target, who.user)
        assert refused.value.error.code == expected

    election = uuid.uuid4()
    first = await service.install_leader(db_session, unit, a.user, election)
    again = await service.install_leader(db_session, unit, a.user, election)
    assert again.id == first.id  # a retried finalisation changes nothing
    second = await service.install_leader(db_session, unit, b.user)
    await db_session.refresh(first)
    assert (first.end_reason, first.ended_at is not None) == (TermEndReason.REPLACED, True)
    open_terms = await db_session.scalar(
        select(func.count())
        .select_from(LeadershipTerm)
        .where(LeadershipTerm.unit_id == unit.id, LeadershipTerm.ended_at.is_(None))
    )
    assert open_terms == 1 and second.ended_at is None


async def test_growth_looks_in_the_district_then_municipality_then_region(
    db_session: AsyncSession,
) -> None:
    region = await territory(db_session, TerritoryType.REGION)
    m1 = await territory(db_session, TerritoryType.MUNICIPALITY, region)
    m2 = await territory(db_session, TerritoryType.MUNICIPALITY, region)
    d1 = await territory(db_session, TerritoryType.ELECTORAL_DISTRICT, m1)
    d2 = await territory(db_session, TerritoryType.ELECTORAL_DISTRICT, m1)
    d3 = await territory(db_session, TerritoryType.ELECTORAL_DISTRICT, m2)
    other_region = await territory(db_session, TerritoryType.REGION)
    m9 = await territory(db_session, TerritoryType.MUNICIPALITY, other_region)
    d9 = await territory(db_session, TerritoryType.ELECTORAL_DISTRICT, m9)

    # d1: 7 → one district unit (5) + 2 left; d2: 3 → with d1's 2, a municipality unit;
    # d3: 4 + 1 more in d1 later → a region unit; d9 (another region): 4 → nothing.
    await _led_ateulis(db_session, d1.id, 7)
    await _led_ateulis(db_session, d2.id, 3, start=10)
    await _led_ateulis(db_session, d9.id, 4, start=20)
    orms = await _units(db_session, UnitLevel.ORMOTSDAATEULI)
    assert [u.territory_id for u in orms] == [d1.id, m1.id]
    await _led_ateulis(db_session, d3.id, 4, start=30)
    await _led_ateulis(db_session, d2.id, 1, start=40)
    orms = await _units(db_session, UnitLevel.ORMOTSDAATEULI)
    assert [u.territory_id for u in orms] == [d1.id, m1.id, region.id]
    assert all(u.status is UnitStatus.ACTIVE and u.member_count == 5 for u in orms)
    assert all(u.leader_election_due_at is not None for u in orms)
    waiting = await db_session.scalar(
        select(func.count())
        .select_from(Unit)
        .where(Unit.territory_id == d9.id, Unit.parent_id.is_(None))
    )
    assert waiting == 4
    # Growing again forms nothing: idempotent.
    await hierarchy.lock_region(db_session, region.id)
    assert await hierarchy.grow(db_session, region.id) == []


async def test_a_thousand_members_grow_a_full_tree_deterministically(
    db_session: AsyncSession, settings: Settings
) -> None:
    region = await territory(db_session, TerritoryType.REGION)
    municipalities = [
        await territory(db_session, TerritoryType.MUNICIPALITY, region) for _ in range(2)
    ]
    districts = [
        await territory(db_session, TerritoryType.ELECTORAL_DISTRICT, municipalities[n // 5])
        for n in range(10)
    ]
    ateulis: list[Unit] = []
    for n, place in enumerate(districts):
        ateulis += await _led_ateulis(db_session, place.id, 10, start=n * 10)

    orms = await _units(db_session, UnitLevel.ORMOTSDAATEULI)
    assert len(orms) == 20
    # Oldest first: the k-th ormotsdaateuli holds ateulis 5k … 5k+4 of their creation order.
    for k, orm in enumerate(orms):
        children = (
            await db_session.scalars(
                select(Unit.id).where(Unit.parent_id == orm.id).order_by(Unit.created_at, Unit.id)
            )
        ).all()
        assert list(children) == [u.id for u in ateulis[5 * k : 5 * k + 5]]
        assert orm.territory_id == districts[k // 2].id

    # Each ormotsdaatistavi is an atistavi of one of its ateulis.
    for orm in orms:
        child = await db_session.scalar(
            select(Unit).where(Unit.parent_id == orm.id).order_by(Unit.created_at).limit(1)
        )
        assert child is not None
        term = await unit_queries.open_term(db_session, child.id)
        assert term is not None
        await service.install_leader(db_session, orm, await db_session.get_one(User, term.user_id))
    aseulis = await _units(db_session, UnitLevel.ASEULI)
    assert len(aseulis) == 10
    assert [a.territory_id for a in aseulis] == [d.id for d in districts]

    # An asistavi is one of the aseuli's atistavis (§3.3's table): a grandchild's leader.
    for aseuli in aseulis:
        orm_ids = select(Unit.id).where(Unit.parent_id == aseuli.id)
        grandchild = await db_session.scalar(
            select(Unit).where(Unit.parent_id.in_(orm_ids)).order_by(Unit.created_at).limit(1)
        )
        assert grandchild is not None
        term = await unit_queries.open_term(db_session, grandchild.id)
        assert term is not None
        await service.install_leader(
            db_session, aseuli, await db_session.get_one(User, term.user_id)
        )
    [ataseuli] = await _units(db_session, UnitLevel.ATASEULI)
    assert ataseuli.territory_id == region.id  # ten districts in two municipalities
    assert ataseuli.member_count == 10
    for level, count in (
        (UnitLevel.ATEULI, 100),
        (UnitLevel.ORMOTSDAATEULI, 20),
        (UnitLevel.ASEULI, 10),
    ):
        attached = await db_session.scalar(
            select(func.count())
            .select_from(Unit)
            .where(
                Unit.level == level,
                Unit.parent_id.is_not(None),
                Unit.territory_id.in_([region.id, *(d.id for d in districts)]),
            )
        )
        assert attached == count
    members = await db_session.scalar(
        select(func.sum(Unit.member_count)).where(
            Unit.level == UnitLevel.ATEULI, Unit.territory_id.in_([d.id for d in districts])
        )
    )
    assert members == 1000

    # The atasistavi: the asistavi of one of its aseulis. Then the endpoints.
    term = await unit_queries.open_term(db_session, aseulis[0].id)
    assert term is not None
    atasistavi = await db_session.get_one(User, term.user_id)
    await service.install_leader(db_session, ataseuli, atasistavi)
    viewer = await verified(db_session, settings, districts[0].id)
    async with units_client(settings, db_session.bind) as http:  # type: ignore[arg-type]
        overview = (await http.get("/api/v1/hierarchy/overview", headers=viewer.headers)).json()
        totals = {row["level"]: row for row in overview["data"]["levels"]}
        assert totals["ataseuli"]["total"] >= 1 and totals["ataseuli"]["led"] >= 1
        assert overview["data"]["members_in_ateulis"] >= 1000

        listed = await http.get(
            "/api/v1/hierarchy/ormotsdaateulis",
            params={"territory_id": str(municipalities[0].id), "per_page": 100},
            headers=viewer.headers,
        )
        # Descendants included: the ten ormotsdaateulis of the first municipality's districts.
        assert listed.json()["meta"]["total"] == 10
        exact = await http.get(
            "/api/v1/hierarchy/ataseulis",
            params={"territory_id": str(region.id)},
            headers=viewer.headers,
        )
        assert [u["id"] for u in exact.json()["data"]] == [str(ataseuli.id)]
        aseuli_page = await http.get(
            "/api/v1/hierarchy/aseulis",
            params={"territory_id": str(region.id), "per_page": 3},
            headers=viewer.headers,
        )
        assert aseuli_page.json()["meta"]["total"] == 10
        assert aseuli_page.json()["meta"]["has_next"] is True

        satatbiro = await http.get("/api/v1/hierarchy/satatbiro", headers=viewer.headers)
        seats = [row for row in satatbiro.json()["data"] if row["unit"]["id"] == str(ataseuli.id)]
        assert [row["leader"]["id"] for row in seats] == [str(atasistavi.id)]

        # The atasistavi's own view: four seats, their ateuli, and the path to the top.
        mine = (
            await http.get("/api/v1/hierarchy/my-position", headers=_headers(settings, atasistavi))
        ).json()["data"]
    assert [seat["unit"]["level"] for seat in mine["positions"]] == [
        level.value for level in UnitLevel
    ]
    assert [unit["level"] for unit in mine["path"]] == [level.value for level in UnitLevel]
    assert mine["path"][-1]["id"] == str(ataseuli.id)
    assert mine["path"][-1]["leader"]["id"] == str(atasistavi.id)
    assert mine["ateuli"]["id"] == mine["path"][0]["id"]


async def test_my_position_and_leader_only_routes_through_http(
    db_session: AsyncSession, settings: Settings, district: Territory
) -> None:
    loner = await verified(db_session, settings, district.id)
    async with units_client(settings, db_session.bind) as http:  # type: ignore[arg-type]
        empty = await http.get("/api/v1/hierarchy/my-position", headers=loner.headers)
        assert empty.json()["data"] == {"positions": [], "ateuli": None, "path": []}
        assert_error(await http.get("/api/v1/hierarchy/my-position"), 401, 1003)
