"""Values PostgreSQL cannot take are the client's bad input: 422 in the envelope, never a 500,
and nothing stored."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from polis.config import Settings
from polis.users.models import User
from tests.auth.helpers import assert_error
from tests.conftest import make_member


async def test_a_nul_character_in_stored_text_is_refused_and_nothing_changes(
    client: httpx.AsyncClient, db_session: AsyncSession, settings: Settings
) -> None:
    member = await make_member(db_session, settings, "+995555390001", first_name="Nino")
    response = await client.patch(
        "/api/v1/users/me", json={"first_name": "Ni\u0000no"}, headers=member.headers
    )
    assert_error(response, 422, 2002)
    user = await db_session.get(User, member.user.id, populate_existing=True)
    assert user is not None and user.first_name == "Nino"


async def test_a_nul_character_in_a_search_is_refused(
    client: httpx.AsyncClient, db_session: AsyncSession, settings: Settings
) -> None:
    member = await make_member(db_session, settings, "+995555390002", onboarded=True)
    response = await client.get(
        "/api/v1/territories", params={"search": "Tbi\u0000lisi"}, headers=member.headers
    )
    assert_error(response, 422, 2002)
