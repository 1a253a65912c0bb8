"""Notifications: writing them in a caller's transaction, dedupe, the after-commit event, and
the member's routes (list, read, mark all read, delete) over real PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import APIRouter
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from sqlalchemy import delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from polis.app import DOMAIN_ROUTERS
from polis.config import Settings
from polis.kit import clock, events
from polis.kit.db import create_sessionmaker
from polis.kit.deps import DbSession
from polis.kit.envelope import Envelope, ok
from polis.kit.errors import Conflict, NotFound
from polis.notifications import service
from polis.notifications.models import Notification, NotificationType
from polis.notifications.router import router as notifications_router
from polis.realtime.schemas import user_channel
from polis.users.models import Language, User, UserRole
from polis.users.service import get_or_create_by_phone
from tests.conftest import Member, app_client, envelope_body, envelope_error, make_member

URL = "/api/v1/notifications"
# In the past: PyJWT checks that "iat" is not in the future against the real clock.
START = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
DEVICE = {"device": "Pixel 8 (Android 15)"}


def _phone(number: int) -> str:
    return f"+9955550001{number:02d}"


@pytest.fixture
async def http(settings: Settings, db_session: AsyncSession) -> AsyncIterator[httpx.AsyncClient]:
    """The app with the notification routes, its requests in the test's transaction."""
    # Once app.py registers the router the real app serves it; including it twice would not.
    extra = None if notifications_router in DOMAIN_ROUTERS else notifications_router
    async with app_client(settings, db_session, extra) as client:
        yield client


@pytest.fixture
async def alice(db_session: AsyncSession, settings: Settings) -> Member:
    clock.freeze(START)
    return await make_member(db_session, settings, _phone(1))


@pytest.fixture
async def bob(db_session: AsyncSession, settings: Settings) -> Member:
    clock.freeze(START)
    return await make_member(db_session, settings, _phone(2), language=Language.EN)


async def _notify(
    session: AsyncSession,
    member: Member,
    notification_type: NotificationType = NotificationType.NEW_DEVICE_LOGIN,
    *,
    read: bool = False,
    **params: Any,
) -> Notification:
    """A notification one minute after the previous one (so the order is certain)."""
    clock.advance(timedelta(minutes=1))
    if notification_type in (NotificationType.NEW_DEVICE_LOGIN, NotificationType.SESSION_REVOKED):
        params = {**DEVICE, **params}
    if notification_type is NotificationType.ROLE_CHANGED:
        params = {"role": "supporter", **params}
    notification = await service.notify(session, member.user.id, notification_type, params)
    assert notification is not None
    if read:
        notification.read_at = clock.now()
        await session.flush()
    return notification


def _page_meta(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body["meta"].items() if k not in {"timestamp", "request_id"}}


async def _read_at(session: AsyncSession, notification_id: uuid.UUID) -> datetime | None:
    # A column query reads the database, not the identity map the requests never touched.
    return await session.scalar(
        select(Notification.read_at).where(Notification.id == notification_id)
    )


async def _exists(session: AsyncSession, notification_id: uuid.UUID) -> bool:
    count = await session.scalar(
        select(func.count()).select_from(Notification).where(Notification.id == notification_id)
    )
    return count == 1


async def _count(session: AsyncSession, user_id: uuid.UUID) -> int:
    count = await session.scalar(
        select(func.count()).select_from(Notification).where(Notification.user_id == user_id)
    )
    return int(count or 0)


# --- listing ---------------------------------------------------------------------------------


