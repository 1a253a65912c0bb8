"""The audit log: what a record keeps (and never keeps), and the admins' search over it."""

from __future__ import annotations

import enum
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, Request
from pydantic import BaseModel
from sqlalchemy import delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from polis.app import DOMAIN_ROUTERS
from polis.audit import service
from polis.audit.models import AuditLog
from polis.audit.router import router as audit_router
from polis.config import Settings
from polis.kit import clock
from polis.kit.context import request_id_var
from polis.kit.deps import DbSession
from polis.kit.envelope import Envelope, ok
from polis.kit.http import client_ip
from polis.users.models import User, UserRole
from tests.conftest import Member, app_client, envelope_body, envelope_error, make_member

URL = "/api/v1/admin/audit-logs"
# In the past: PyJWT checks that "iat" is not in the future against the real clock.
START = datetime(2025, 4, 1, 12, 0, tzinfo=UTC)
R = service.REDACTED


def _phone(number: int) -> str:
    return f"+9955550001{number:02d}"


@pytest.fixture
async def http(settings: Settings, db_session: AsyncSession) -> AsyncIterator[httpx.AsyncClient]:
    # Once app.py registers the router the real app serves it; including it twice would not.
    extra = None if audit_router in DOMAIN_ROUTERS else audit_router
    async with app_client(settings, db_session, extra, ip="203.0.113.7") as client:
        yield client


@pytest.fixture
async def admin(db_session: AsyncSession, settings: Settings) -> Member:
    clock.freeze(START)
    return await make_member(db_session, settings, _phone(50), admin=True)


@pytest.fixture
async def member(db_session: AsyncSession, settings: Settings) -> Member:
    clock.freeze(START)
    return await make_member(db_session, settings, _phone(51))


async def _stored(session: AsyncSession, entry_id: uuid.UUID) -> dict[str, Any]:
    # Read back what PostgreSQL holds, not the object the session still has in memory.
    row = (
        await session.execute(
            select(
                AuditLog.actor_id,
                AuditLog.old_values,
                AuditLog.new_values,
                AuditLog.ip_address,
                AuditLog.user_agent,
                AuditLog.request_id,
                AuditLog.entity_id,
                AuditLog.created_at,
            ).where(AuditLog.id == entry_id)
        )
    ).one()
    return dict(row._mapping)


async def _count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(AuditLog)) or 0)


# --- record ----------------------------------------------------------------------------------


class Colour(enum.Enum):
    RED = 1


class Profile(BaseModel):
    name: str
    phone_number: str


async def test_secret_values_are_redacted_at_any_depth(
    db_session: AsyncSession, member: Member
) -> None:
    secret_values = [
        "+995555000151",
        "01234567890",
        "493027",
        "rt_abcdefghijklmnop",
        "hunter2",
        "fp-0a1b2c3d",
        "s3cr3t",
        "+995555999999",
        "998877",
    ]
    entry = await service.record(
        db_session,
        action="users.profile.changed",
        entity_type="user",
        entity_id=member.user.id,
        actor_id=member.user.id,
        old={
            "phone": secret_values[0],
            "personal_id": secret_values[1],
            "first_name": "Nino",
        },
        new={
            "first_name": "Nina",
            "PersonalId": secret_values[1],
            "verification": {
                "OTP": secret_values[2],
                "attempts": 2,
                "session": {"refresh_token": secret_values[3], "device": "iPhone"},
            },
            "credentials": [
                {"password": secret_values[4], "label": "dashboard"},
                {"device_fingerprint": secret_values[5]},
            ],
            "api-Secret": secret_values[6],
            "contact": Profile(name="Nana", phone_number=secret_values[7]),
            "sms_code": secret_values[8],
            "tokens": ["a", "b"],
        },
    )

    stored = await _stored(db_session, entry.id)

    assert stored["old_values"] == {"phone": R, "personal_id": R, "first_name": "Nino"}
    assert stored["new_values"] == {
        "first_name": "Nina",
        "PersonalId": R,
        "verification": {
            "OTP": R,
            "attempts": 2,
            "session": {"refresh_token": R, "device": "iPhone"},
        },
        "credentials": [{"password": R, "label": "dashboard"}, {"device_fingerprint": R}],
        "api-Secret": R,
        "contact": {"name": "Nana", "phone_number": R},
        "sms_code": R,
        # A key that names a secret hides its whole value, a list included.
        "tokens": R,
    }
    # Not one secret reached the database, anywhere in the row.
    row_text = await db_session.scalar(
        text("SELECT row_to_json(audit_logs)::text FROM audit_logs WHERE id = :id"),
        {"id": entry.id},
    )
    assert row_text is not None
    for value in secret_values:
        assert value not in str(row_text)


