"""Access tokens are checked in full; refresh tokens rotate; reuse and logout end a session."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
import jwt
import pytest
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from polis.auth import tokens
from polis.auth.models import AuthSession, RefreshToken
from polis.config import Settings
from polis.kit import clock
from polis.territories.models import Territory
from polis.units import service as units
from polis.units.models import LeadershipTerm
from polis.users.models import UserRole
from tests.auth.helpers import assert_error, bearer, login
from tests.conftest import make_member

ME = "/api/v1/users/me"


def _forge(settings: Settings, **changes: object) -> str:
    now = int(clock.now().timestamp())
    claims: dict[str, object] = {
        "typ": "access",
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "sub": str(uuid.uuid4()),
        "sid": str(uuid.uuid4()),
        "iat": now,
        "exp": now + 600,
        "jti": uuid.uuid4().hex,
    }
    key = str(changes.pop("key", settings.secret("secret_key")))
    algorithm = str(changes.pop("algorithm", "HS256"))
    claims.update(changes)
    for name in [k for k, v in claims.items() if v is None]:
        del claims[name]
    return jwt.encode(claims, key, algorithm=algorithm)


async def test_no_token_or_a_malformed_one_is_401_1003(client: httpx.AsyncClient) -> None:
    assert_error(await client.get(ME), 401, 1003)
    assert_error(await client.get(ME, headers={"Authorization": "Bearer nonsense"}), 401, 1003)
    assert_error(await client.get(ME, headers={"Authorization": "Basic dXNlcjpwYXNz"}), 401, 1003)


@pytest.mark.parametrize(
    "changes",
    [
        {"key": "another-key-entirely-another-key-entirely"},
        {"typ": "refresh"},
        {"aud": "someone-else"},
        {"iss": "someone-else"},
        {"jti": None},
        {"sid": None},
        {"sub": "not-a-uuid"},
        {"algorithm": "HS512"},
    ],
)
async def test_tokens_that_fail_a_check_are_401_1003(
    client: httpx.AsyncClient, settings: Settings, changes: dict[str, object]
) -> None:
    assert_error(await client.get(ME, headers=bearer(_forge(settings, **changes))), 401, 1003)


async def test_an_unsigned_token_is_refused(client: httpx.AsyncClient, settings: Settings) -> None:
    unsigned = jwt.encode(
        {"typ": "access", "sub": str(uuid.uuid4()), "aud": settings.jwt_audience},
        key="",
        algorithm="none",
    )
    assert_error(await client.get(ME, headers=bearer(unsigned)), 401, 1003)


async def test_an_expired_token_is_401_1002(
    client: httpx.AsyncClient, db_session: AsyncSession, settings: Settings
) -> None:
    clock.freeze()
    member = await make_member(db_session, settings, "+995555200001")
    assert (await client.get(ME, headers=member.headers)).status_code == 200
    clock.advance(timedelta(seconds=settings.access_token_ttl_seconds))
    assert_error(await client.get(ME, headers=member.headers), 401, 1002)


async def test_a_token_of_a_deleted_member_is_refused(
    client: httpx.AsyncClient, db_session: AsyncSession, settings: Settings
) -> None:
    member = await make_member(db_session, settings, "+995555200002")
    member.user.mark_deleted()
    await db_session.flush()
    assert_error(await client.get(ME, headers=member.headers), 401, 1003)


@pytest.mark.usefixtures("worker")
async def test_refresh_rotates_and_a_reused_token_ends_the_session(
    client: httpx.AsyncClient, db_session: AsyncSession, settings: Settings, redis: Redis
) -> None:
    first = await login(client, redis, settings, "+995555200003")
    rotated = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
    )
    assert rotated.status_code == 200
    pair = rotated.json()["data"]
    assert pair["refresh_token"] != first["refresh_token"]
    assert pair["access_token"] != first["access_token"]
    assert (await client.get(ME, headers=bearer(pair["access_token"]))).status_code == 200

    # The old refresh token again: someone has a copy. The whole session ends.
    reused = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
    )
    assert assert_error(reused, 401, 1003) == {"reason": "refresh_token_reused"}
    auth_session = await db_session.scalar(
        select(AuthSession).where(AuthSession.user_id == first["user"]["id"])
    )
    assert auth_session is not None
    await db_session.refresh(auth_session)
    assert auth_session.revoked_reason == "refresh_token_reused"
    assert_error(await client.get(ME, headers=bearer(pair["access_token"])), 401, 1003)
    assert_error(await client.get(ME, headers=bearer(first["access_token"])), 401, 1003)
    assert_error(
        await client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}),
        401,
        1003,
    )


async def test_refresh_refuses_unknown_and_expired_tokens(
    client: httpx.AsyncClient, db_session: AsyncSession, settings: Settings
) -> None:
    clock.freeze()
    assert_error(
        await client.post("/api/v1/auth/refresh", json={"refresh_token": "rt_unknown"}), 401, 1003
    )
    member = await make_member(db_session, settings, "+995555200004")
    token, token_hash = tokens.new_refresh_token()
    db_session.add(RefreshToken(session_id=member.session_id, token_hash=token_hash))
    await db_session.flush()
    clock.advance(timedelta(days=settings.refresh_token_ttl_days, seconds=1))
    assert_error(
        await client.post("/api/v1/auth/refresh", json={"refresh_token": token}), 401, 1002
    )


async def test_a_refresh_token_is_not_an_access_token(
    client: httpx.AsyncClient, db_session: AsyncSession, settings: Settings
) -> None:
    member = await make_member(db_session, settings, "+995555200005")
    token, token_hash = tokens.new_refresh_token()
    db_session.add(RefreshToken(session_id=member.session_id, token_hash=token_hash))
    await db_session.flush()
    assert_error(await client.get(ME, headers=bearer(token)), 401, 1003)


async def test_logout_refuses_the_access_token_at_once(
    client: httpx.AsyncClient, db_session: AsyncSession, settings: Settings, redis: Redis
) -> None:
    member = await make_member(db_session, settings, "+995555200006")
    token, token_hash = tokens.new_refresh_token()
    db_session.add(RefreshToken(session_id=member.session_id, token_hash=token_hash))
    await db_session.flush()
    response = await client.post("/api/v1/auth/logout", headers=member.headers)
    assert response.status_code == 200
    assert response.json()["data"] == {"logged_out": True}
    assert await redis.exists(f"polis:auth:revoked-session:{member.session_id}") == 1
    # Well before the token's own expiry.
    assert_error(await client.get(ME, headers=member.headers), 401, 1003)
    assert_error(
        await client.post("/api/v1/auth/refresh", json={"refresh_token": token}), 401, 1003
    )
    auth_session = await db_session.get(AuthSession, member.session_id)
    assert auth_session is not None
    await db_session.refresh(auth_session)
    assert auth_session.revoked_reason == "logout"


async def test_sessions_list_and_revoke(
    client: httpx.AsyncClient, db_session: AsyncSession, settings: Settings
) -> None:
    phone = "+995555200007"
    laptop = await make_member(db_session, settings, phone)
    phone_session = await make_member(db_session, settings, phone)
    stranger = await make_member(db_session, settings, "+995555200008")

    listed = await client.get("/api/v1/auth/sessions", headers=laptop.headers)
    assert listed.status_code == 200
    sessions = {s["id"]: s for s in listed.json()["data"]}
    assert set(sessions) == {str(laptop.session_id), str(phone_session.session_id)}
    assert sessions[str(laptop.session_id)]["current"] is True
    assert sessions[str(phone_session.session_id)]["current"] is False
    assert sessions[str(laptop.session_id)]["device"]["device_type"] == "android"

    # Someone else's session looks like no session at all.
    assert_error(
        await client.delete(f"/api/v1/auth/sessions/{stranger.session_id}", headers=laptop.headers),
        404,
        4001,
    )
    assert (await client.get(ME, headers=stranger.headers)).status_code == 200

    revoked = await client.delete(
        f"/api/v1/auth/sessions/{phone_session.session_id}", headers=laptop.headers
    )
    assert revoked.status_code == 200
    assert_error(await client.get(ME, headers=phone_session.headers), 401, 1003)
    assert (await client.get(ME, headers=laptop.headers)).status_code == 200
    left = await client.get("/api/v1/auth/sessions", headers=laptop.headers)
    assert [s["id"] for s in left.json()["data"]] == [str(laptop.session_id)]
    assert_error(
        await client.delete("/api/v1/auth/sessions/not-a-uuid", headers=laptop.headers), 422, 2002
    )


async def test_a_leaders_token_carries_the_leader_rate_limit(
    client: httpx.AsyncClient, db_session: AsyncSession, settings: Settings, district: Territory
) -> None:
    member = await make_member(
        db_session,
        settings,
        "+995555200020",
        onboarded=True,
        role=UserRole.GEDER,
        territory_id=district.id,
    )
    unit = await units.create_ateuli(db_session, member.user, name="Ten", territory_id=district.id)
    db_session.add(LeadershipTerm(unit_id=unit.id, user_id=member.user.id, started_at=clock.now()))
    await db_session.flush()
    token, token_hash = tokens.new_refresh_token()
    db_session.add(RefreshToken(session_id=member.session_id, token_hash=token_hash))
    await db_session.flush()
    # The token made before the term is an ordinary member's; the next one is a leader's.
    before = await client.get(ME, headers=member.headers)
    assert before.headers["x-ratelimit-limit"] == "1000"
    pair = (await client.post("/api/v1/auth/refresh", json={"refresh_token": token})).json()["data"]
    after = await client.get(ME, headers=bearer(pair["access_token"]))
    assert after.status_code == 200
    assert after.headers["x-ratelimit-limit"] == "5000"
    anonymous = await client.get("/health")
    assert "x-ratelimit-limit" not in anonymous.headers
