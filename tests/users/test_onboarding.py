"""Onboarding (§3.1): personal ID, GeD claim, status, motivation, constitution, territory."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from polis.audit.models import AuditLog
from polis.config import Settings
from polis.kit.db import create_sessionmaker
from polis.territories.models import Territory
from polis.users import service as users
from polis.users.models import MemberStatus, User, UserRole
from tests.auth.helpers import assert_error
from tests.conftest import client_for, make_member, serve_app

URL = "/api/v1/users/me/complete-onboarding"


def form(territory: Territory | None, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "personal_id": "01024054729",
        "status": "active",
        "motivation": "I want my street to be heard.",
        "constitution_agreed": True,
        "is_diaspora": False,
        "territory_id": str(territory.id) if territory else None,
        "first_name": "Nino",
        "last_name": "Beridze",
    }
    body.update(changes)
    return body


async def test_a_geder_onboards_and_learns_the_next_steps(
    client: httpx.AsyncClient, db_session: AsyncSession, settings: Settings, district: Territory
) -> None:
    member = await make_member(db_session, settings, "+995555300001")
    response = await client.post(
        URL, json=form(district, ged_number=" ged000042 "), headers=member.headers
    )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["next_steps"] == ["join_ateuli", "create_ateuli"]
    assert data["user"]["role"] == "geder"
    assert data["user"]["status"] == "active"
    assert data["user"]["territory"]["code"] == district.code
    assert data["user"]["has_personal_id"] is True
    assert "01024054729" not in response.text

    user = await db_session.get(User, member.user.id, populate_existing=True)
    assert user is not None
    assert user.role is UserRole.GEDER
    assert user.ged_number == "GED000042"
    assert user.is_verified
    assert user.personal_id_ciphertext is not None
    assert b"01024054729" not in user.personal_id_ciphertext
    assert (
        users.personal_id_protector(settings).decrypt(user.personal_id_ciphertext) == "01024054729"
    )
    recorded = await db_session.scalar(
        select(AuditLog).where(
            AuditLog.action == "users.onboarding.completed", AuditLog.entity_id == str(user.id)
        )
    )
    assert recorded is not None
    assert "01024054729" not in str(recorded.new_values)


async def test_without_ged_the_next_step_is_a_tavdebi(
    client: httpx.AsyncClient, db_session: AsyncSession, settings: Settings, district: Territory
) -> None:
    member = await make_member(db_session, settings, "+995555300002")
    response = await client.post(
        URL,
        json=form(district, status="passive", personal_id="01024054730"),
        headers=member.headers,
    )
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["next_steps"] == ["join_ateuli", "create_ateuli", "find_tavdebi"]
    assert data["user"]["role"] == "unverified"
    assert data["user"]["is_onboarded"] is True
    assert data["user"]["is_verified"] is False


async def test_diaspora_members_have_no_territory_and_no_local_steps(
    client: httpx.AsyncClient, db_session: AsyncSession, settings: Settings, district: Territory
) -> None:
    member = await make_member(db_session, settings, "+995555300003")
    body = form(None, is_diaspora=True, personal_id="01024054731", ged_number="GED000043")
    response = await client.post(URL, json=body, headers=member.headers)
    assert response.status_code == 200
    assert response.json()["data"]["next_steps"] == []
    assert response.json()["data"]["user"]["is_diaspora"] is True
    other = await make_member(db_session, settings, "+995555300004")
    refused = await client.post(
        URL,
        json=form(district, is_diaspora=True, personal_id="01024054732"),
        headers=other.headers,
    )
    assert assert_error(refused, 422, 2003) == {"field": "territory_id"}


@pytest.mark.parametrize(
    ("changes", "status", "code", "field"),
    [
        ({"personal_id": "1234567890"}, 422, 2002, "personal_id"),
        ({"personal_id": "0102405472A"}, 422, 2002, "personal_id"),
        ({"personal_id": "AB123456789"}, 422, 2002, "personal_id"),
        ({"constitution_agreed": False}, 422, 2003, "constitution_agreed"),
        ({"territory_id": None}, 422, 2001, "territory_id"),
        ({"ged_number": "GED42"}, 422, 2002, "ged_number"),
        ({"ged_number": "GED000999"}, 422, 3009, "ged_number"),
    ],
)
async def test_onboarding_refuses(
    client: httpx.AsyncClient,
    db_session: AsyncSession,
    settings: Settings,
    district: Territory,
    changes: dict[str, Any],
    status: int,
    code: int,
    field: str,
) -> None:
    member = await make_member(db_session, settings, "+995555300010")
    response = await client.post(URL, json=form(district, **changes), headers=member.headers)
    assert assert_error(response, status, code)["field"] == field
    user = await db_session.get(User, member.user.id, populate_existing=True)
    assert user is not None
    await db_session.refresh(user)
    assert user.onboarded_at is None
    assert user.personal_id_index is None


async def test_onboarding_validation_of_the_shape(
    client: httpx.AsyncClient, db_session: AsyncSession, settings: Settings, district: Territory
) -> None:
    member = await make_member(db_session, settings, "+995555300011")
    too_short = form(district, motivation="short")
    assert_error(await client.post(URL, json=too_short, headers=member.headers), 422, 2002)
    bad_status = form(district, status="lazy")
    assert_error(await client.post(URL, json=bad_status, headers=member.headers), 422, 2002)
    missing = {k: v for k, v in form(district).items() if k != "personal_id"}
    assert_error(await client.post(URL, json=missing, headers=member.headers), 422, 2001)


async def test_the_territory_must_exist_and_be_a_district(
    client: httpx.AsyncClient, db_session: AsyncSession, settings: Settings, district: Territory
) -> None:
    member = await make_member(db_session, settings, "+995555300012")
    unknown = form(district, territory_id="00000000-0000-0000-0000-000000000001")
    assert_error(await client.post(URL, json=unknown, headers=member.headers), 404, 4001)
    assert district.parent_id is not None
    municipality = form(district, territory_id=str(district.parent_id))
    details = assert_error(
        await client.post(URL, json=municipality, headers=member.headers), 422, 3008
    )
    assert details["type"] == "municipality"


async def test_a_personal_id_or_ged_number_belongs_to_one_member(
    client: httpx.AsyncClient, db_session: AsyncSession, settings: Settings, district: Territory
) -> None:
    first = await make_member(db_session, settings, "+995555300020")
    second = await make_member(db_session, settings, "+995555300021")
    body = form(district, personal_id="01024054740", ged_number="GED000100")
    assert (await client.post(URL, json=body, headers=first.headers)).status_code == 200
    same_id = form(district, personal_id="01024054740")
    assert assert_error(
        await client.post(URL, json=same_id, headers=second.headers), 409, 2004
    ) == {"field": "personal_id"}
    same_ged = form(district, personal_id="01024054741", ged_number="GED000100")
    assert assert_error(
        await client.post(URL, json=same_ged, headers=second.headers), 409, 2004
    ) == {"field": "ged_number"}
    again = await client.post(
        URL, json=form(district, personal_id="01024054742"), headers=first.headers
    )
    assert_error(again, 409, 3010)


async def test_onboarding_needs_a_token(client: httpx.AsyncClient, district: Territory) -> None:
    assert_error(await client.post(URL, json=form(district)), 401, 1003)


async def test_two_members_racing_with_one_personal_id(
    engine: AsyncEngine, settings: Settings
) -> None:
    """Two onboardings with the same personal ID at the same instant: exactly one wins."""
    maker = create_sessionmaker(engine)
    async with maker() as session:
        district = Territory(
            type="electoral_district", code="RACE-D", name_ka="რბოლა", name_en="Race"
        )
        session.add(district)
        await session.flush()
        members = [await make_member(session, settings, f"+99555530003{n}") for n in range(2)]
        await session.commit()
    try:
        async with serve_app(settings) as app, client_for(app) as http:
            body = form(district, personal_id="01024054750")
            responses = await asyncio.gather(
                *(http.post(URL, json=body, headers=m.headers) for m in members)
            )
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [200, 409]
        loser = next(r for r in responses if r.status_code == 409)
        assert loser.json()["error"]["code"] == 2004
        async with maker() as session:
            owners = (
                await session.scalars(
                    select(User.id).where(
                        User.personal_id_index
                        == users.personal_id_protector(settings).blind_index("01024054750")
                    )
                )
            ).all()
            assert len(owners) == 1
    finally:
        async with maker() as session:
            ids = [m.user.id for m in members]
            await session.execute(delete(AuditLog).where(AuditLog.actor_id.in_(ids)))
            await session.execute(delete(User).where(User.id.in_(ids)))
            await session.execute(delete(Territory).where(Territory.code == "RACE-D"))
            await session.commit()


async def test_status_is_kept(db_session: AsyncSession, settings: Settings) -> None:
    member = await make_member(db_session, settings, "+995555300040", onboarded=True)
    assert member.user.status is MemberStatus.PASSIVE


async def _mapped_district(session: AsyncSession, district: Territory) -> Territory:
    """Give the fixture district a real square boundary around (41.70, 44.78)."""
    district.boundary = {
        "type": "Polygon",
        "coordinates": [[[44.7, 41.6], [44.9, 41.6], [44.9, 41.8], [44.7, 41.8], [44.7, 41.6]]],
    }
    district.min_lat, district.max_lat = 41.6, 41.8
    district.min_lng, district.max_lng = 44.7, 44.9
    await session.flush()
    return district


async def test_coordinates_find_the_district(
    client: httpx.AsyncClient, db_session: AsyncSession, settings: Settings, district: Territory
) -> None:
    await _mapped_district(db_session, district)
    member = await make_member(db_session, settings, "+995555300050")
    body = form(None, personal_id="01024054760", latitude=41.7, longitude=44.78)
    response = await client.post(URL, json=body, headers=member.headers)
    assert response.status_code == 200, response.text
    assert response.json()["data"]["user"]["territory"]["id"] == str(district.id)
    user = await db_session.get(User, member.user.id, populate_existing=True)
    assert user is not None
    assert user.territory_id == district.id


@pytest.mark.parametrize(
    ("coordinates", "status", "code", "field"),
    [
        ({"latitude": 10.0, "longitude": 10.0}, 404, 4001, "latitude"),
        ({"latitude": 41.7}, 422, 2001, "longitude"),
        ({"longitude": 44.78}, 422, 2001, "latitude"),
    ],
)
async def test_coordinates_outside_the_map_or_half_given(
    client: httpx.AsyncClient,
    db_session: AsyncSession,
    settings: Settings,
    district: Territory,
    coordinates: dict[str, float],
    status: int,
    code: int,
    field: str,
) -> None:
    await _mapped_district(db_session, district)
    member = await make_member(db_session, settings, "+995555300051")
    body = form(None, personal_id="01024054761", **coordinates)
    details = assert_error(await client.post(URL, json=body, headers=member.headers), status, code)
    assert details["field"] == field


async def test_coordinates_out_of_range_are_refused(
    client: httpx.AsyncClient, db_session: AsyncSession, settings: Settings
) -> None:
    member = await make_member(db_session, settings, "+995555300052")
    body = form(None, personal_id="01024054762", latitude=91, longitude=44.78)
    assert_error(await client.post(URL, json=body, headers=member.headers), 422, 2002)