async def test_values_are_encoded_as_json(db_session: AsyncSession, member: Member) -> None:
    some_id = uuid.uuid4()
    # Keys are usually strings; a UUID key must not break the record either.
    new: dict[Any, Any] = {
        "role": UserRole.SUPPORTER,
        "tavdebi_id": some_id,
        "colour": Colour.RED,
        "fine": Decimal("500.50"),
        "day": START.date(),
        "blob": b"\xff\x00",
        "ratio": float("nan"),
        "pair": (1, 2),
        some_id: "a key that is not a string",
    }
    entry = await service.record(
        db_session,
        action="users.role.changed",
        entity_type="user",
        entity_id=str(member.user.id),
        old={"role": UserRole.UNVERIFIED, "at": START, "ids": {some_id}},
        new=new,
    )

    stored = await _stored(db_session, entry.id)

    assert stored["old_values"] == {
        "role": "unverified",
        "at": "2025-04-01T12:00:00Z",
        "ids": [str(some_id)],
    }
    assert stored["new_values"] == {
        "role": "supporter",
        "tavdebi_id": str(some_id),
        "colour": 1,
        "fine": "500.50",
        "day": "2025-04-01",
        "blob": "_wA=",
        "ratio": None,
        "pair": [1, 2],
        str(some_id): "a key that is not a string",
    }


async def test_a_record_keeps_who_where_and_when(db_session: AsyncSession, member: Member) -> None:
    token = request_id_var.set("req-audit-1")
    try:
        entry = await service.record(
            db_session,
            action="auth.login.succeeded",
            entity_type="user",
            entity_id=member.user.id,
            actor_id=member.user.id,
            ip="198.51.100.23",
            user_agent="Polis/1.0 " + "x" * 400,
        )
    finally:
        request_id_var.reset(token)
    system = await service.record(
        db_session, action="sos.escalated", entity_type="sos_signal", entity_id="42"
    )

    stored = await _stored(db_session, entry.id)
    by_system = await _stored(db_session, system.id)

    assert stored["actor_id"] == member.user.id
    assert stored["entity_id"] == str(member.user.id)
    assert stored["ip_address"] == "198.51.100.23"
    assert stored["user_agent"] == ("Polis/1.0 " + "x" * 400)[:300]
    assert stored["request_id"] == "req-audit-1"
    assert stored["created_at"] == START
    assert stored["old_values"] is None
    assert stored["new_values"] is None
    # The system (or an anonymous caller) has no actor, and outside a request no request id.
    assert by_system["actor_id"] is None
    assert by_system["request_id"] is None


async def test_a_record_outlives_its_actor(db_session: AsyncSession, member: Member) -> None:
    entry = await service.record(
        db_session,
        action="users.onboarding.completed",
        entity_type="user",
        entity_id=member.user.id,
        actor_id=member.user.id,
    )

    await db_session.execute(delete(User).where(User.id == member.user.id))

    stored = await _stored(db_session, entry.id)
    assert stored["actor_id"] is None
    assert stored["entity_id"] == str(member.user.id)


def _recording_router() -> APIRouter:
    router = APIRouter()

    @router.post("/record-test")
    async def record_test(request: Request, session: DbSession) -> Envelope[str]:
        entry = await service.record(
            session,
            action="auth.login.failed",
            entity_type="phone",
            entity_id="masked",
            ip=client_ip(request),
            user_agent=request.headers.get("user-agent"),
        )
        return ok(str(entry.id))

    return router


async def test_a_record_made_in_a_request_carries_its_request_id(
    settings: Settings, db_session: AsyncSession
) -> None:
    async with app_client(settings, db_session, _recording_router(), ip="203.0.113.7") as client:
        response = await client.post(
            "/api/v1/record-test", headers={"X-Request-ID": "abc-123", "User-Agent": "PolisApp/2"}
        )

    entry_id = uuid.UUID(envelope_body(response)["data"])
    stored = await _stored(db_session, entry_id)
    assert stored["request_id"] == "abc-123"
    assert stored["ip_address"] == "203.0.113.7"
    assert stored["user_agent"] == "PolisApp/2"


# --- the admin route -------------------------------------------------------------------------


@dataclass(frozen=True)
class Trail:
    entries: list[AuditLog]

    def ids(self, *indexes: int) -> list[str]:
        return [str(self.entries[i].id) for i in indexes]


@pytest.fixture
async def trail(db_session: AsyncSession, admin: Member, member: Member) -> Trail:
    """Six records, one minute apart from 12:01 to 12:06."""
    specs: list[tuple[str, str, str, uuid.UUID | None]] = [
        ("auth.login.succeeded", "user", str(member.user.id), member.user.id),
        ("users.role.changed", "user", str(member.user.id), admin.user.id),
        ("auth.login.failed", "phone", "+995 555 ••• •51", None),
        ("users.admin.granted", "user", str(admin.user.id), admin.user.id),
        ("auth.session.revoked", "auth_session", str(uuid.uuid4()), member.user.id),
        ("users.role.changed", "user", str(admin.user.id), admin.user.id),
    ]
    entries = []
    for action, entity_type, entity_id, actor_id in specs:
        clock.advance(timedelta(minutes=1))
        entries.append(
            await service.record(
                db_session,
                action=action,
                entity_type=entity_type,
                entity_id=entity_id,
                actor_id=actor_id,
                new={"note": action, "otp": "123456"},
            )
        )
    return Trail(entries)


