"""Profiles: my own, others' public view, search, export and deletion."""

from __future__ import annotations

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from polis.auth.models import AuthSession
from polis.config import Settings
from polis.territories.models import Territory
from polis.units import service as units
from polis.users.models import Language, MemberStatus, User, UserRole
from tests.auth.helpers import assert_error
from tests.conftest import make_member


async def test_my_profile_shows_my_phone_in_full(
    client: httpx.AsyncClient, db_session: AsyncSession, settings: Settings
) -> None:
    member = await make_member(db_session, settings, "+995555400001", first_name="Giorgi")
    data = (await client.get("/api/v1/users/me", headers=member.headers)).json()["data"]
    assert data["phone_number"] == "+995555400001"
    assert data["phone_masked"] == "+995 555 ••• •01"
    assert data["first_name"] == "Giorgi"
    assert data["language"] == "ka"
    assert data["has_personal_id"] is False
    assert "personal_id" not in data


async def test_patch_me_changes_only_what_is_sent(
    client: httpx.AsyncClient, db_session: AsyncSession, settings: Settings
) -> None:
    member = await make_member(db_session, settings, "+995555400002", first_name="Ana")
    response = await client.patch(
        "/api/v1/users/me",
        json={"last_name": "Kapanadze", "language": "en", "email": "ana@example.ge"},
        headers=member.headers,
    )
    assert response.status_code == 200
    user = await db_session.get(User, member.user.id, populate_existing=True)
    assert user is not None
    assert (user.first_name, user.last_name) == ("Ana", "Kapanadze")
    assert user.language is Language.EN
    assert user.email == "ana@example.ge"
    for bad in ({"language": "fr"}, {"email": "not-an-email"}, {"first_name": ""}):
        assert_error(
            await client.patch("/api/v1/users/me", json=bad, headers=member.headers), 422, 2002
        )
    user = await db_session.get(User, member.user.id, populate_existing=True)
    assert user is not None
    assert user.language is Language.EN


async def test_the_public_view_masks_the_phone_and_hides_the_personal_id(
    client: httpx.AsyncClient, db_session: AsyncSession, settings: Settings, district: Territory
) -> None:
    viewer = await make_member(db_session, settings, "+995555400003")
    member = await make_member(
        db_session,
        settings,
        "+995555400004",
        onboarded=True,
        role=UserRole.GEDER,
        first_name="Levan",
        last_name="Gelashvili",
        territory_id=district.id,
    )
    member.user.personal_id_index = "index"
    member.user.personal_id_ciphertext = b"sealed"
    await db_session.flush()
    response = await client.get(f"/api/v1/users/{member.user.id}", headers=viewer.headers)
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["display_name"] == "Levan Gelashvili"
    assert data["phone_masked"] == "+995 555 ••• •04"
    assert data["territory"]["name_en"] == "Vake district"
    assert "+995555400004" not in response.text
    assert "personal_id" not in response.text
    assert "phone_number" not in data
    assert_error(
        await client.get(
            "/api/v1/users/00000000-0000-0000-0000-000000000000", headers=viewer.headers
        ),
        404,
        4001,
    )
    assert_error(await client.get(f"/api/v1/users/{member.user.id}"), 401, 1003)


