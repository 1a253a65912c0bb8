"""GET /api/v1/admin/reports and /admin/reports/{id}: admins only, paginated."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from polis.config import Settings
from polis.maintenance import service
from polis.maintenance.router import router
from tests.conftest import app_client, make_member

URL = "/api/v1/admin/reports"
DAY = timedelta(days=1)


@pytest.fixture
async def http(settings: Settings, db_session: AsyncSession) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(settings, db_session, router) as client:
        yield client


async def _reports(db_session: AsyncSession, count: int) -> list[uuid.UUID]:
    first = datetime(2025, 1, 1, tzinfo=UTC)
    ids = []
    for n in range(count):
        report, _ = await service.create_activity_report(
            db_session, first + n * DAY, first + (n + 1) * DAY
        )
        ids.append(report.id)
    return ids


async def test_reports_need_an_admin(
    http: httpx.AsyncClient, db_session: AsyncSession, settings: Settings
) -> None:
    [report_id] = await _reports(db_session, 1)
    assert (await http.get(URL)).status_code == 401
    assert (await http.get(f"{URL}/{report_id}")).status_code == 401
    member = await make_member(db_session, settings, "+995555720001", onboarded=True)
    assert (await http.get(URL, headers=member.headers)).status_code == 403
    assert (await http.get(f"{URL}/{report_id}", headers=member.headers)).status_code == 403


async def test_admin_lists_reports_newest_period_first(
    http: httpx.AsyncClient, db_session: AsyncSession, settings: Settings
) -> None:
    ids = await _reports(db_session, 3)
    admin = await make_member(db_session, settings, "+995555720002", admin=True)

    answer = await http.get(URL, params={"per_page": 2}, headers=admin.headers)
    assert answer.status_code == 200
    body = answer.json()
    assert [item["id"] for item in body["data"]] == [str(ids[2]), str(ids[1])]
    assert body["meta"]["total"] == 3
    assert body["meta"]["has_next"] is True
    item = body["data"][0]
    assert item["period_start"].startswith("2025-01-03")
    assert item["emailed_at"] is None
    assert set(item["figures"]) >= {"new_registrations", "onboarded", "verified", "logins"}

    page2 = (await http.get(URL, params={"per_page": 2, "page": 2}, headers=admin.headers)).json()
    assert [item["id"] for item in page2["data"]] == [str(ids[0])]
    assert page2["meta"]["has_next"] is False

    ascending = await http.get(
        URL, params={"sort_order": "asc", "sort_by": "period_start"}, headers=admin.headers
    )
    assert [item["id"] for item in ascending.json()["data"]] == [str(i) for i in ids]
    assert (
        await http.get(URL, params={"sort_by": "nope"}, headers=admin.headers)
    ).status_code == 422


async def test_admin_reads_one_report(
    http: httpx.AsyncClient, db_session: AsyncSession, settings: Settings
) -> None:
    [report_id] = await _reports(db_session, 1)
    admin = await make_member(db_session, settings, "+995555720003", admin=True)
    answer = await http.get(f"{URL}/{report_id}", headers=admin.headers)
    assert answer.status_code == 200
    assert answer.json()["data"]["id"] == str(report_id)
    missing = await http.get(f"{URL}/{uuid.uuid4()}", headers=admin.headers)
    assert missing.status_code == 404
    assert (await http.get(f"{URL}/not-a-uuid", headers=admin.headers)).status_code in (400, 422)