async def test_admins_see_the_log_newest_first(
    http: httpx.AsyncClient, admin: Member, trail: Trail
) -> None:
    body = envelope_body(await http.get(URL, headers=admin.headers))

    assert [item["id"] for item in body["data"]] == trail.ids(5, 4, 3, 2, 1, 0)
    first = body["data"][-1]
    assert first == {
        "id": str(trail.entries[0].id),
        "actor_id": str(trail.entries[0].actor_id),
        "action": "auth.login.succeeded",
        "entity_type": "user",
        "entity_id": trail.entries[0].entity_id,
        "old_values": None,
        "new_values": {"note": "auth.login.succeeded", "otp": R},
        "ip_address": None,
        "user_agent": None,
        "request_id": None,
        "created_at": "2025-04-01T12:01:00Z",
    }
    assert body["meta"]["total"] == 6


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"action": "users.role.changed"}, [5, 1]),
        ({"entity_type": "user"}, [5, 3, 1, 0]),
        ({"entity_type": "phone", "entity_id": "+995 555 ••• •51"}, [2]),
        ({"action": "users.role", "entity_type": "user"}, []),
        # created_after is inclusive, created_before exclusive: 12:02 <= t < 12:05.
        (
            {"created_after": "2025-04-01T12:02:00Z", "created_before": "2025-04-01T12:05:00Z"},
            [3, 2, 1],
        ),
        # A time without a zone is UTC; another zone is converted.
        ({"created_after": "2025-04-01T12:05:00"}, [5, 4]),
        ({"created_before": "2025-04-01T16:02:00+04:00"}, [0]),
    ],
)
async def test_filters_narrow_the_log(
    http: httpx.AsyncClient,
    admin: Member,
    trail: Trail,
    params: dict[str, str],
    expected: list[int],
) -> None:
    body = envelope_body(await http.get(URL, headers=admin.headers, params=params))

    assert [item["id"] for item in body["data"]] == trail.ids(*expected)
    assert body["meta"]["total"] == len(expected)


async def test_filter_by_actor_and_page(
    http: httpx.AsyncClient, admin: Member, member: Member, trail: Trail
) -> None:
    mine = envelope_body(
        await http.get(URL, headers=admin.headers, params={"actor_id": str(member.user.id)})
    )
    admins_page_2 = envelope_body(
        await http.get(
            URL,
            headers=admin.headers,
            params={"actor_id": str(admin.user.id), "per_page": 2, "page": 2},
        )
    )
    oldest_first = envelope_body(
        await http.get(URL, headers=admin.headers, params={"sort_order": "asc", "per_page": 3})
    )

    assert [item["id"] for item in mine["data"]] == trail.ids(4, 0)
    assert [item["id"] for item in admins_page_2["data"]] == trail.ids(1)
    meta = {k: v for k, v in admins_page_2["meta"].items() if k not in {"timestamp", "request_id"}}
    assert meta == {
        "total": 3,
        "page": 2,
        "per_page": 2,
        "total_pages": 2,
        "has_next": False,
        "has_prev": True,
    }
    assert [item["id"] for item in oldest_first["data"]] == trail.ids(0, 1, 2)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"actor_id": "someone"}, "query.actor_id"),
        ({"created_after": "last tuesday"}, "query.created_after"),
        ({"created_before": "2025-13-01"}, "query.created_before"),
        ({"action": "a" * 101}, "query.action"),
    ],
)
async def test_bad_filters_are_422(
    http: httpx.AsyncClient, admin: Member, params: dict[str, str], field: str
) -> None:
    error = envelope_error(await http.get(URL, headers=admin.headers, params=params), 422, 2002)

    assert [e["field"] for e in error["details"]["errors"]] == [field]


async def test_an_unknown_sort_is_422(http: httpx.AsyncClient, admin: Member) -> None:
    error = envelope_error(
        await http.get(URL, headers=admin.headers, params={"sort_by": "action"}), 422, 2002
    )

    assert error["details"] == {"field": "sort_by", "allowed": ["created_at"]}


async def test_a_member_who_is_not_an_admin_is_refused(
    http: httpx.AsyncClient, db_session: AsyncSession, member: Member, trail: Trail
) -> None:
    before = await _count(db_session)

    envelope_error(await http.get(URL, headers=member.headers), 403, 1004)

    assert await _count(db_session) == before


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic YTpi"}]
)
async def test_the_log_needs_an_access_token(
    http: httpx.AsyncClient, db_session: AsyncSession, trail: Trail, headers: dict[str, str]
) -> None:
    before = await _count(db_session)

    envelope_error(await http.get(URL, headers=headers), 401, 1003)

    assert await _count(db_session) == before
