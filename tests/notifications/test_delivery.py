"""The delivery outbox in one transaction: which rows notify writes, claiming, retries with
backoff, dead letters, and the admin endpoints (real app, PostgreSQL, moved clock)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import redis as redis_sync
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from polis.audit.models import AuditLog
from polis.config import Settings
from polis.email.adapter import LogEmailSender
from polis.kit import clock
from polis.kit.events import TaskJob, pending
from polis.notifications import delivery, service
from polis.notifications.delivery import DELIVER_TASK, NotDue, Outgoing
from polis.notifications.models import (
    Channel,
    Delivery,
    DeliveryStatus,
    NotificationType,
    PushDevice,
    PushPlatform,
)
from polis.notifications.tasks import WorkerRuntime, attempt_delivery, send_outgoing
from polis.push.adapter import LogPushSender, PushRetryable, PushTokenRejected
from polis.sms.adapter import OutboxSmsSender
from polis.sms.service import outbox_messages
from polis.users.models import Language
from tests.conftest import (
    Member,
    app_client,
    envelope_body,
    envelope_error,
    make_member,
    savepoint_sessionmaker,
)

START = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
TOKEN = "dGVzdC10b2tlbi0x:APA91bH-" + "x" * 140
OTHER_TOKEN = "ZmNtLXRva2VuLTI:APA91bG_" + "y" * 140
EMAIL = "nino.beridze@example.ge"
PHONE = "+995555000301"
ADMIN_DELIVERIES = "/api/v1/admin/deliveries"


@pytest.fixture
def fast(settings: Settings) -> Settings:
    """Settings with a small retry budget: 3 attempts, 10 s · 2^n backoff, a 60 s lease."""
    return settings.model_copy(
        update={
            "delivery_max_attempts": 3,
            "delivery_backoff_base_seconds": 10.0,
            "delivery_backoff_max_seconds": 25.0,
            "delivery_lease_seconds": 60.0,
        }
    )


@pytest.fixture
async def nino(db_session: AsyncSession, settings: Settings) -> Member:
    clock.freeze(START)
    member = await make_member(db_session, settings, PHONE, language=Language.EN)
    member.user.email = EMAIL
    await service.register_device(db_session, member.user, TOKEN, PushPlatform.ANDROID)
    await service.register_device(db_session, member.user, OTHER_TOKEN, PushPlatform.IOS)
    await db_session.flush()
    return member


async def _rows(session: AsyncSession, notification_id: Any) -> list[Delivery]:
    rows = await session.scalars(
        select(Delivery)
        .where(Delivery.notification_id == notification_id)
        .execution_options(populate_existing=True)
    )
    return sorted(rows.all(), key=lambda d: (d.channel.value, d.dedupe_key))


async def _achievement(session: AsyncSession, member: Member, key: str | None = None) -> Any:
    notification = await service.notify(
        session,
        member.user.id,
        NotificationType.ACHIEVEMENT_UNLOCKED,
        {"achievement": "first_steps"},
        dedupe_key=key,
    )
    assert notification is not None
    return notification


# --- what notify writes ------------------------------------------------------------------------


async def test_notify_writes_one_push_row_per_device_and_one_email_row(
    db_session: AsyncSession, nino: Member
) -> None:
    notification = await _achievement(db_session, nino)
    rows = await _rows(db_session, notification.id)
    devices = {
        row.token: row.id
        for row in await db_session.execute(select(PushDevice.token, PushDevice.id))
    }
    assert [(r.channel, r.device_id) for r in rows] == sorted(
        [
            (Channel.EMAIL, None),
            (Channel.PUSH, devices[TOKEN]),
            (Channel.PUSH, devices[OTHER_TOKEN]),
        ],
        key=lambda t: (t[0].value, f"{notification.id}:{t[0].value}:{t[1]}" if t[1] else ""),
    )
    assert {r.dedupe_key for r in rows} == {
        f"{notification.id}:email",
        f"{notification.id}:push:{devices[TOKEN]}",
        f"{notification.id}:push:{devices[OTHER_TOKEN]}",
    }
    assert {(r.status, r.attempts, r.next_attempt_at) for r in rows} == {
        (DeliveryStatus.PENDING, 0, START)
    }
    # Each row's send is queued for after commit (tasks take ids).
    jobs = [item for item in pending(db_session) if isinstance(item, TaskJob)]
    assert sorted(job.args[0] for job in jobs if job.name == DELIVER_TASK) == sorted(
        str(r.id) for r in rows
    )


async def test_sms_only_for_security_types_and_never_without_an_address(
    db_session: AsyncSession, settings: Settings, nino: Member
) -> None:
    security = await service.notify(
        db_session, nino.user.id, NotificationType.NEW_DEVICE_LOGIN, {"device": "Pixel 8"}
    )
    assert security is not None
    assert sorted(r.channel.value for r in await _rows(db_session, security.id)) == [
        "email",
        "push",
        "push",
        "sms",
    ]
    # A member with no email, no device: only what reaches them.
    bare = await make_member(db_session, settings, "+995555000399")
    plain = await _achievement(db_session, bare)
    assert await _rows(db_session, plain.id) == []
    login = await service.notify(
        db_session, bare.user.id, NotificationType.NEW_DEVICE_LOGIN, {"device": "x"}
    )
    assert login is not None
    assert [r.channel for r in await _rows(db_session, login.id)] == [Channel.SMS]


async def test_channels_the_member_turned_off_get_no_row(
    db_session: AsyncSession, nino: Member
) -> None:
    await service.set_preferences(
        db_session,
        nino.user.id,
        [service.PreferenceChange(NotificationType.ACHIEVEMENT_UNLOCKED, Channel.PUSH, False)],
    )
    notification = await _achievement(db_session, nino)
    assert [r.channel for r in await _rows(db_session, notification.id)] == [Channel.EMAIL]


async def test_a_repeated_notify_writes_no_second_delivery(
    db_session: AsyncSession, nino: Member
) -> None:
    first = await _achievement(db_session, nino, key="achievement:first_steps")
    assert (
        await service.notify(
            db_session,
            nino.user.id,
            NotificationType.ACHIEVEMENT_UNLOCKED,
            {"achievement": "first_steps"},
            dedupe_key="achievement:first_steps",
        )
        is None
    )
    assert len(await _rows(db_session, first.id)) == 3
    # Planning the same notification again (a retried caller) adds nothing either.
    again = await delivery.plan_deliveries(db_session, first, nino.user, {"push", "email", "sms"})
    assert again == [r.id for r in await _rows(db_session, first.id) if r.channel is Channel.SMS]


# --- claiming, retries, dead letters -----------------------------------------------------------


async def _email_row(session: AsyncSession, member: Member) -> Delivery:
    notification = await _achievement(session, member)
    [row] = [r for r in await _rows(session, notification.id) if r.channel is Channel.EMAIL]
    return row


async def test_a_claim_renders_the_text_in_the_members_language_and_holds_the_row(
    db_session: AsyncSession, fast: Settings, nino: Member
) -> None:
    row = await _email_row(db_session, nino)
    claimed = await delivery.claim(db_session, fast, row.id)
    assert isinstance(claimed, Outgoing)
    assert claimed.address == EMAIL
    assert claimed.attempt == 1
    assert claimed.title == "New achievement"
    assert "first_steps" in claimed.body
    # Held by its worker: a second copy of the task finds nothing to do.
    assert await delivery.claim(db_session, fast, row.id) is None
    await db_session.refresh(row)
    assert (row.status, row.attempts, row.lease_until) == (
        DeliveryStatus.SENDING,
        1,
        START + timedelta(seconds=60),
    )
    # The worker died: once the lease is over, the next claim is a second attempt.
    clock.advance(timedelta(seconds=61))
    assert row.id in await delivery.due_ids(db_session)
    again = await delivery.claim(db_session, fast, row.id)
    assert isinstance(again, Outgoing) and again.attempt == 2
    await delivery.mark_sent(db_session, again)
    await db_session.refresh(row)
    assert row.status is DeliveryStatus.SENT and row.sent_at == clock.now()
    # A sent row is never claimed again, whatever the clock says.
    clock.advance(timedelta(days=1))
    assert await delivery.claim(db_session, fast, row.id) is None
    assert row.id not in await delivery.due_ids(db_session)


async def test_failures_back_off_exponentially_then_the_row_is_dead(
    db_session: AsyncSession, fast: Settings, nino: Member
) -> None:
    row = await _email_row(db_session, nino)
    waits = []
    for attempt in (1, 2):
        claimed = await delivery.claim(db_session, fast, row.id)
        assert isinstance(claimed, Outgoing) and claimed.attempt == attempt
        wait = await delivery.schedule_retry(db_session, fast, claimed, "SMTP answered 451")
        assert wait is not None
        waits.append(wait)
        # Not due yet: the task that arrives early is told how long to wait.
        early = await delivery.claim(db_session, fast, row.id)
        assert isinstance(early, NotDue) and early.seconds == wait
        clock.advance(timedelta(seconds=wait))
    assert waits == [10.0, 20.0]
    last = await delivery.claim(db_session, fast, row.id)
    assert isinstance(last, Outgoing) and last.attempt == 3
    assert await delivery.schedule_retry(db_session, fast, last, "SMTP answered 451") is None
    await db_session.refresh(row)
    assert (row.status, row.attempts, row.last_error) == (
        DeliveryStatus.DEAD,
        3,
        "SMTP answered 451",
    )
    assert await delivery.claim(db_session, fast, row.id) is None
    assert row.id not in await delivery.due_ids(db_session)


def test_backoff_is_capped_and_honours_retry_after(fast: Settings) -> None:
    assert [delivery.backoff_seconds(fast, n) for n in (1, 2, 3, 4)] == [10, 20, 25, 25]
    assert delivery.backoff_seconds(fast, 1, retry_after=120) == 120
    assert delivery.backoff_seconds(fast, 2, retry_after=1) == 20


async def test_a_lease_that_expires_on_the_last_attempt_makes_the_row_dead(
    db_session: AsyncSession, fast: Settings, nino: Member
) -> None:
    row = await _email_row(db_session, nino)
    row.attempts = 3
    row.status = DeliveryStatus.SENDING
    row.lease_until = START
    await db_session.flush()
    clock.advance(timedelta(seconds=1))
    assert await delivery.claim(db_session, fast, row.id) is None
    await db_session.refresh(row)
    assert row.status is DeliveryStatus.DEAD


@pytest.fixture
def sessions(db_session: AsyncSession) -> Any:
    connection = db_session.bind
    assert isinstance(connection, AsyncConnection)
    return savepoint_sessionmaker(connection)


async def test_an_unregistered_token_fails_for_good_and_is_forgotten(
    db_session: AsyncSession, fast: Settings, nino: Member, sessions: Any
) -> None:
    notification = await _achievement(db_session, nino)
    rows = [r for r in await _rows(db_session, notification.id) if r.channel is Channel.PUSH]
    sent: list[Outgoing] = []

    def send(outgoing: Outgoing) -> None:
        sent.append(outgoing)
        if outgoing.address == TOKEN:
            raise PushTokenRejected("UNREGISTERED")

    outcomes = [(await attempt_delivery(sessions, fast, r.id, send)).outcome for r in rows]
    assert sorted(outcomes) == ["failed_permanent", "sent"]
    assert {o.address for o in sent} == {TOKEN, OTHER_TOKEN}
    tokens = (await db_session.scalars(select(PushDevice.token))).all()
    assert list(tokens) == [OTHER_TOKEN]
    statuses = {
        r.status for r in await _rows(db_session, notification.id) if r.channel.value == "push"
    }
    assert statuses == {DeliveryStatus.FAILED_PERMANENT, DeliveryStatus.SENT}
    # The next notification goes to the remaining device only.
    later = await _achievement(db_session, nino)
    assert [r.channel for r in await _rows(db_session, later.id)].count(Channel.PUSH) == 1


async def test_a_device_removed_before_the_send_fails_without_sending(
    db_session: AsyncSession, fast: Settings, nino: Member, sessions: Any
) -> None:
    notification = await _achievement(db_session, nino)
    await service.unregister_device(db_session, nino.user, TOKEN)
    await service.unregister_device(db_session, nino.user, OTHER_TOKEN)

    def send(outgoing: Outgoing) -> None:
        raise AssertionError("nothing to send to")

    for row in [r for r in await _rows(db_session, notification.id) if r.channel is Channel.PUSH]:
        assert row.device_id is None
        assert (await attempt_delivery(sessions, fast, row.id, send)).outcome == "failed_permanent"


async def test_a_retryable_failure_asks_the_broker_back_after_retry_after(
    db_session: AsyncSession, fast: Settings, nino: Member, sessions: Any
) -> None:
    row = await _email_row(db_session, nino)

    def send(outgoing: Outgoing) -> None:
        raise PushRetryable("fcm answered 503 UNAVAILABLE", retry_after=42)

    attempt = await attempt_delivery(sessions, fast, row.id, send)
    assert (attempt.outcome, attempt.retry_in) == ("retry", 42)
    await db_session.refresh(row)
    assert row.status is DeliveryStatus.PENDING
    assert row.next_attempt_at == START + timedelta(seconds=42)
    assert row.last_error == "fcm answered 503 UNAVAILABLE"


# --- admins: dead letters ------------------------------------------------------------------------


@pytest.fixture
async def http(settings: Settings, db_session: AsyncSession) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(settings, db_session) as client:
        yield client


async def _dead_letters(db_session: AsyncSession, member: Member) -> list[Delivery]:
    notification = await service.notify(
        db_session, member.user.id, NotificationType.NEW_DEVICE_LOGIN, {"device": "Pixel 8"}
    )
    assert notification is not None
    rows = await _rows(db_session, notification.id)
    for row in rows:
        row.status = DeliveryStatus.DEAD
        row.attempts = 8
        row.last_error = "fcm answered 500 INTERNAL"
    await db_session.flush()
    return rows


async def test_admins_list_dead_letters_with_addresses_masked(
    db_session: AsyncSession, settings: Settings, nino: Member, http: httpx.AsyncClient
) -> None:
    admin = await make_member(db_session, settings, "+995555000302", admin=True)
    rows = await _dead_letters(db_session, nino)
    await _email_row(db_session, nino)  # pending rows are not dead letters
    response = await http.get(
        ADMIN_DELIVERIES, params={"status": "dead", "per_page": 3}, headers=admin.headers
    )
    body = envelope_body(response)
    assert body["meta"]["total"] == 4 and body["meta"]["has_next"] is True
    page2 = envelope_body(
        await http.get(
            ADMIN_DELIVERIES,
            params={"status": "dead", "per_page": 3, "page": 2},
            headers=admin.headers,
        )
    )
    items = body["data"] + page2["data"]
    assert {item["id"] for item in items} == {str(r.id) for r in rows}
    targets = {item["channel"]: item["target"] for item in items if item["channel"] != "push"}
    assert targets == {"email": "n•••@example.ge", "sms": "+995 555 ••• •01"}
    assert sorted(i["target"] for i in items if i["channel"] == "push") == ["android", "ios"]
    assert {(i["status"], i["attempts"], i["type"]) for i in items} == {
        ("dead", 8, "new_device_login")
    }
    # Never an address in full.
    for secret in (TOKEN, OTHER_TOKEN, EMAIL, PHONE, PHONE[4:]):
        assert secret not in response.text and secret not in page2["data"].__repr__()
    only_sms = envelope_body(
        await http.get(
            ADMIN_DELIVERIES, params={"status": "dead", "channel": "sms"}, headers=admin.headers
        )
    )
    assert [i["channel"] for i in only_sms["data"]] == ["sms"]


async def test_only_admins_see_deliveries_and_bad_filters_are_422(
    db_session: AsyncSession, settings: Settings, nino: Member, http: httpx.AsyncClient
) -> None:
    envelope_error(await http.get(ADMIN_DELIVERIES, headers=nino.headers), 403, 1004)
    envelope_error(await http.get(ADMIN_DELIVERIES), 401, 1003)
    admin = await make_member(db_session, settings, "+995555000302", admin=True)
    envelope_error(
        await http.get(ADMIN_DELIVERIES, params={"status": "lost"}, headers=admin.headers),
        422,
        2002,
    )
    envelope_error(
        await http.get(ADMIN_DELIVERIES, params={"sort_by": "token"}, headers=admin.headers),
        422,
        2002,
    )


async def test_an_admin_retries_a_dead_letter_with_fresh_attempts(
    db_session: AsyncSession, settings: Settings, nino: Member, http: httpx.AsyncClient
) -> None:
    admin = await make_member(db_session, settings, "+995555000302", admin=True)
    row = (await _dead_letters(db_session, nino))[0]
    clock.advance(timedelta(minutes=5))
    response = await http.post(f"{ADMIN_DELIVERIES}/{row.id}/retry", headers=admin.headers)
    data = envelope_body(response)["data"]
    assert (data["status"], data["attempts"]) == ("pending", 0)
    await db_session.refresh(row)
    assert (row.status, row.attempts, row.next_attempt_at) == (
        DeliveryStatus.PENDING,
        0,
        clock.now(),
    )
    audited = await db_session.scalar(
        select(AuditLog).where(
            AuditLog.entity_id == str(row.id), AuditLog.action == "notifications.delivery.retried"
        )
    )
    assert audited is not None and audited.actor_id == admin.user.id
    assert (audited.old_values, audited.new_values) == (
        {"status": "dead", "attempts": 8},
        {"status": "pending", "attempts": 0},
    )
    # Pending is not retryable by hand (3060), an unknown id is 404, a member is 403.
    again = await http.post(f"{ADMIN_DELIVERIES}/{row.id}/retry", headers=admin.headers)
    assert envelope_error(again, 409, 3060)["details"] == {"status": "pending"}
    envelope_error(
        await http.post(
            f"{ADMIN_DELIVERIES}/00000000-0000-4000-8000-000000000000/retry",
            headers=admin.headers,
        ),
        404,
        4001,
    )
    envelope_error(
        await http.post(f"{ADMIN_DELIVERIES}/{row.id}/retry", headers=nino.headers), 403, 1004
    )


async def test_an_sms_delivery_goes_through_the_sms_adapter_in_the_members_language(
    db_session: AsyncSession,
    fast: Settings,
    settings: Settings,
    nino: Member,
    sessions: Any,
    redis: Redis,
) -> None:
    notification = await service.notify(
        db_session, nino.user.id, NotificationType.NEW_DEVICE_LOGIN, {"device": "Pixel 8"}
    )
    assert notification is not None
    [row] = [r for r in await _rows(db_session, notification.id) if r.channel is Channel.SMS]
    assert settings.redis_url
    runtime = WorkerRuntime(
        pid=0,
        loop=asyncio.get_running_loop(),
        sessions=sessions,
        push=LogPushSender(),
        email=LogEmailSender(),
        sms=OutboxSmsSender(settings, redis_sync.Redis.from_url(settings.redis_url)),
    )
    attempt = await attempt_delivery(sessions, fast, row.id, lambda o: send_outgoing(runtime, o))
    assert attempt.outcome == "sent"
    [message] = await outbox_messages(redis, settings, PHONE)
    rendered = service.render(notification, Language.EN)
    assert message.text == f"{rendered.title}: {rendered.body}"
    assert "Pixel 8" in message.text


async def test_a_malformed_delivery_id_is_422_not_500(
    db_session: AsyncSession, settings: Settings, http: httpx.AsyncClient
) -> None:
    admin = await make_member(db_session, settings, "+995555000302", admin=True)
    envelope_error(
        await http.post(f"{ADMIN_DELIVERIES}/not-a-uuid/retry", headers=admin.headers),
        422,
        2002,
    )
