"""Channel preferences (which channels each notification type may use, narrowed by the member)
and push device registration, over the real app, PostgreSQL and Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from polis.config import Settings
from polis.kit import clock
from polis.notifications import service
from polis.notifications.models import (
    Channel,
    NotificationPreference,
    NotificationType,
    PushDevice,
    PushPlatform,
)
from tests.conftest import Member, app_client, envelope_error, make_member

PREFERENCES = "/api/v1/notifications/preferences"
DEVICES = "/api/v1/notifications/devices"
# In the past: PyJWT checks that "iat" is not in the future against the real clock.
START = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
# Shaped like an FCM registration token (it contains a colon).
TOKEN = "dGVzdC10b2tlbi0x:APA91bH-" + "x" * 140
OTHER_TOKEN = "ZmNtLXRva2VuLTI:APA91bG_" + "y" * 140


@pytest.fixture
async def http(settings: Settings, db_session: AsyncSession) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(settings, db_session) as client:
        yield client


@pytest.fixture
async def alice(db_session: AsyncSession, settings: Settings) -> Member:
    clock.freeze(START)
    return await make_member(db_session, settings, "+995555000201")


@pytest.fixture
async def bob(db_session: AsyncSession, settings: Settings) -> Member:
    clock.freeze(START)
    return await make_member(db_session, settings, "+995555000202")


def _data(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is True
    return body["data"]


def _by_type(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["type"]: item for item in data["items"]}


async def _stored(session: AsyncSession, member: Member) -> dict[tuple[str, str], bool]:
    rows = await session.execute(
        select(
            NotificationPreference.type,
            NotificationPreference.channel,
            NotificationPreference.enabled,
        ).where(NotificationPreference.user_id == member.user.id)
    )
    return {(t.value, c.value): enabled for t, c, enabled in rows}


async def _devices(session: AsyncSession) -> dict[str, tuple[Any, ...]]:
    rows = await session.execute(
        select(
            PushDevice.token,
            PushDevice.user_id,
            PushDevice.platform,
            PushDevice.created_at,
            PushDevice.last_seen_at,
        )
    )
    return {row[0]: tuple(row[1:]) for row in rows}


# --- authentication --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("GET", PREFERENCES, None),
        ("PUT", PREFERENCES, {"items": []}),
        ("POST", DEVICES, {"token": TOKEN, "platform": "android"}),
        ("DELETE", f"{DEVICES}/{TOKEN}", None),
    ],
)
async def test_every_route_needs_a_token(
    http: httpx.AsyncClient, method: str, url: str, body: dict[str, Any] | None
) -> None:
    response = await http.request(method, url, json=body)
    envelope_error(response, 401, 1003)


# --- preferences -----------------------------------------------------------------------------


async def test_defaults_list_every_type_with_all_its_allowed_channels_on(
    http: httpx.AsyncClient, alice: Member
) -> None:
    data = _data(await http.get(PREFERENCES, headers=alice.headers))
    types = _by_type(data)
    assert set(types) == {t.value for t in NotificationType}
    # SMS only for security messages and critical SOS signals.
    assert types["new_device_login"] == {
        "type": "new_device_login",
        "allowed": ["push", "email", "sms"],
        "enabled": ["push", "email", "sms"],
    }
    assert types["session_revoked"]["allowed"] == ["push", "email", "sms"]
    assert types["sos_signal_critical"]["allowed"] == ["push", "email", "sms"]
    for name, item in types.items():
        if name not in {"new_device_login", "session_revoked", "sos_signal_critical"}:
            assert item["allowed"] == ["push", "email"], name
            assert item["enabled"] == ["push", "email"], name


async def test_put_narrows_saves_and_returns_the_new_state(
    http: httpx.AsyncClient, db_session: AsyncSession, alice: Member, bob: Member
) -> None:
    response = await http.put(
        PREFERENCES,
        headers=alice.headers,
        json={
            "items": [
                {"type": "role_changed", "channel": "push", "enabled": False},
                {"type": "new_device_login", "channel": "sms", "enabled": False},
            ]
        },
    )
    types = _by_type(_data(response))
    assert types["role_changed"]["enabled"] == ["email"]
    assert types["role_changed"]["allowed"] == ["push", "email"]
    assert types["new_device_login"]["enabled"] == ["push", "email"]
    assert types["admin_granted"]["enabled"] == ["push", "email"]
    assert await _stored(db_session, alice) == {
        ("role_changed", "push"): False,
        ("new_device_login", "sms"): False,
    }
    # GET answers the same state; another member keeps the defaults.
    again = _by_type(_data(await http.get(PREFERENCES, headers=alice.headers)))
    assert again == types
    assert await service.channels_for(db_session, alice.user.id, NotificationType.ROLE_CHANGED) == {
        "email"
    }
    assert await service.channels_for(
        db_session, alice.user.id, NotificationType.NEW_DEVICE_LOGIN
    ) == {"push", "email"}
    assert await service.channels_for(db_session, bob.user.id, NotificationType.ROLE_CHANGED) == {
        "push",
        "email",
    }
    assert await _stored(db_session, bob) == {}


async def test_turning_a_channel_back_on_restores_it(
    http: httpx.AsyncClient, db_session: AsyncSession, alice: Member
) -> None:
    off = {"type": "endorsement_requested", "channel": "email", "enabled": False}
    _data(await http.put(PREFERENCES, headers=alice.headers, json={"items": [off]}))
    assert await service.channels_for(
        db_session, alice.user.id, NotificationType.ENDORSEMENT_REQUESTED
    ) == {"push"}
    on = {**off, "enabled": True}
    types = _by_type(
        _data(await http.put(PREFERENCES, headers=alice.headers, json={"items": [on]}))
    )
    assert types["endorsement_requested"]["enabled"] == ["push", "email"]
    assert await _stored(db_session, alice) == {("endorsement_requested", "email"): True}
    assert await service.channels_for(
        db_session, alice.user.id, NotificationType.ENDORSEMENT_REQUESTED
    ) == {"push", "email"}


async def test_an_empty_put_changes_nothing(
    http: httpx.AsyncClient, db_session: AsyncSession, alice: Member
) -> None:
    types = _by_type(_data(await http.put(PREFERENCES, headers=alice.headers, json={"items": []})))
    assert types["role_changed"]["enabled"] == ["push", "email"]
    assert await _stored(db_session, alice) == {}


async def test_enabling_a_channel_the_type_may_not_use_is_refused_and_nothing_is_saved(
    http: httpx.AsyncClient, db_session: AsyncSession, alice: Member
) -> None:
    response = await http.put(
        PREFERENCES,
        headers=alice.headers,
        json={
            "items": [
                # Valid on its own, but the request is all or nothing.
                {"type": "role_changed", "channel": "push", "enabled": False},
                {"type": "role_changed", "channel": "sms", "enabled": True},
            ]
        },
    )
    error = envelope_error(response, 422, 3030)
    assert error["details"] == {
        "type": "role_changed",
        "channel": "sms",
        "allowed": ["push", "email"],
    }
    assert await _stored(db_session, alice) == {}
    assert await service.channels_for(db_session, alice.user.id, NotificationType.ROLE_CHANGED) == {
        "push",
        "email",
    }


async def test_disabling_a_channel_the_type_may_not_use_is_a_no_op(
    http: httpx.AsyncClient, db_session: AsyncSession, alice: Member
) -> None:
    item = {"type": "role_changed", "channel": "sms", "enabled": False}
    types = _by_type(
        _data(await http.put(PREFERENCES, headers=alice.headers, json={"items": [item]}))
    )
    assert types["role_changed"]["enabled"] == ["push", "email"]
    assert await _stored(db_session, alice) == {}


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"items": [{"type": "no_such_type", "channel": "push", "enabled": False}]}, 2002),
        ({"items": [{"type": "role_changed", "channel": "pigeon", "enabled": False}]}, 2002),
        ({"items": [{"type": "role_changed", "channel": "push", "enabled": "maybe"}]}, 2002),
        ({"items": [{"type": "role_changed", "channel": "push"}]}, 2001),
        ({}, 2001),
        (
            {
                "items": [
                    {"type": "role_changed", "channel": "push", "enabled": False},
                    {"type": "role_changed", "channel": "push", "enabled": True},
                ]
            },
            2002,
        ),
    ],
    ids=["unknown-type", "unknown-channel", "bad-enabled", "missing-enabled", "no-items", "twice"],
)
async def test_bad_preference_bodies_are_refused(
    http: httpx.AsyncClient,
    db_session: AsyncSession,
    alice: Member,
    body: dict[str, Any],
    code: int,
) -> None:
    envelope_error(await http.put(PREFERENCES, headers=alice.headers, json=body), 422, code)
    assert await _stored(db_session, alice) == {}


async def test_channels_for_every_type_defaults_to_its_allowed_channels(
    db_session: AsyncSession, alice: Member
) -> None:
    for notification_type in NotificationType:
        channels = await service.channels_for(db_session, alice.user.id, notification_type)
        expected = {"push", "email"}
        if notification_type in service.SMS_TYPES:
            expected.add("sms")
        assert channels == expected, notification_type
    assert all(isinstance(c, str) for c in channels)
    assert Channel.SMS not in service.ALLOWED[NotificationType.ACHIEVEMENT_UNLOCKED]


# --- push devices ----------------------------------------------------------------------------


async def test_register_creates_then_reregistering_refreshes(
    http: httpx.AsyncClient, db_session: AsyncSession, alice: Member
) -> None:
    created = await http.post(
        DEVICES, headers=alice.headers, json={"token": TOKEN, "platform": "android"}
    )
    data = _data(created, 201)
    assert data["platform"] == "android"
    assert "token" not in data
    assert datetime.fromisoformat(data["created_at"]) == START
    assert await _devices(db_session) == {
        TOKEN: (alice.user.id, PushPlatform.ANDROID, START, START)
    }

    clock.advance(timedelta(minutes=3))
    again = await http.post(
        DEVICES, headers=alice.headers, json={"token": TOKEN, "platform": "android"}
    )
    data_again = _data(again, 200)
    assert data_again["id"] == data["id"]
    assert datetime.fromisoformat(data_again["last_seen_at"]) == START + timedelta(minutes=3)
    assert await _devices(db_session) == {
        TOKEN: (alice.user.id, PushPlatform.ANDROID, START, START + timedelta(minutes=3))
    }


async def test_a_token_registered_by_another_member_moves_to_them(
    http: httpx.AsyncClient, db_session: AsyncSession, alice: Member, bob: Member
) -> None:
    _data(
        await http.post(DEVICES, headers=alice.headers, json={"token": TOKEN, "platform": "web"}),
        201,
    )
    clock.advance(timedelta(minutes=5))
    moved = await http.post(DEVICES, headers=bob.headers, json={"token": TOKEN, "platform": "ios"})
    assert _data(moved, 200)["platform"] == "ios"
    assert await _devices(db_session) == {
        TOKEN: (bob.user.id, PushPlatform.IOS, START, START + timedelta(minutes=5))
    }
    # Alice no longer owns it.
    envelope_error(await http.delete(f"{DEVICES}/{TOKEN}", headers=alice.headers), 404, 4001)


async def test_a_member_may_have_several_devices(
    http: httpx.AsyncClient, db_session: AsyncSession, alice: Member
) -> None:
    for token, platform in ((TOKEN, "android"), (OTHER_TOKEN, "ios")):
        body = {"token": token, "platform": platform}
        _data(await http.post(DEVICES, headers=alice.headers, json=body), 201)
    devices = await _devices(db_session)
    assert set(devices) == {TOKEN, OTHER_TOKEN}
    assert {owner for owner, *_ in devices.values()} == {alice.user.id}


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"token": TOKEN, "platform": "blackberry"}, 2002),
        ({"token": "", "platform": "android"}, 2002),
        ({"token": "has a space", "platform": "android"}, 2002),
        ({"token": "x" * 1025, "platform": "android"}, 2002),
        ({"platform": "android"}, 2001),
        ({"token": TOKEN}, 2001),
    ],
    ids=["platform", "empty", "space", "too-long", "no-token", "no-platform"],
)
async def test_bad_device_bodies_are_refused(
    http: httpx.AsyncClient,
    db_session: AsyncSession,
    alice: Member,
    body: dict[str, Any],
    code: int,
) -> None:
    envelope_error(await http.post(DEVICES, headers=alice.headers, json=body), 422, code)
    assert await _devices(db_session) == {}


async def test_the_owner_deletes_a_token(
    http: httpx.AsyncClient, db_session: AsyncSession, alice: Member
) -> None:
    for token in (TOKEN, OTHER_TOKEN):
        body = {"token": token, "platform": "android"}
        _data(await http.post(DEVICES, headers=alice.headers, json=body), 201)
    assert _data(await http.delete(f"{DEVICES}/{TOKEN}", headers=alice.headers)) == {
        "deleted": True
    }
    assert set(await _devices(db_session)) == {OTHER_TOKEN}
    # Gone is gone.
    envelope_error(await http.delete(f"{DEVICES}/{TOKEN}", headers=alice.headers), 404, 4001)


async def test_someone_elses_token_is_not_found_and_stays(
    http: httpx.AsyncClient, db_session: AsyncSession, alice: Member, bob: Member
) -> None:
    _data(
        await http.post(DEVICES, headers=alice.headers, json={"token": TOKEN, "platform": "ios"}),
        201,
    )
    envelope_error(await http.delete(f"{DEVICES}/{TOKEN}", headers=bob.headers), 404, 4001)
    assert await _devices(db_session) == {TOKEN: (alice.user.id, PushPlatform.IOS, START, START)}


async def test_remove_unregistered_forgets_the_token_whoever_owns_it(
    http: httpx.AsyncClient, db_session: AsyncSession, alice: Member
) -> None:
    for token in (TOKEN, OTHER_TOKEN):
        body = {"token": token, "platform": "android"}
        _data(await http.post(DEVICES, headers=alice.headers, json=body), 201)
    assert await service.remove_unregistered(db_session, TOKEN) is True
    assert set(await _devices(db_session)) == {OTHER_TOKEN}
    # Already gone (the member deleted it first): nothing to do, no error.
    assert await service.remove_unregistered(db_session, TOKEN) is False
