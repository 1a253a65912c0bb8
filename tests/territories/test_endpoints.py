"""The territory endpoints: lists with filters and counts, detail, members, statistics, cache."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from polis.config import Settings
from polis.kit import clock
from polis.territories import service
from polis.territories.models import Territory
from polis.units import service as units
from polis.units.models import Unit, UnitStatus
from polis.users.models import MemberStatus, User, UserRole
from tests.auth.helpers import assert_error
from tests.conftest import Member, make_member
from tests.territories import collection, ensure_routes, feature, rectangle, unique_prefix
from tests.units import factories

API = "/api/v1/territories"


@pytest.fixture(autouse=True)
def _routes(app: FastAPI) -> None:
    ensure_routes(app)


@dataclass
class World:
    prefix: str
    ids: dict[str, uuid.UUID]
    viewer: Member
    document: dict[str, object]

    def id(self, suffix: str = "") -> uuid.UUID:
        return self.ids[self.prefix + suffix]


def _document(p: str, m2_name: str = "Under_score 100%") -> dict[str, object]:
    return collection(
        feature(p, "region", None, rectangle(50, -50, 54, -49), name_en="Testland"),
        feature(
            f"{p}-01",
            "municipality",
            p,
            rectangle(50, -50, 52, -49),
            name_en="Testopolis",
            name_ka="ტესტოპოლისი",
        ),
        feature(f"{p}-02", "municipality", p, rectangle(52, -50, 54, -49), name_en=m2_name),
        feature(f"{p}-01-D1", "electoral_district", f"{p}-01", rectangle(50, -50, 51, -49)),
        feature(f"{p}-01-D2", "electoral_district", f"{p}-01", rectangle(51, -50, 52, -49)),
        feature(f"{p}-02-D1", "electoral_district", f"{p}-02", rectangle(52, -50, 54, -49)),
    )


@pytest.fixture
async def world(db_session: AsyncSession, settings: Settings) -> World:
    """Three verified members under one region, and four people who must not count."""
    prefix = unique_prefix()
    document = _document(prefix)
    await service.import_territories(db_session, document)
    rows = await db_session.execute(
        select(Territory.code, Territory.id).where(Territory.code.like(f"{prefix}%"))
    )
    ids = {code: territory_id for code, territory_id in rows}

    async def member(phone: str, district: str, **state: object) -> Member:
        return await make_member(
            db_session,
            settings,
            phone,
            territory_id=ids[prefix + district],
            **state,  # type: ignore[arg-type]
        )

    geder = {"onboarded": True, "role": UserRole.GEDER}
    await member("+995555320001", "-01-D1", status=MemberStatus.ACTIVE, last_name="A", **geder)
    await member("+995555320002", "-01-D2", onboarded=True, role=UserRole.SUPPORTER, last_name="B")
    await member("+995555320003", "-02-D1", last_name="C", **geder)
    # Not counted: unverified after onboarding, not onboarded, deleted.
    await member("+995555320004", "-01-D1", onboarded=True, role=UserRole.UNVERIFIED)
    await member("+995555320005", "-01-D1", role=UserRole.GEDER)
    deleted = await member("+995555320006", "-01-D1", **geder)
    deleted.user.deleted_at = clock.now()
    await db_session.flush()
    viewer = await make_member(db_session, settings, "+995555320009")
    return World(prefix=prefix, ids=ids, viewer=viewer, document=document)


async def test_every_endpoint_needs_a_login(client: httpx.AsyncClient, world: World) -> None:
    some = world.id()
    for path in (
        API,
        f"{API}/{some}",
        f"{API}/{some}/members",
        f"{API}/{some}/statistics",
        f"{API}/{some}/ateulis",
        f"{API}/lookup?lat=1&lng=1",
    ):
        assert_error(await client.get(path), 401, 1003)


async def test_list_with_member_counts(client: httpx.AsyncClient, world: World) -> None:
    response = await client.get(
        API,
        params={"search": world.prefix, "sort_by": "code", "sort_order": "asc"},
        headers=world.viewer.headers,
    )
    assert response.status_code == 200
    body = response.json()
    counts = {item["code"]: (item["member_count"], item["ateuli_count"]) for item in body["data"]}
    p = world.prefix
    # Verified members only, each territory counting everyone below it.
    assert counts == {
        p: (3, 0),
        f"{p}-01": (2, 0),
        f"{p}-01-D1": (1, 0),
        f"{p}-01-D2": (1, 0),
        f"{p}-02": (1, 0),
        f"{p}-02-D1": (1, 0),
    }
    region = body["data"][0]
    assert region["type"] == "region" and region["parent_id"] is None
    assert region["bbox"] == [50.0, -50.0, 54.0, -49.0]
    assert body["meta"]["total"] == 6


async def _codes(client: httpx.AsyncClient, world: World, **params: str) -> list[str]:
    response = await client.get(
        API, params={"sort_by": "code", "sort_order": "asc", **params}, headers=world.viewer.headers
    )
    assert response.status_code == 200, response.text
    return [item["code"] for item in response.json()["data"]]


async def test_list_filters(client: httpx.AsyncClient, world: World) -> None:
    p = world.prefix
    assert await _codes(client, world, search=p, type="municipality") == [f"{p}-01", f"{p}-02"]
    assert await _codes(client, world, parent_id=str(world.id("-01"))) == [
        f"{p}-01-D1",
        f"{p}-01-D2",
    ]
    # Names in either language and codes, case-insensitively.
    assert await _codes(client, world, search="tESTOPOLIS") == [f"{p}-01"]
    assert await _codes(client, world, search="ტესტოპოლ") == [f"{p}-01"]
    assert await _codes(client, world, search=f"{p.lower()}-02-d") == [f"{p}-02-D1"]
    # LIKE wildcards are literal characters in a search.
    percent = await _codes(client, world, search="%")
    assert f"{p}-02" in percent and f"{p}-01" not in percent
    underscore = await _codes(client, world, search="r_s")
    assert f"{p}-02" in underscore and f"{p}-01" not in underscore


async def test_list_pagination_and_bad_parameters(client: httpx.AsyncClient, world: World) -> None:
    response = await client.get(
        API,
        params={
            "search": world.prefix,
            "per_page": 2,
            "page": 2,
            "sort_by": "code",
            "sort_order": "asc",
        },
        headers=world.viewer.headers,
    )
    body = response.json()
    p = world.prefix
    assert [item["code"] for item in body["data"]] == [f"{p}-01-D1", f"{p}-01-D2"]
    meta = body["meta"]
    assert (meta["total"], meta["page"], meta["per_page"], meta["total_pages"]) == (6, 2, 2, 3)
    assert meta["has_next"] is True and meta["has_prev"] is True
    headers = world.viewer.headers
    assert_error(await client.get(API, params={"sort_by": "colour"}, headers=headers), 422, 2002)
    assert_error(await client.get(API, params={"type": "county"}, headers=headers), 422, 2002)
    assert_error(await client.get(API, params={"per_page": 101}, headers=headers), 422, 2002)


async def test_detail_with_parent_chain(client: httpx.AsyncClient, world: World) -> None:
    p = world.prefix
    response = await client.get(f"{API}/{world.id('-01-D2')}", headers=world.viewer.headers)
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["code"] == f"{p}-01-D2"
    assert data["parent_id"] == str(world.id("-01"))
    assert [(t["code"], t["type"]) for t in data["parents"]] == [
        (p, "region"),
        (f"{p}-01", "municipality"),
    ]
    assert data["boundary"] == rectangle(51, -50, 52, -49)
    region = (await client.get(f"{API}/{world.id()}", headers=world.viewer.headers)).json()
    assert region["data"]["parents"] == []


async def test_unknown_territory_is_404(client: httpx.AsyncClient, world: World) -> None:
    unknown = uuid.uuid4()
    for suffix in ("", "/members", "/statistics", "/ateulis"):
        response = await client.get(f"{API}/{unknown}{suffix}", headers=world.viewer.headers)
        assert_error(response, 404, 4001)
    assert_error(await client.get(f"{API}/not-a-uuid", headers=world.viewer.headers), 422, 2002)


async def test_members_are_verified_and_masked(client: httpx.AsyncClient, world: World) -> None:
    response = await client.get(
        f"{API}/{world.id()}/members",
        params={"sort_by": "last_name", "sort_order": "asc"},
        headers=world.viewer.headers,
    )
    assert response.status_code == 200
    body = response.json()
    assert [m["last_name"] for m in body["data"]] == ["A", "B", "C"]
    assert body["data"][0]["phone_masked"] == "+995 555 ••• •01"
    assert all("phone_number" not in m for m in body["data"])
    assert body["meta"]["total"] == 3
    assert response.headers["cache-control"] == "private, max-age=300"

    municipality = await client.get(
        f"{API}/{world.id('-01')}/members",
        params={"per_page": 1, "sort_by": "last_name", "sort_order": "desc"},
        headers=world.viewer.headers,
    )
    page = municipality.json()
    assert [m["last_name"] for m in page["data"]] == ["B"]
    assert (page["meta"]["total"], page["meta"]["has_next"]) == (2, True)


async def test_statistics(client: httpx.AsyncClient, world: World) -> None:
    response = await client.get(f"{API}/{world.id()}/statistics", headers=world.viewer.headers)
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["territory"]["code"] == world.prefix
    del data["territory"]
    assert data == {
        "members": 3,
        "geders": 2,
        "supporters": 1,
        "active": 1,
        "passive": 2,
        "ateulis": 0,
        "children": 2,
        "municipalities": 2,
        "electoral_districts": 3,
    }
    assert response.headers["cache-control"] == "public, max-age=300"
    district = await client.get(
        f"{API}/{world.id('-01-D1')}/statistics", headers=world.viewer.headers
    )
    assert district.json()["data"]["members"] == 1
    assert district.json()["data"]["children"] == 0


async def test_ateulis_of_a_territory_without_any(client: httpx.AsyncClient, world: World) -> None:
    response = await client.get(f"{API}/{world.id()}/ateulis", headers=world.viewer.headers)
    assert response.status_code == 200
    body = response.json()
    assert body["data"] == []
    assert body["meta"]["total"] == 0 and body["meta"]["has_next"] is False


async def _ateulis(
    db_session: AsyncSession, settings: Settings, world: World
) -> tuple[Unit, Unit, User]:
    """Real ateulis built through the units rules: a forming one of two in -01-D1, a full one
    with its atistavi in -02-D1, and a dissolved one (its only member left) in -01-D2."""

    async def resident(phone: str, district: str, last_name: str) -> User:
        member = await make_member(
            db_session,
            settings,
            phone,
            onboarded=True,
            role=UserRole.GEDER,
            territory_id=world.id(district),
            first_name="Nino",
            last_name=last_name,
        )
        return member.user

    founder = await resident("+995555320011", "-01-D1", "Beridze")
    forming = await units.create_ateuli(
        db_session, founder, name="Vake friends", territory_id=world.id("-01-D1")
    )
    await units.join_ateuli(
        db_session, await resident("+995555320012", "-01-D1", "Kapanadze"), forming.id
    )
    ten = await factories.bulk_users(db_session, world.id("-02-D1"), 10)
    full = await factories.ateuli_with(db_session, world.id("-02-D1"), ten, name="Full ten")
    leader = await db_session.get(User, ten[3])
    assert leader is not None
    await units.install_leader(db_session, full, leader)
    lone = await resident("+995555320013", "-01-D2", "Lomidze")
    gone = await units.create_ateuli(db_session, lone, name="Gone", territory_id=world.id("-01-D2"))
    await units.leave_ateuli(db_session, lone, gone.id)
    assert gone.status is UnitStatus.INACTIVE
    return forming, full, leader


async def test_ateulis_are_counted_and_listed(
    client: httpx.AsyncClient, db_session: AsyncSession, settings: Settings, world: World
) -> None:
    forming, full, leader = await _ateulis(db_session, settings, world)
    headers = world.viewer.headers
    p = world.prefix

    listing = await client.get(API, params={"search": p}, headers=headers)
    counts = {item["code"]: item["ateuli_count"] for item in listing.json()["data"]}
    # Each territory counts the ateulis in it and below it; the dissolved one is not counted.
    assert counts == {
        p: 2,
        f"{p}-01": 1,
        f"{p}-01-D1": 1,
        f"{p}-01-D2": 0,
        f"{p}-02": 1,
        f"{p}-02-D1": 1,
    }

    region = await client.get(
        f"{API}/{world.id()}/ateulis",
        params={"sort_by": "name", "sort_order": "asc"},
        headers=headers,
    )
    assert region.status_code == 200
    body = region.json()
    assert body["data"] == [
        {
            "id": str(full.id),
            "name": "Full ten",
            "territory_id": str(world.id("-02-D1")),
            "status": "active",
            "member_count": 10,
            "leader_id": str(leader.id),
            "leader_name": leader.display_name,
        },
        {
            "id": str(forming.id),
            "name": "Vake friends",
            "territory_id": str(world.id("-01-D1")),
            "status": "forming",
            "member_count": 2,
            "leader_id": None,
            "leader_name": None,
        },
    ]
    assert body["meta"]["total"] == 2
    assert region.headers["cache-control"] == "public, max-age=300"

    municipality = await client.get(
        f"{API}/{world.id('-01')}/ateulis", params={"per_page": 1}, headers=headers
    )
    page = municipality.json()
    assert [a["name"] for a in page["data"]] == ["Vake friends"]
    assert (page["meta"]["total"], page["meta"]["has_next"]) == (1, False)
    by_size = await client.get(
        f"{API}/{world.id()}/ateulis",
        params={"per_page": 1, "sort_by": "member_count", "sort_order": "desc"},
        headers=headers,
    )
    assert [a["name"] for a in by_size.json()["data"]] == ["Full ten"]
    assert by_size.json()["meta"]["has_next"] is True
    bad = await client.get(
        f"{API}/{world.id()}/ateulis", params={"sort_by": "leader"}, headers=headers
    )
    assert_error(bad, 422, 2002)

    statistics = await client.get(f"{API}/{world.id()}/statistics", headers=headers)
    assert statistics.json()["data"]["ateulis"] == 2
    district = await client.get(f"{API}/{world.id('-01-D2')}/statistics", headers=headers)
    assert district.json()["data"]["ateulis"] == 0


async def test_unit_changes_show_when_the_cached_answer_expires(
    client: httpx.AsyncClient,
    db_session: AsyncSession,
    settings: Settings,
    redis: Redis,
    world: World,
) -> None:
    """Units do not invalidate the territory cache: a new ateuli shows once the 5-minute
    answer expires (here: once the namespace is retired, as an expiry would)."""
    url = f"{API}/{world.id('-01-D1')}/ateulis"
    before = await client.get(url, headers=world.viewer.headers)
    assert before.json()["meta"]["total"] == 0
    founder = await make_member(
        db_session,
        settings,
        "+995555320021",
        onboarded=True,
        role=UserRole.GEDER,
        territory_id=world.id("-01-D1"),
    )
    await units.create_ateuli(db_session, founder.user, name="New", territory_id=world.id("-01-D1"))
    stale = await client.get(url, headers=world.viewer.headers)
    assert stale.json()["meta"]["total"] == 0
    await service.invalidate_cache(redis)
    fresh = await client.get(url, headers=world.viewer.headers)
    assert [a["name"] for a in fresh.json()["data"]] == ["New"]


async def test_etag_and_304(client: httpx.AsyncClient, world: World) -> None:
    url = f"{API}/{world.id('-01')}"
    first = await client.get(url, headers=world.viewer.headers)
    assert first.headers["cache-control"] == "public, max-age=86400"
    etag = first.headers["etag"]
    again = await client.get(url, headers={**world.viewer.headers, "If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag

    listing = await client.get(API, params={"search": world.prefix}, headers=world.viewer.headers)
    assert listing.headers["cache-control"] == "public, max-age=300"
    unchanged = await client.get(
        API,
        params={"search": world.prefix},
        headers={**world.viewer.headers, "If-None-Match": listing.headers["etag"]},
    )
    assert unchanged.status_code == 304


async def test_an_import_invalidates_the_cache(
    client: httpx.AsyncClient, db_session: AsyncSession, redis: Redis, world: World
) -> None:
    url = f"{API}/{world.id('-02')}"
    before = await client.get(url, headers=world.viewer.headers)
    assert before.json()["data"]["name_en"] == "Under_score 100%"

    edited = _document(world.prefix, m2_name="Renamed")
    result = await service.import_territories(db_session, edited)
    assert result.updated == [f"{world.prefix}-02"]
    # Until the import's caller invalidates, the cached answer stands: it really is cached.
    stale = await client.get(url, headers=world.viewer.headers)
    assert stale.json()["data"]["name_en"] == "Under_score 100%"

    await service.invalidate_cache(redis)
    fresh = await client.get(
        url, headers={**world.viewer.headers, "If-None-Match": before.headers["etag"]}
    )
    assert fresh.status_code == 200
    assert fresh.json()["data"]["name_en"] == "Renamed"
    assert fresh.headers["etag"] != before.headers["etag"]