async def test_list_filters_by_unread_and_type_and_carries_the_unread_count(
    http: httpx.AsyncClient, db_session: AsyncSession, alice: Member, bob: Member
) -> None:
    login = await _notify(db_session, alice)
    role = await _notify(db_session, alice, NotificationType.ROLE_CHANGED)
    read_role = await _notify(db_session, alice, NotificationType.ROLE_CHANGED, read=True)
    admin = await _notify(db_session, alice, NotificationType.ADMIN_GRANTED)
    read_login = await _notify(db_session, alice, read=True)
    await _notify(db_session, bob)
    await _notify(db_session, bob, NotificationType.ROLE_CHANGED)

    everything = envelope_body(await http.get(URL, headers=alice.headers))
    unread = envelope_body(
        await http.get(URL, headers=alice.headers, params={"unread_only": "true"})
    )
    roles = envelope_body(
        await http.get(URL, headers=alice.headers, params={"type": "role_changed"})
    )
    unread_roles = envelope_body(
        await http.get(
            URL, headers=alice.headers, params={"type": "role_changed", "unread_only": "true"}
        )
    )

    def ids(body: dict[str, Any]) -> list[uuid.UUID]:
        return [uuid.UUID(item["id"]) for item in body["data"]]

    # Newest first, only Alice's.
    assert ids(everything) == [read_login.id, admin.id, read_role.id, role.id, login.id]
    assert ids(unread) == [admin.id, role.id, login.id]
    assert ids(roles) == [read_role.id, role.id]
    assert ids(unread_roles) == [role.id]
    # The badge counts all of Alice's unread, whatever the filters; total is this list's size.
    assert [body["meta"]["unread_count"] for body in (everything, unread, roles, unread_roles)] == [
        3,
        3,
        3,
        3,
    ]
    assert [body["meta"]["total"] for body in (everything, unread, roles, unread_roles)] == [
        5,
        3,
        2,
        1,
    ]
    item = everything["data"][0]
    assert item == {
        "id": str(read_login.id),
        "type": "new_device_login",
        "title": "ახალი მოწყობილობიდან შესვლა",
        "body": (
            "თქვენს ანგარიშში შესვლა განხორციელდა ახალი მოწყობილობიდან: Pixel 8 (Android 15). "
            "თუ ეს თქვენ არ ყოფილხართ, დაუყოვნებლივ დაასრულეთ ეს სესია."
        ),
        "params": DEVICE,
        "read_at": "2025-03-01T09:05:00Z",
        "created_at": "2025-03-01T09:05:00Z",
    }
    assert everything["data"][-1]["read_at"] is None


async def test_pages_carry_the_list_meta_and_the_unread_count(
    http: httpx.AsyncClient, db_session: AsyncSession, alice: Member
) -> None:
    made = [await _notify(db_session, alice, read=i == 0) for i in range(5)]

    second = envelope_body(
        await http.get(URL, headers=alice.headers, params={"per_page": 2, "page": 2})
    )
    oldest_first = envelope_body(
        await http.get(
            URL, headers=alice.headers, params={"sort_by": "created_at", "sort_order": "asc"}
        )
    )

    assert _page_meta(second) == {
        "total": 5,
        "page": 2,
        "per_page": 2,
        "total_pages": 3,
        "has_next": True,
        "has_prev": True,
        "unread_count": 4,
    }
    assert [item["id"] for item in second["data"]] == [str(made[2].id), str(made[1].id)]
    assert [item["id"] for item in oldest_first["data"]] == [str(n.id) for n in made]
    assert _page_meta(oldest_first)["per_page"] == 20


async def test_an_empty_list_has_no_pages_and_nothing_unread(
    http: httpx.AsyncClient, alice: Member
) -> None:
    body = envelope_body(await http.get(URL, headers=alice.headers))

    assert body["data"] == []
    assert _page_meta(body) == {
        "total": 0,
        "page": 1,
        "per_page": 20,
        "total_pages": 0,
        "has_next": False,
        "has_prev": False,
        "unread_count": 0,
    }


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"sort_by": "read_at"}, {"field": "sort_by", "allowed": ["created_at"]}),
        ({"type": "party_invitation"}, None),
        ({"unread_only": "maybe"}, None),
        ({"per_page": 101}, None),
    ],
)
async def test_bad_list_parameters_are_422(
    http: httpx.AsyncClient,
    db_session: AsyncSession,
    alice: Member,
    params: dict[str, Any],
    expected: dict[str, Any] | None,
) -> None:
    await _notify(db_session, alice)

    error = envelope_error(await http.get(URL, headers=alice.headers, params=params), 422, 2002)

    if expected is not None:
        assert error["details"] == expected
    else:
        assert [e["field"] for e in error["details"]["errors"]] == [f"query.{next(iter(params))}"]


