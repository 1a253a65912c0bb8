"""Admin HTTP for the stored member activity reports."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from polis.auth.deps import AdminUser
from polis.kit.deps import DbSession
from polis.kit.envelope import Envelope, ListEnvelope, ok
from polis.kit.errors import ErrorCode
from polis.kit.pagination import Pagination, paginated
from polis.kit.presenting import from_row
from polis.kit.routing import DomainRouter, errors
from polis.maintenance import service
from polis.maintenance.models import ActivityReport

router = DomainRouter(prefix="/admin/reports", tags=["admin"])


class ActivityReportOut(BaseModel):
    id: uuid.UUID
    period_start: datetime
    period_end: datetime
    figures: dict[str, int] = Field(
        description="new_registrations, onboarded, verified, accounts_deleted, logins, "
        "members_logged_in (in the period); active_sessions, members_total, onboarded_total "
        "(at its end)"
    )
    emailed_at: datetime | None = Field(
        description="When it was emailed to the admins (polis.email.send); null until then, "
        "or while no admin has an email address"
    )
    created_at: datetime

    @classmethod
    def of(cls, report: ActivityReport) -> ActivityReportOut:
        return from_row(cls, report)


@router.get(
    "",
    response_model=ListEnvelope[ActivityReportOut],
    summary="Member activity reports, newest period first",
    description="Sortable by `period_start` (default) or `created_at`.",
)
async def list_reports(
    _: AdminUser, session: DbSession, params: Pagination
) -> ListEnvelope[ActivityReportOut]:
    page = await service.list_reports(session, params)
    return paginated([ActivityReportOut.of(r) for r in page.items], page.total, params)


@router.get(
    "/{report_id}", response_model=Envelope[ActivityReportOut], summary="One activity report"
)
@errors(ErrorCode.NOT_FOUND)
async def get_report(
    report_id: uuid.UUID, _: AdminUser, session: DbSession
) -> Envelope[ActivityReportOut]:
    return ok(ActivityReportOut.of(await service.get_report(session, report_id)))
