"""The housekeeping rules: one bounded batch of each job, the activity report, its email.

Flush only: the jobs in tasks.py read the time from the clock seam, run these batches
(``batch_size`` rows per transaction, at most ``max_batches`` per run: what is left waits for
the next run) and end each transaction. Every one is idempotent: a repeated run finds nothing
more to do."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, func, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from polis.auth.models import AuthSession
from polis.kit import clock
from polis.kit.db import get_or_404
from polis.kit.pagination import Page, PageParams, paginate
from polis.maintenance.models import ActivityReport
from polis.notifications.models import Notification
from polis.users import service as users_service
from polis.users.models import Language, User

# DESIGN.md §3.8: read notifications go after 90 days, unread ones after a year.
READ_NOTIFICATION_RETENTION = timedelta(days=90)
UNREAD_NOTIFICATION_RETENTION = timedelta(days=365)
# DESIGN.md §3.9: accounts never onboarded are cleaned up after 30 days.
NEVER_ONBOARDED_AFTER = timedelta(days=30)
# A session expired or revoked this long ago is kept no longer (the security history of recent
# logins stays readable for a month).
DEAD_SESSION_RETENTION = timedelta(days=30)

BATCH_SIZE = 1000
MAX_BATCHES = 20
# Anonymising writes an audit record per account: smaller batches.
ACCOUNT_BATCH_SIZE = 200


async def _delete_batch(
    session: AsyncSession,
    model: type[Notification] | type[AuthSession],
    condition: ColumnElement[bool],
    batch_size: int,
) -> int:
    """Delete at most ``batch_size`` rows matching ``condition``; rows another worker holds are
    skipped. The ids are locked and read first: inside ``DELETE … WHERE id IN (SELECT … LIMIT n
    FOR UPDATE SKIP LOCKED)`` PostgreSQL may run the subquery more than once and delete more
    than n rows (seen as a flaky bound in CI)."""
    ids = (
        await session.scalars(
            select(model.id).where(condition).limit(batch_size).with_for_update(skip_locked=True)
        )
    ).all()
    if ids:
        await session.execute(delete(model).where(model.id.in_(ids)))
    return len(ids)


async def purge_notifications_batch(
    session: AsyncSession, *, now: datetime, batch_size: int = BATCH_SIZE
) -> int:
    """Delete at most ``batch_size`` notifications past retention at ``now``; how many."""
    expired = or_(
        and_(
            Notification.read_at.is_not(None),
            Notification.created_at < now - READ_NOTIFICATION_RETENTION,
        ),
        Notification.created_at < now - UNREAD_NOTIFICATION_RETENTION,
    )
    return await _delete_batch(session, Notification, expired, batch_size)


async def anonymise_never_onboarded_batch(
    session: AsyncSession, *, now: datetime, batch_size: int = ACCOUNT_BATCH_SIZE
) -> int:
    """Anonymise at most ``batch_size`` accounts that registered more than 30 days before
    ``now`` and never finished onboarding; how many.

    Anonymised rather than deleted: the row may be referenced (audit records, arbitration cases
    with ON DELETE RESTRICT), and ``users.service.anonymise`` is the one way an account goes
    (personal data removed, row kept, audit record written). Their sessions go too. Admins are
    left alone (a bootstrap admin need not onboard).
    """
    users = (
        await session.scalars(
            select(User)
            .where(
                User.onboarded_at.is_(None),
                User.deleted_at.is_(None),
                User.is_admin.is_(False),
                User.created_at < now - NEVER_ONBOARDED_AFTER,
            )
            .order_by(User.created_at)
            .limit(batch_size)
            .with_for_update(skip_locked=True)
        )
    ).all()
    for user in users:
        await users_service.anonymise(session, user)
    if users:
        await session.execute(
            delete(AuthSession).where(AuthSession.user_id.in_([u.id for u in users]))
        )
    return len(users)


async def delete_dead_sessions_batch(
    session: AsyncSession, *, now: datetime, batch_size: int = BATCH_SIZE
) -> int:
    """Delete at most ``batch_size`` sessions expired or revoked more than 30 days before
    ``now``; their refresh tokens go with them (ON DELETE CASCADE). How many sessions."""
    cutoff = now - DEAD_SESSION_RETENTION
    dead = or_(AuthSession.expires_at < cutoff, AuthSession.revoked_at < cutoff)
    return await _delete_batch(session, AuthSession, dead, batch_size)


# --- the activity report -----------------------------------------------------------------


def previous_day(now: datetime | None = None) -> tuple[datetime, datetime]:
    """The UTC day before ``now`` (default: the clock's now), as ``[start, end)``."""
    moment = now or clock.now()
    end = datetime.combine(moment.date(), time(), tzinfo=moment.tzinfo)
    return end - timedelta(days=1), end


def _in(column: Any, start: datetime, end: datetime) -> Any:
    return and_(column >= start, column < end)


async def _count(session: AsyncSession, *where: Any) -> int:
    return int(await session.scalar(select(func.count()).select_from(User).where(*where)) or 0)


async def activity_figures(session: AsyncSession, start: datetime, end: datetime) -> dict[str, int]:
    """What happened among members in ``[start, end)``, and where things stood at ``end``."""
    alive_at_end = and_(
        User.created_at < end, or_(User.deleted_at.is_(None), User.deleted_at >= end)
    )
    logins = await session.execute(
        select(func.count(), func.count(func.distinct(AuthSession.user_id))).where(
            _in(AuthSession.created_at, start, end)
        )
    )
    login_count, members_logged_in = logins.one()
    active_sessions = await session.scalar(
        select(func.count())
        .select_from(AuthSession)
        .where(
            AuthSession.created_at < end,
            AuthSession.expires_at > end,
            or_(AuthSession.revoked_at.is_(None), AuthSession.revoked_at >= end),
        )
    )
    return {
        "new_registrations": await _count(session, _in(User.created_at, start, end)),
        "onboarded": await _count(session, _in(User.onboarded_at, start, end)),
        "verified": await _count(session, _in(User.ged_verified_at, start, end)),
        "accounts_deleted": await _count(session, _in(User.deleted_at, start, end)),
        "logins": int(login_count),
        "members_logged_in": int(members_logged_in),
        "active_sessions": int(active_sessions or 0),
        "members_total": await _count(session, alive_at_end),
        "onboarded_total": await _count(session, alive_at_end, User.onboarded_at < end),
    }


async def create_activity_report(
    session: AsyncSession, start: datetime, end: datetime
) -> tuple[ActivityReport, bool]:
    """The report of ``[start, end)``: made now, or the one already stored (then ``False``).

    The unique period makes a second run, even a concurrent one, keep the first row.
    """
    figures = await activity_figures(session, start, end)
    inserted = await session.scalar(
        insert(ActivityReport)
        .values(
            id=uuid.uuid4(),
            period_start=start,
            period_end=end,
            figures=figures,
            created_at=clock.now(),
            updated_at=clock.now(),
        )
        .on_conflict_do_nothing(index_elements=["period_start", "period_end"])
        .returning(ActivityReport.id)
    )
    report = await session.scalar(
        select(ActivityReport).where(
            ActivityReport.period_start == start, ActivityReport.period_end == end
        )
    )
    assert report is not None
    return report, inserted is not None


REPORT_SORTABLE = {
    "period_start": ActivityReport.period_start,
    "created_at": ActivityReport.created_at,
}


async def list_reports(session: AsyncSession, params: PageParams) -> Page:
    return await paginate(
        session,
        select(ActivityReport),
        params,
        sortable=REPORT_SORTABLE,
        default_sort="period_start",
    )


async def get_report(session: AsyncSession, report_id: uuid.UUID) -> ActivityReport:
    return await get_or_404(session, ActivityReport, report_id, missing="No such report.")


# --- the report by email (§3.9: "member activity report for admins") -------------------------

_REPORT_SUBJECT = {
    Language.KA: "ციფრული პოლისი: აქტივობის ანგარიში {day}",
    Language.EN: "Digital Polis: activity report for {day}",
}
_REPORT_LABELS = {
    Language.KA: {
        "new_registrations": "ახალი რეგისტრაციები",
        "onboarded": "დასრულებული რეგისტრაციები",
        "verified": "დადასტურებული GeD-ერები",
        "accounts_deleted": "წაშლილი ანგარიშები",
        "logins": "შესვლები",
        "members_logged_in": "შესული წევრები",
        "active_sessions": "აქტიური სესიები",
        "members_total": "წევრები სულ",
        "onboarded_total": "რეგისტრირებული სულ",
    },
    Language.EN: {
        "new_registrations": "New registrations",
        "onboarded": "Onboarded",
        "verified": "GeDers verified",
        "accounts_deleted": "Accounts deleted",
        "logins": "Logins",
        "members_logged_in": "Members who logged in",
        "active_sessions": "Active sessions (at the end)",
        "members_total": "Members (at the end)",
        "onboarded_total": "Onboarded members (at the end)",
    },
}


@dataclass(frozen=True)
class ReportEmail:
    """One admin's copy of a report: the arguments of the ``polis.email.send`` task."""

    to: str
    subject: str
    body: str
    dedupe_key: str


def render_report(report: ActivityReport, language: Language) -> tuple[str, str]:
    """The subject and plain-text body of ``report`` in ``language``."""
    day = report.period_start.date().isoformat()
    labels = _REPORT_LABELS[language]
    lines = [f"{labels.get(key, key)}: {value}" for key, value in report.figures.items()]
    return _REPORT_SUBJECT[language].format(day=day), "\n".join(lines) + "\n"


async def email_activity_report(
    session: AsyncSession, report_id: uuid.UUID, send: Callable[[ReportEmail], None]
) -> int:
    """Email the report to every admin with an email address, once (flush only).

    ``send`` queues one email (the task ``polis.email.send``) and is called before
    ``emailed_at`` is stamped, with a dedupe key per report and admin: a run that dies between
    the two queues the same emails again, and the dedupe keys keep them from going out twice.
    A stamped report is never emailed again. With no admin to write to, nothing is stamped.
    Returns how many emails were queued.
    """
    report = await session.scalar(
        select(ActivityReport).where(ActivityReport.id == report_id).with_for_update()
    )
    if report is None or report.emailed_at is not None:
        return 0
    admins = await session.execute(
        select(User.id, User.email, User.language).where(
            User.is_admin.is_(True), User.email.is_not(None), User.deleted_at.is_(None)
        )
    )
    count = 0
    for admin_id, email, language in admins:
        assert email is not None  # the query's condition
        subject, body = render_report(report, language)
        send(ReportEmail(email, subject, body, f"activity-report:{report.id}:{admin_id}"))
        count += 1
    if count:
        report.emailed_at = clock.now()
        await session.flush()
    return count