# --- language --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("saved", "header", "title"),
    [
        (Language.KA, None, "ახალი მოწყობილობიდან შესვლა"),
        (Language.EN, None, "Login from a new device"),
        (Language.EN, "ka", "ახალი მოწყობილობიდან შესვლა"),
        (Language.KA, "en-US,en;q=0.9", "Login from a new device"),
        (Language.EN, "fr-FR, de;q=0.8, ka;q=0.5", "ახალი მოწყობილობიდან შესვლა"),
        # A header that names neither of ours leaves the saved language in charge.
        (Language.KA, "fr-FR, de;q=0.8", "ახალი მოწყობილობიდან შესვლა"),
        (Language.EN, "*", "Login from a new device"),
    ],
)
async def test_texts_use_accept_language_else_the_saved_language(
    http: httpx.AsyncClient,
    db_session: AsyncSession,
    settings: Settings,
    saved: Language,
    header: str | None,
    title: str,
) -> None:
    clock.freeze(START)
    member = await make_member(db_session, settings, _phone(3), language=saved)
    notification = await _notify(db_session, member)
    headers = {**member.headers, **({"Accept-Language": header} if header else {})}

    listed = envelope_body(await http.get(URL, headers=headers))
    marked = envelope_body(await http.patch(f"{URL}/{notification.id}/read", headers=headers))

    assert listed["data"][0]["title"] == title
    assert marked["data"]["title"] == title
    assert DEVICE["device"] in listed["data"][0]["body"]


# --- read, mark all, delete -------------------------------------------------------------------


async def test_mark_read_sets_read_at_once(
    http: httpx.AsyncClient, db_session: AsyncSession, alice: Member
) -> None:
    notification = await _notify(db_session, alice)
    other = await _notify(db_session, alice)
    read_time = clock.advance(timedelta(minutes=5))

    first = envelope_body(await http.patch(f"{URL}/{notification.id}/read", headers=alice.headers))
    clock.advance(timedelta(minutes=5))
    again = envelope_body(await http.patch(f"{URL}/{notification.id}/read", headers=alice.headers))
    listed = envelope_body(await http.get(URL, headers=alice.headers))

    assert first["data"]["id"] == str(notification.id)
    assert first["data"]["read_at"] == "2025-03-01T09:07:00Z"
    # Reading it again keeps the first time.
    assert again["data"]["read_at"] == "2025-03-01T09:07:00Z"
    assert await _read_at(db_session, notification.id) == read_time
    assert await _read_at(db_session, other.id) is None
    assert listed["meta"]["unread_count"] == 1


async def test_mark_all_read_marks_only_the_callers_unread(
    http: httpx.AsyncClient, db_session: AsyncSession, alice: Member, bob: Member
) -> None:
    already = await _notify(db_session, alice, read=True)
    first_read = await _read_at(db_session, already.id)
    mine = [await _notify(db_session, alice) for _ in range(3)]
    theirs = [await _notify(db_session, bob) for _ in range(2)]
    marked_at = clock.advance(timedelta(minutes=1))

    response = await http.post(f"{URL}/mark-all-read", headers=alice.headers)
    again = await http.post(f"{URL}/mark-all-read", headers=alice.headers)

    assert envelope_body(response)["data"] == {"updated": 3}
    assert envelope_body(again)["data"] == {"updated": 0}
    assert [await _read_at(db_session, n.id) for n in mine] == [marked_at] * 3
    assert await _read_at(db_session, already.id) == first_read
    assert [await _read_at(db_session, n.id) for n in theirs] == [None, None]


async def test_delete_removes_the_row(
    http: httpx.AsyncClient, db_session: AsyncSession, alice: Member
) -> None:
    notification = await _notify(db_session, alice)
    kept = await _notify(db_session, alice)

    response = await http.delete(f"{URL}/{notification.id}", headers=alice.headers)
    again = await http.delete(f"{URL}/{notification.id}", headers=alice.headers)

    assert envelope_body(response)["data"] == {"deleted": True}
    assert not await _exists(db_session, notification.id)
    assert await _exists(db_session, kept.id)
    # Deleting what is gone is 404.
    envelope_error(again, 404, 4001)


async def test_someone_elses_notification_is_not_found(
    http: httpx.AsyncClient, db_session: AsyncSession, alice: Member, bob: Member
) -> None:
    notification = await _notify(db_session, alice)
    unknown = uuid.uuid4()

    foreign_read = envelope_error(
        await http.patch(f"{URL}/{notification.id}/read", headers=bob.headers), 404, 4001
    )
    foreign_delete = envelope_error(
        await http.delete(f"{URL}/{notification.id}", headers=bob.headers), 404, 4001
    )
    unknown_read = envelope_error(
        await http.patch(f"{URL}/{unknown}/read", headers=bob.headers), 404, 4001
    )
    unknown_delete = envelope_error(
        await http.delete(f"{URL}/{unknown}", headers=bob.headers), 404, 4001
    )
    bobs_all = envelope_body(await http.post(f"{URL}/mark-all-read", headers=bob.headers))

    # Someone else's notification answers exactly like one that does not exist.
    assert foreign_read == unknown_read
    assert foreign_delete == unknown_delete
    assert bobs_all["data"] == {"updated": 0}
    assert await _exists(db_session, notification.id)
    assert await _read_at(db_session, notification.id) is None