async def test_search_finds_verified_members_by_name_and_territory(
    client: httpx.AsyncClient, db_session: AsyncSession, settings: Settings, district: Territory
) -> None:
    searcher = await make_member(
        db_session, settings, "+995555400010", onboarded=True, role=UserRole.GEDER
    )
    tamar = await make_member(
        db_session,
        settings,
        "+995555400011",
        onboarded=True,
        role=UserRole.SUPPORTER,
        first_name="Tamar",
        last_name="Lomidze",
        territory_id=district.id,
    )
    await make_member(  # not verified: never found
        db_session, settings, "+995555400012", onboarded=True, first_name="Tamar", last_name="X"
    )
    found = await client.get(
        "/api/v1/users/search", params={"q": "tamar"}, headers=searcher.headers
    )
    assert found.status_code == 200
    body = found.json()
    assert [m["id"] for m in body["data"]] == [str(tamar.user.id)]
    assert body["meta"]["total"] == 1
    by_full_name = await client.get(
        "/api/v1/users/search", params={"q": "Tamar Lom"}, headers=searcher.headers
    )
    assert [m["id"] for m in by_full_name.json()["data"]] == [str(tamar.user.id)]
    by_territory = await client.get(
        "/api/v1/users/search", params={"territory_id": str(district.id)}, headers=searcher.headers
    )
    assert [m["id"] for m in by_territory.json()["data"]] == [str(tamar.user.id)]
    wildcard = await client.get("/api/v1/users/search", params={"q": "%"}, headers=searcher.headers)
    assert wildcard.json()["data"] == []


async def test_search_is_for_verified_members(
    client: httpx.AsyncClient, db_session: AsyncSession, settings: Settings
) -> None:
    newcomer = await make_member(db_session, settings, "+995555400020")
    assert_error(await client.get("/api/v1/users/search", headers=newcomer.headers), 403, 3011)
    onboarded = await make_member(db_session, settings, "+995555400021", onboarded=True)
    assert_error(await client.get("/api/v1/users/search", headers=onboarded.headers), 403, 1005)


async def test_export_holds_my_data_but_not_my_personal_id(
    client: httpx.AsyncClient, db_session: AsyncSession, settings: Settings
) -> None:
    member = await make_member(
        db_session, settings, "+995555400030", onboarded=True, status=MemberStatus.ACTIVE
    )
    member.user.motivation = "For my village."
    member.user.personal_id_ciphertext = b"sealed"
    await db_session.flush()
    response = await client.get("/api/v1/users/me/export", headers=member.headers)
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["profile"]["phone_number"] == "+995555400030"
    assert data["profile"]["has_personal_id"] is True
    assert data["motivation"] == "For my village."
    assert [s["id"] for s in data["sessions"]] == [str(member.session_id)]
    assert len(data["devices"]) == 1


async def test_deleting_my_account_anonymises_it_and_ends_my_sessions(
    client: httpx.AsyncClient, db_session: AsyncSession, settings: Settings
) -> None:
    member = await make_member(db_session, settings, "+995555400040", first_name="Irakli")
    response = await client.delete("/api/v1/users/me", headers=member.headers)
    assert response.status_code == 200
    assert response.json()["data"] == {"deleted": True}
    user = await db_session.get(User, member.user.id, populate_existing=True)
    assert user is not None  # the row stays: what they did as a voter stays counted
    assert user.deleted_at is not None
    assert (user.phone_index, user.phone_ciphertext, user.first_name) == (None, None, None)
    sessions = (
        await db_session.scalars(
            select(AuthSession)
            .where(AuthSession.user_id == member.user.id)
            .execution_options(populate_existing=True)
        )
    ).all()
    assert all(s.revoked_reason == "account_deleted" for s in sessions)
    assert_error(await client.get("/api/v1/users/me", headers=member.headers), 401, 1003)


async def test_the_public_view_names_the_members_ateuli(
    client: httpx.AsyncClient, db_session: AsyncSession, settings: Settings, district: Territory
) -> None:
    viewer = await make_member(db_session, settings, "+995555400050")
    member = await make_member(
        db_session,
        settings,
        "+995555400051",
        onboarded=True,
        role=UserRole.GEDER,
        territory_id=district.id,
    )
    unit = await units.create_ateuli(
        db_session, member.user, name="Vake Ten", territory_id=district.id
    )
    response = await client.get(f"/api/v1/users/{member.user.id}", headers=viewer.headers)
    assert response.json()["data"]["unit"] == {
        "id": str(unit.id),
        "name": "Vake Ten",
        "level": "ateuli",
        "status": "forming",
    }
    alone = await client.get(f"/api/v1/users/{viewer.user.id}", headers=viewer.headers)
    assert alone.json()["data"]["unit"] is None
