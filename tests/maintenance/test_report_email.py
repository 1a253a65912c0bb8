"""The daily activity report is emailed to the admins who have an email address, once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from polis.config import Settings
from polis.kit import clock
from polis.maintenance import service
from polis.users.models import Language
from tests.conftest import make_member

START = datetime(2025, 2, 1, tzinfo=UTC)


async def test_each_admin_with_an_email_gets_one_copy_in_their_language(
    db_session: AsyncSession, settings: Settings
) -> None:
    clock.freeze(START + timedelta(hours=1))
    ka = await make_member(db_session, settings, "+995555000401", admin=True)
    en = await make_member(db_session, settings, "+995555000402", admin=True, language=Language.EN)
    no_email = await make_member(db_session, settings, "+995555000403", admin=True)
    member = await make_member(db_session, settings, "+995555000404")
    ka.user.email = "ka-admin@example.ge"
    en.user.email = "en-admin@example.ge"
    member.user.email = "member@example.ge"
    await db_session.flush()
    report, _ = await service.create_activity_report(db_session, START - timedelta(days=1), START)
    queued: list[service.ReportEmail] = []

    assert await service.email_activity_report(db_session, report.id, queued.append) == 2
    by_address = {email.to: email for email in queued}
    assert set(by_address) == {"ka-admin@example.ge", "en-admin@example.ge"}
    english = by_address["en-admin@example.ge"]
    assert english.subject == "Digital Polis: activity report for 2025-01-31"
    assert "New registrations: " in english.body and "Logins: " in english.body
    georgian = by_address["ka-admin@example.ge"]
    assert georgian.subject.startswith("ციფრული პოლისი")
    assert english.dedupe_key == f"activity-report:{report.id}:{en.user.id}"
    await db_session.refresh(report)
    assert report.emailed_at == clock.now()
    assert no_email.user.email is None

    # A rerun (a retried task, a second beat) sends nothing more.
    assert await service.email_activity_report(db_session, report.id, queued.append) == 0
    assert len(queued) == 2


async def test_with_no_admin_to_write_to_the_report_is_not_stamped(
    db_session: AsyncSession, settings: Settings
) -> None:
    clock.freeze(START + timedelta(hours=1))
    report, _ = await service.create_activity_report(db_session, START, START + timedelta(days=1))
    queued: list[service.ReportEmail] = []
    sent = await service.email_activity_report(db_session, report.id, queued.append)
    # Admins committed by other tests may exist in the database; none has an email here.
    assert (sent, queued) == (0, [])
    await db_session.refresh(report)
    assert report.emailed_at is None
