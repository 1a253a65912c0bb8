"""The housekeeping jobs on real rows, with the clock seam moving time."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from polis.audit.models import AuditLog
from polis.auth.models import AuthSession, RefreshToken
from polis.config import Settings
from polis.kit import clock
from polis.maintenance import service, tasks
from polis.notifications.models import Notification, NotificationType
from polis.users.models import User
from tests.conftest import Member, make_member

# Earlier than any moment another test freezes the clock at, so rows other tests commit can
# never look old enough to these jobs (they act on the whole database, as real jobs do).
NOW = datetime(2020, 3, 10, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def _phone(number: int) -> str:
    return f"+99555571{number:04d}"


async def _notification(
    session: AsyncSession, user: User, *, age: timedelta, read: bool
) -> uuid.UUID:
    created = NOW - age
    notification = Notification(
        user_id=user.id,
        type=NotificationType.ROLE_CHANGED,
        params={},
        created_at=created,
        updated_at=created,
        read_at=created + timedelta(hours=1) if read else None,
    )
    session.add(notification)
    await session.flush()
    return notification.id


async def _remaining(session: AsyncSession, ids: list[uuid.UUID]) -> set[uuid.UUID]:
    return set(
        (await session.scalars(select(Notification.id).where(Notification.id.in_(ids)))).all()
    )


async def test_purge_keeps_read_for_90_days_and_unread_for_a_year(
    db_session: AsyncSession, settings: Settings
) -> None:
    clock.freeze(NOW)
    member = await make_member(db_session, settings, _phone(1))
    user = member.user
    read_old = await _notification(db_session, user, age=91 * DAY, read=True)
    read_young = await _notification(db_session, user, age=89 * DAY, read=True)
    unread_young = await _notification(db_session, user, age=360 * DAY, read=False)
    unread_old = await _notification(db_session, user, age=366 * DAY, read=False)
    read_ancient = await _notification(db_session, user, age=400 * DAY, read=True)
    fresh = await _notification(db_session, user, age=DAY, read=False)
    ids = [read_old, read_young, unread_young, unread_old, read_ancient, fresh]

    assert await tasks.purge_expired_notifications(db_session) == 3
    assert await _remaining(db_session, ids) == {read_young, unread_young, fresh}
    # Idempotent: nothing more to do at the same moment.
    assert await tasks.purge_expired_notifications(db_session) == 0

    clock.advance(2 * DAY)
    assert await tasks.purge_expired_notifications(db_session) == 1
    assert await _remaining(db_session, ids) == {unread_young, fresh}
    clock.advance(5 * DAY)
    assert await tasks.purge_expired_notifications(db_session) == 1
    assert await _remaining(db_session, ids) == {fresh}


async def test_purge_is_bounded_per_run(db_session: AsyncSession, settings: Settings) -> None:
    clock.freeze(NOW)
    member = await make_member(db_session, settings, _phone(2))
    ids = [await _notification(db_session, member.user, age=100 * DAY, read=True) for _ in range(7)]

    assert await tasks.purge_expired_notifications(db_session, batch_size=2, max_batches=2) == 4
    assert len(await _remaining(db_session, ids)) == 3
    assert await tasks.purge_expired_notifications(db_session, batch_size=2, max_batches=2) == 3
    assert await tasks.purge_expired_notifications(db_session, batch_size=2, max_batches=2) == 0
    assert await _remaining(db_session, ids) == set()


async def _member_at(
    session: AsyncSession, settings: Settings, number: int, age: timedelta, **kwargs: object
) -> Member:
    clock.freeze(NOW - age)
    member = await make_member(session, settings, _phone(number), **kwargs)  # type: ignore[arg-type]
    clock.freeze(NOW)
    return member


async def _sessions_of(session: AsyncSession, user_id: uuid.UUID) -> int:
    return int(
        await session.scalar(
            select(func.count()).select_from(AuthSession).where(AuthSession.user_id == user_id)
        )
        or 0
    )


async def test_never_onboarded_accounts_are_anonymised_after_30_days(
    db_session: AsyncSession, settings: Settings
) -> None:
    stale = await _member_at(db_session, settings, 10, 31 * DAY)
    recent = await _member_at(db_session, settings, 11, 29 * DAY)
    onboarded = await _member_at(db_session, settings, 12, 60 * DAY, onboarded=True)
    admin = await _member_at(db_session, settings, 13, 60 * DAY, admin=True)
    db_session.add(RefreshToken(session_id=stale.session_id, token_hash=secrets.token_hex(32)))
    await db_session.flush()

    assert await tasks.anonymise_never_onboarded(db_session) == 1
    await db_session.refresh(stale.user)
    assert stale.user.deleted_at == NOW
    assert stale.user.phone_index is None and stale.user.phone_ciphertext is None
    # The row stays (anything referencing it stays valid); the sessions and tokens go.
    assert await _sessions_of(db_session, stale.user.id) == 0
    assert (
        await db_session.scalar(
            select(func.count())
            .select_from(RefreshToken)
            .where(RefreshToken.session_id == stale.session_id)
        )
        == 0
    )
    audited = await db_session.scalar(
        select(func.count())
        .select_from(AuditLog)
        .where(AuditLog.action == "users.deleted", AuditLog.entity_id == str(stale.user.id))
    )
    assert audited == 1
    for kept in (recent, onboarded, admin):
        await db_session.refresh(kept.user)
        assert kept.user.deleted_at is None
        assert await _sessions_of(db_session, kept.user.id) == 1

    assert await tasks.anonymise_never_onboarded(db_session) == 0
    clock.advance(2 * DAY)
    assert await tasks.anonymise_never_onboarded(db_session) == 1
    await db_session.refresh(recent.user)
    assert recent.user.is_deleted


async def test_never_onboarded_cleanup_is_bounded_per_run(
    db_session: AsyncSession, settings: Settings
) -> None:
    for number in range(20, 23):
        await _member_at(db_session, settings, number, 40 * DAY)
    assert await tasks.anonymise_never_onboarded(db_session, batch_size=1, max_batches=2) == 2
    assert await tasks.anonymise_never_onboarded(db_session, batch_size=1, max_batches=2) == 1
    assert await tasks.anonymise_never_onboarded(db_session, batch_size=1, max_batches=2) == 0


async def _session(
    db: AsyncSession,
    member: Member,
    *,
    expires_in: timedelta,
    revoked_ago: timedelta | None = None,
) -> uuid.UUID:
    auth = AuthSession(
        user_id=member.user.id,
        device_id=member.device_id,
        last_seen_at=NOW - 60 * DAY,
        expires_at=NOW + expires_in,
        revoked_at=None if revoked_ago is None else NOW - revoked_ago,
    )
    db.add(auth)
    await db.flush()
    db.add(RefreshToken(session_id=auth.id, token_hash=secrets.token_hex(32)))
    await db.flush()
    return auth.id


async def _existing(db: AsyncSession, ids: list[uuid.UUID]) -> set[uuid.UUID]:
    return set((await db.scalars(select(AuthSession.id).where(AuthSession.id.in_(ids)))).all())


async def test_dead_sessions_are_deleted_with_their_refresh_tokens(
    db_session: AsyncSession, settings: Settings
) -> None:
    member = await _member_at(db_session, settings, 30, 0 * DAY, onboarded=True)
    expired_long = await _session(db_session, member, expires_in=-31 * DAY)
    expired_lately = await _session(db_session, member, expires_in=-29 * DAY)
    revoked_long = await _session(db_session, member, expires_in=30 * DAY, revoked_ago=31 * DAY)
    revoked_lately = await _session(db_session, member, expires_in=30 * DAY, revoked_ago=10 * DAY)
    ids = [expired_long, expired_lately, revoked_long, revoked_lately, member.session_id]

    assert await tasks.delete_dead_sessions(db_session) == 2
    assert await _existing(db_session, ids) == {expired_lately, revoked_lately, member.session_id}
    tokens = await db_session.scalar(
        select(func.count())
        .select_from(RefreshToken)
        .where(RefreshToken.session_id.in_([expired_long, revoked_long]))
    )
    assert tokens == 0
    assert await tasks.delete_dead_sessions(db_session) == 0

    clock.advance(21 * DAY)
    assert await tasks.delete_dead_sessions(db_session) == 2
    assert await _existing(db_session, ids) == {member.session_id}


async def test_dead_session_cleanup_is_bounded_and_part_of_the_weekly_job(
    db_session: AsyncSession, settings: Settings
) -> None:
    member = await _member_at(db_session, settings, 31, 0 * DAY, onboarded=True)
    for _ in range(3):
        await _session(db_session, member, expires_in=-40 * DAY)
    stale = await _member_at(db_session, settings, 32, 45 * DAY)

    result = await tasks.clean_up_inactive(db_session, batch_size=1, max_batches=2)
    # The stale account's own live session goes with it; of the three dead ones, two fit.
    assert result == tasks.CleanupResult(accounts_anonymised=1, sessions_deleted=2)
    assert await _sessions_of(db_session, stale.user.id) == 0
    result = await tasks.clean_up_inactive(db_session, batch_size=1, max_batches=2)
    assert result == tasks.CleanupResult(accounts_anonymised=0, sessions_deleted=1)
    assert await _sessions_of(db_session, member.user.id) == 1


async def test_activity_report_counts_the_previous_day_once(
    db_session: AsyncSession, settings: Settings
) -> None:
    day = datetime(2026, 3, 9, tzinfo=UTC)
    clock.freeze(day - 12 * timedelta(hours=1))  # the day before: outside the period
    await make_member(db_session, settings, _phone(40), onboarded=True)
    clock.freeze(day + timedelta(hours=9))
    await make_member(db_session, settings, _phone(41))
    verified = await make_member(db_session, settings, _phone(42), onboarded=True)
    verified.user.ged_verified_at = clock.now()
    late = await make_member(db_session, settings, _phone(43))
    late.user.deleted_at = day + timedelta(hours=20)
    await db_session.flush()

    clock.freeze(day + timedelta(days=1, minutes=5))
    start, end = service.previous_day()
    assert (start, end) == (day, day + DAY)
    report, created = await service.create_activity_report(db_session, start, end)
    assert created
    assert report.emailed_at is None  # due for email once the email channel exists
    figures = report.figures
    assert figures["new_registrations"] == 3
    assert figures["onboarded"] == 1
    assert figures["verified"] == 1
    assert figures["accounts_deleted"] == 1
    assert figures["logins"] == 3
    assert figures["members_logged_in"] == 3
    assert figures["active_sessions"] >= 4
    assert figures["members_total"] >= 3
    assert figures["onboarded_total"] >= 2

    # A second run (a retry, a second beat) keeps the stored report.
    clock.freeze(day + timedelta(days=1, hours=1))
    await make_member(db_session, settings, _phone(44))
    again, created = await service.create_activity_report(db_session, start, end)
    assert not created
    assert again.id == report.id
    assert again.figures == figures