@pytest.mark.parametrize("method", ["PATCH", "DELETE"])
async def test_an_id_that_is_not_a_uuid_is_422(
    http: httpx.AsyncClient, alice: Member, method: str
) -> None:
    path = f"{URL}/not-a-uuid/read" if method == "PATCH" else f"{URL}/not-a-uuid"

    error = envelope_error(await http.request(method, path, headers=alice.headers), 422, 2002)

    assert [e["field"] for e in error["details"]["errors"]] == ["path.notification_id"]


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic YTpi"}]
)
async def test_every_route_needs_an_access_token(
    http: httpx.AsyncClient,
    db_session: AsyncSession,
    alice: Member,
    headers: dict[str, str],
) -> None:
    notification = await _notify(db_session, alice)

    responses = [
        await http.get(URL, headers=headers),
        await http.patch(f"{URL}/{notification.id}/read", headers=headers),
        await http.post(f"{URL}/mark-all-read", headers=headers),
        await http.delete(f"{URL}/{notification.id}", headers=headers),
    ]

    for response in responses:
        envelope_error(response, 401, 1003)
    assert await _exists(db_session, notification.id)
    assert await _read_at(db_session, notification.id) is None


# --- notify: dedupe, params, the database ----------------------------------------------------


async def test_a_dedupe_key_writes_one_notification_per_member(
    db_session: AsyncSession, alice: Member, bob: Member
) -> None:
    first = await service.notify(
        db_session, alice.user.id, NotificationType.NEW_DEVICE_LOGIN, DEVICE, dedupe_key="login:1"
    )
    second = await service.notify(
        db_session, alice.user.id, NotificationType.NEW_DEVICE_LOGIN, DEVICE, dedupe_key="login:1"
    )
    # The key is the member's own: Bob may get one with the same key.
    bobs = await service.notify(
        db_session, bob.user.id, NotificationType.NEW_DEVICE_LOGIN, DEVICE, dedupe_key="login:1"
    )
    # Without a key, nothing is deduplicated.
    plain = [
        await service.notify(db_session, alice.user.id, NotificationType.ADMIN_GRANTED)
        for _ in range(2)
    ]

    assert first is not None
    assert second is None
    assert bobs is not None
    assert all(n is not None for n in plain)
    assert await _count(db_session, alice.user.id) == 3
    assert await _count(db_session, bob.user.id) == 1
    # Only the notifications written have an event waiting for the commit.
    waiting = [
        item for item in events.pending(db_session) if isinstance(item, events.RealtimeEvent)
    ]
    assert [event.data["id"] for event in waiting] == [
        str(first.id),
        str(bobs.id),
        *(str(n.id) for n in plain if n is not None),
    ]


async def test_params_are_stored_as_json_and_documented_params_are_required(
    db_session: AsyncSession, alice: Member
) -> None:
    some_id = uuid.uuid4()
    notification = await service.notify(
        db_session,
        alice.user.id,
        NotificationType.ROLE_CHANGED,
        {"role": UserRole.GEDER, "changed_by": some_id, "at": START},
    )
    assert notification is not None
    stored = await db_session.scalar(
        select(Notification.params).where(Notification.id == notification.id)
    )
    assert stored == {"role": "geder", "changed_by": str(some_id), "at": "2025-03-01T09:00:00Z"}

    with pytest.raises(ValueError, match="session_revoked notifications need params: device"):
        await service.notify(db_session, alice.user.id, NotificationType.SESSION_REVOKED)
    for key in ("", "k" * 201):
        with pytest.raises(ValueError, match="a dedupe key has 1 to 200 characters"):
            await service.notify(
                db_session, alice.user.id, NotificationType.ADMIN_GRANTED, dedupe_key=key
            )
    assert await _count(db_session, alice.user.id) == 1


async def test_notifying_an_unknown_member_is_not_found(db_session: AsyncSession) -> None:
    with pytest.raises(NotFound):
        await service.notify(db_session, uuid.uuid4(), NotificationType.ADMIN_GRANTED)
    assert events.pending(db_session) == []


async def test_a_deleted_member_takes_their_notifications_along(
    db_session: AsyncSession, alice: Member
) -> None:
    await _notify(db_session, alice)
    await _notify(db_session, alice, NotificationType.ADMIN_GRANTED)

    await db_session.execute(delete(User).where(User.id == alice.user.id))

    assert await _count(db_session, alice.user.id) == 0


