"""Phone login: codes, guesses, cooldowns, limits, devices (DESIGN.md §3.1)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from polis.audit.models import AuditLog
from polis.auth.models import AuthSession, Device, UserDevice
from polis.config import Settings
from polis.kit import clock
from polis.notifications.models import Notification, NotificationType
from polis.users import service as users
from polis.users.models import UserRole
from tests.auth.helpers import (
    assert_error,
    bearer,
    fingerprint,
    login,
    read_code,
    request_code,
)
from tests.conftest import client_for, make_member, serve_app

pytestmark = pytest.mark.usefixtures("worker")

SEND = "/api/v1/auth/send-verification-code"
VERIFY = "/api/v1/auth/verify-phone"


async def _verify(
    client: httpx.AsyncClient,
    verification_id: str,
    code: str,
    device: dict[str, object] | None = None,
) -> httpx.Response:
    return await client.post(
        VERIFY,
        json={
            "verification_id": verification_id,
            "code": code,
            "device_fingerprint": device or fingerprint(),
        },
    )


async def test_send_code_answers_alike_for_members_and_strangers(
    client: httpx.AsyncClient, db_session: AsyncSession, settings: Settings
) -> None:
    await make_member(db_session, settings, "+995555100001")
    known = await client.post(SEND, json={"phone_number": "+995555100001"})
    unknown = await client.post(SEND, json={"phone_number": "+995555100002"})
    assert known.status_code == unknown.status_code == 200
    assert (
        set(known.json()["data"])
        == set(unknown.json()["data"])
        == {
            "verification_id",
            "expires_at",
        }
    )
    assert known.headers.get("x-ratelimit-limit") == unknown.headers.get("x-ratelimit-limit")


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"phone_number": "not a phone"}, 2002),
        ({"phone_number": "+995 12"}, 2002),
        ({}, 2001),
        ({"phone_number": 5}, 2002),
    ],
)
async def test_send_code_refuses_bad_numbers(
    client: httpx.AsyncClient, body: dict[str, object], code: int
) -> None:
    assert_error(await client.post(SEND, json=body), 422, code)


async def test_first_login_creates_an_unverified_member(
    client: httpx.AsyncClient, db_session: AsyncSession, settings: Settings, redis: Redis
) -> None:
    device = fingerprint()
    data = await login(client, redis, settings, "555 100 003", device)
    assert data["is_new_user"] is True
    assert data["token_type"] == "bearer"
    assert data["expires_in"] == 900
    assert data["user"]["role"] == "unverified"
    assert data["user"]["phone_number"] == "+995555100003"

    me = await client.get("/api/v1/users/me", headers=bearer(data["access_token"]))
    assert me.status_code == 200
    assert me.json()["data"]["id"] == data["user"]["id"]

    user = await users.get_by_phone(db_session, settings, "+995555100003")
    assert user is not None
    assert user.role is UserRole.UNVERIFIED
    stored = (await db_session.scalars(select(Device))).all()
    # Only a keyed hash of the fingerprint is kept.
    assert all(d.fingerprint_index != device["fingerprint_hash"] for d in stored)
    sessions = (
        await db_session.scalars(select(AuthSession).where(AuthSession.user_id == user.id))
    ).all()
    assert len(sessions) == 1
    logins = await db_session.scalar(
        select(func.count())
        .select_from(AuditLog)
        .where(AuditLog.action == "auth.login.succeeded", AuditLog.entity_id == str(user.id))
    )
    assert logins == 1


async def test_a_new_device_is_announced_and_a_known_one_is_not(
    client: httpx.AsyncClient, db_session: AsyncSession, settings: Settings, redis: Redis
) -> None:
    clock.freeze()
    phone = "+995555100004"
    first_device = fingerprint()
    first = await login(client, redis, settings, phone, first_device)
    clock.advance(timedelta(seconds=61))
    again = await login(client, redis, settings, phone, first_device)
    assert again["is_new_user"] is False
    clock.advance(timedelta(seconds=61))
    await login(client, redis, settings, phone, fingerprint())

    announced = (
        await db_session.scalars(
            select(Notification).where(Notification.user_id == first["user"]["id"])
        )
    ).all()
    assert [n.type for n in announced] == [NotificationType.NEW_DEVICE_LOGIN]
    links = await db_session.scalar(
        select(func.count())
        .select_from(UserDevice)
        .where(UserDevice.user_id == first["user"]["id"])
    )
    assert links == 2


async def test_a_wrong_code_counts_and_the_sixth_guess_is_refused(
    client: httpx.AsyncClient, settings: Settings, redis: Redis
) -> None:
    phone = "+995555100005"
    verification_id = await request_code(client, phone)
    code = await read_code(redis, settings, phone)
    wrong = "000000" if code != "000000" else "111111"
    for attempt in range(1, 6):
        details = assert_error(await _verify(client, verification_id, wrong), 401, 1001)
        assert details == {"remaining_attempts": 5 - attempt}
    # Dead after five wrong guesses, even for the right code.
    assert_error(await _verify(client, verification_id, code), 429, 1008)


async def test_a_code_works_once(
    client: httpx.AsyncClient, settings: Settings, redis: Redis
) -> None:
    phone = "+995555100006"
    verification_id = await request_code(client, phone)
    code = await read_code(redis, settings, phone)
    assert (await _verify(client, verification_id, code)).status_code == 200
    assert_error(await _verify(client, verification_id, code), 401, 1007)


async def test_two_logins_racing_with_one_code_let_exactly_one_in(
    client: httpx.AsyncClient, settings: Settings, redis: Redis
) -> None:
    phone = "+995555100007"
    verification_id = await request_code(client, phone)
    code = await read_code(redis, settings, phone)
    # Against a real server process the two would run in parallel; here they interleave on
    # one event loop at every await, which is where the check-then-use race would hide.
    first, second = await asyncio.gather(
        _verify(client, verification_id, code), _verify(client, verification_id, code)
    )
    assert sorted([first.status_code, second.status_code]) == [200, 401]


async def test_an_expired_code_is_refused(
    client: httpx.AsyncClient, settings: Settings, redis: Redis
) -> None:
    clock.freeze()
    phone = "+995555100008"
    verification_id = await request_code(client, phone)
    code = await read_code(redis, settings, phone)
    clock.advance(timedelta(seconds=settings.otp_ttl_seconds + 1))
    assert_error(await _verify(client, verification_id, code), 401, 1007)


async def test_unknown_verification_and_malformed_code(client: httpx.AsyncClient) -> None:
    assert_error(await _verify(client, "no-such-verification", "123456"), 401, 1007)
    assert_error(await _verify(client, "x", "12ab56"), 422, 2002)


async def test_a_phone_waits_sixty_seconds_between_codes(client: httpx.AsyncClient) -> None:
    clock.freeze()
    phone = "+995555100009"
    assert (await client.post(SEND, json={"phone_number": phone})).status_code == 200
    refused = await client.post(SEND, json={"phone_number": phone})
    details = assert_error(refused, 429, 1006)
    assert details == {"retry_after": 60, "reason": "cooldown"}
    assert refused.headers["retry-after"] == "60"
    clock.advance(timedelta(seconds=30))
    assert (
        assert_error(await client.post(SEND, json={"phone_number": phone}), 429, 1006)[
            "retry_after"
        ]
        == 30
    )
    clock.advance(timedelta(seconds=30))
    assert (await client.post(SEND, json={"phone_number": phone})).status_code == 200


async def test_a_phone_gets_five_codes_an_hour(client: httpx.AsyncClient) -> None:
    clock.freeze()
    phone = "+995555100010"
    for sent in range(5):
        response = await client.post(SEND, json={"phone_number": phone})
        assert response.status_code == 200
        assert response.headers["x-ratelimit-limit"] == "5"
        assert response.headers["x-ratelimit-remaining"] == str(4 - sent)
        clock.advance(timedelta(seconds=61))
    refused = await client.post(SEND, json={"phone_number": "555 10 00 10"})
    details = assert_error(refused, 429, 1006)
    assert details["scope"] == "rate_limit_send_code"
    assert refused.headers["x-ratelimit-remaining"] == "0"
    assert int(refused.headers["retry-after"]) > 0
    # Another number is not held back by this one's limit.
    assert (await client.post(SEND, json={"phone_number": "+995555100011"})).status_code == 200


async def test_an_address_has_its_own_limit(settings: Settings, db_session: AsyncSession) -> None:
    limited = settings.model_copy(update={"rate_limit_send_code_ip": "2/hour"})
    async with serve_app(limited, connection=_connection(db_session)) as app:
        async with client_for(app, ip="10.9.8.7") as http:
            for n in range(2):
                ok = await http.post(SEND, json={"phone_number": f"+99555510002{n}"})
                assert ok.status_code == 200
            refused = await http.post(SEND, json={"phone_number": "+995555100029"})
            assert assert_error(refused, 429, 1006)["scope"] == "rate_limit_send_code_ip"
        async with client_for(app, ip="10.9.8.8") as other:
            assert (
                await other.post(SEND, json={"phone_number": "+995555100030"})
            ).status_code == 200


async def test_a_blocked_device_cannot_log_in(
    client: httpx.AsyncClient, db_session: AsyncSession, settings: Settings, redis: Redis
) -> None:
    clock.freeze()
    admin = await make_member(db_session, settings, "+995555100040", admin=True)
    device = fingerprint()
    first = await login(client, redis, settings, "+995555100041", device)
    device_id = (
        await db_session.scalars(
            select(UserDevice.device_id).where(UserDevice.user_id == first["user"]["id"])
        )
    ).one()
    blocked = await client.post(
        f"/api/v1/admin/devices/{device_id}/block",
        json={"reason": "many fake accounts"},
        headers=admin.headers,
    )
    assert blocked.status_code == 200
    # Its live session ends at once.
    me = await client.get("/api/v1/users/me", headers=bearer(first["access_token"]))
    assert_error(me, 401, 1003)

    clock.advance(timedelta(seconds=61))
    phone = "+995555100042"
    verification_id = await request_code(client, phone)
    code = await read_code(redis, settings, phone)
    refused = await _verify(client, verification_id, code, device)
    assert_error(refused, 403, 1009)
    assert await users.get_by_phone(db_session, settings, phone) is None
    failures = await db_session.scalar(
        select(func.count())
        .select_from(AuditLog)
        .where(AuditLog.action == "auth.login.failed", AuditLog.entity_id == str(device_id))
    )
    assert failures == 1


async def test_a_device_shared_by_many_accounts_flags_them(
    client: httpx.AsyncClient, db_session: AsyncSession, settings: Settings, redis: Redis
) -> None:
    shared = fingerprint()
    phones = [f"+99555510005{n}" for n in range(settings.device_accounts_review_threshold + 1)]
    for phone in phones[:-1]:
        await login(client, redis, settings, phone, shared)
    for phone in phones[:-1]:
        user = await users.get_by_phone(db_session, settings, phone)
        assert user is not None
        assert user.flagged_for_review_at is None
    await login(client, redis, settings, phones[-1], shared)
    for phone in phones:
        user = await users.get_by_phone(db_session, settings, phone)
        assert user is not None
        await db_session.refresh(user)
        assert user.flagged_for_review_at is not None
        assert user.review_reason == "device shared by many accounts"


async def test_bootstrap_admins_become_admins_at_login(
    settings: Settings, redis: Redis, db_session: AsyncSession
) -> None:
    bootstrap = settings.model_copy(update={"bootstrap_admin_phones": ["+995500000077"]})
    connection = _connection(db_session)
    async with serve_app(bootstrap, connection=connection) as app, client_for(app) as http:
        data = await login(http, redis, settings, "500 00 00 77")
        assert data["user"]["is_admin"] is True
        other = await login(http, redis, settings, "+995555100060")
        assert other["user"]["is_admin"] is False
    admin = await users.get_by_phone(db_session, settings, "+995500000077")
    assert admin is not None
    assert admin.is_admin
    granted = await db_session.scalar(
        select(func.count())
        .select_from(AuditLog)
        .where(AuditLog.action == "users.admin.granted", AuditLog.entity_id == str(admin.id))
    )
    assert granted == 1


def _connection(session: AsyncSession) -> AsyncConnection:
    connection = session.bind
    assert isinstance(connection, AsyncConnection)
    return connection
