"""The stored member activity report (one row per reporting period)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from polis.kit.db import Base, Timestamps, UUIDPrimaryKey


class ActivityReport(UUIDPrimaryKey, Timestamps, Base):
    """Figures of one period ``[period_start, period_end)``.

    ``emailed_at`` stays NULL until the report has been queued by email to the admins who have
    an address (``maintenance.service.email_activity_report``, once per report).
    """

    __tablename__ = "activity_reports"
    # One report per period: a repeated run (retry, second beat, manual call) finds the row.
    __table_args__ = (UniqueConstraint("period_start", "period_end"),)

    period_start: Mapped[datetime] = mapped_column(nullable=False)
    period_end: Mapped[datetime] = mapped_column(nullable=False)
    figures: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    emailed_at: Mapped[datetime | None] = mapped_column(default=None)