async def test_the_database_enum_knows_every_notification_type(db_session: AsyncSession) -> None:
    # A type added in Python without its migration would fail only when first written.
    values = await db_session.scalars(text("SELECT unnest(enum_range(NULL::notification_type))"))

    assert list(values) == [member.value for member in NotificationType]


async def test_two_racing_transactions_with_one_dedupe_key_write_one_row(
    engine: AsyncEngine, settings: Settings
) -> None:
    maker = create_sessionmaker(engine)
    async with maker() as setup:
        user, _ = await get_or_create_by_phone(setup, settings, "+995555000190")
        await setup.commit()
    both_open = asyncio.Barrier(2)

    async def notify_and_commit() -> Notification | None:
        async with maker() as session:
            # Both transactions are open before either writes: a real race, not a sequence.
            await session.execute(text("SELECT 1"))
            await both_open.wait()
            notification = await service.notify(
                session,
                user.id,
                NotificationType.NEW_DEVICE_LOGIN,
                DEVICE,
                dedupe_key="race",
            )
            await session.commit()
            return notification

    try:
        results = await asyncio.gather(notify_and_commit(), notify_and_commit())
        async with maker() as check:
            count = await _count(check, user.id)
        # One wins; the other waits for its commit and then writes nothing, without an error.
        assert sorted(result is None for result in results) == [False, True]
        assert count == 1
    finally:
        async with engine.begin() as connection:
            await connection.execute(delete(User).where(User.id == user.id))


# --- the real-time event ---------------------------------------------------------------------


def _event_router(pubsub: PubSub, seen_before_commit: list[object]) -> APIRouter:
    router = APIRouter()

    @router.post("/notify-test")
    async def notify_test(
        session: DbSession, user_id: uuid.UUID, fail: bool = False
    ) -> Envelope[str]:
        notification = await service.notify(
            session, user_id, NotificationType.SESSION_REVOKED, DEVICE
        )
        assert notification is not None
        # Written and flushed, not yet committed: nothing may be on the channel.
        seen_before_commit.append(await _next_message(pubsub, wait_seconds=0.3))
        if fail:
            raise Conflict("rolled back on purpose")
        return ok(str(notification.id))

    return router


async def _next_message(pubsub: PubSub, wait_seconds: float = 2.0) -> dict[str, Any] | None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    while loop.time() < deadline:
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
        if message is not None:
            result: dict[str, Any] = json.loads(message["data"])
            return result
    return None


@pytest.fixture
async def pubsub(redis: Redis) -> AsyncIterator[PubSub]:
    channel = redis.pubsub()
    yield channel
    await channel.aclose()  # type: ignore[no-untyped-call]


async def test_the_event_is_published_after_commit(
    settings: Settings, db_session: AsyncSession, pubsub: PubSub, bob: Member
) -> None:
    await pubsub.subscribe(user_channel(bob.user.id))
    seen: list[object] = []

    async with app_client(settings, db_session, _event_router(pubsub, seen)) as client:
        response = await client.post("/api/v1/notify-test", params={"user_id": str(bob.user.id)})
        notification_id = envelope_body(response)["data"]
        message = await _next_message(pubsub)

    assert seen == [None]
    # Bob saved English, so the event's text is English.
    assert message == {
        "event": "notification.new",
        "data": {
            "id": notification_id,
            "type": "session_revoked",
            "title": "A session was ended",
            "body": (
                "The session on Pixel 8 (Android 15) was ended. If you did not do this, "
                "review your active sessions."
            ),
            "params": DEVICE,
            "language": "en",
            "created_at": "2025-03-01T09:00:00+00:00",
        },
    }
    assert await _exists(db_session, uuid.UUID(notification_id))


async def test_a_rollback_drops_the_event_and_the_row(
    settings: Settings, db_session: AsyncSession, pubsub: PubSub, alice: Member
) -> None:
    await pubsub.subscribe(user_channel(alice.user.id))
    seen: list[object] = []

    async with app_client(settings, db_session, _event_router(pubsub, seen)) as client:
        response = await client.post(
            "/api/v1/notify-test", params={"user_id": str(alice.user.id), "fail": "true"}
        )
        envelope_error(response, 409, 4002)
        message = await _next_message(pubsub, wait_seconds=0.5)

    assert seen == [None]
    assert message is None
    assert await _count(db_session, alice.user.id) == 0
