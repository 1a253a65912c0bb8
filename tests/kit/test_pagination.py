"""Pagination over a real table: the list meta, the bounds of page and per_page, sorting."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from polis.config import Settings
from polis.kit import clock
from polis.kit.deps import DbSession
from polis.kit.envelope import ListEnvelope
from polis.kit.pagination import Pagination, paginate, paginated
from polis.users.models import User
from polis.users.service import get_or_create_by_phone
from tests.conftest import client_for, serve_app

MARK = "pagination-test"
URL = "/api/v1/members"
START = datetime(2030, 1, 1, 9, 0, tzinfo=UTC)


class Member(BaseModel):
    id: uuid.UUID
    first_name: str | None


def _router() -> APIRouter:
    router = APIRouter()

    @router.get("/members")
    async def list_members(session: DbSession, params: Pagination) -> ListEnvelope[Member]:
        # Only this test's members, whatever else the table holds.
        statement = select(User).where(User.last_name == MARK)
        page = await paginate(
            session,
            statement,
            params,
            sortable={
                "created_at": User.created_at,
                "first_name": User.first_name,
            },
            default_sort="created_at",
        )
        members = [Member(id=user.id, first_name=user.first_name) for user in page.items]
        return paginated(members, page.total, params)

    return router


@pytest.fixture
async def http(settings: Settings, db_session: AsyncSession) -> AsyncIterator[httpx.AsyncClient]:
    """The real app with the test route, its requests on the test's connection and transaction."""
    connection = db_session.bind
    assert isinstance(connection, AsyncConnection)
    async with (
        serve_app(settings, _router(), connection=connection) as app,
        client_for(app) as client,
    ):
        yield client


async def _members(session: AsyncSession, settings: Settings, count: int) -> list[User]:
    """``count`` members, named member-00… in the order they joined, one minute apart."""
    clock.freeze(START)
    users: list[User] = []
    for i in range(count):
        clock.advance(timedelta(minutes=1))
        user, created = await get_or_create_by_phone(
            session,
            settings,
            f"+995555000{100 + i:03d}",
            first_name=f"member-{i:02d}",
            last_name=MARK,
        )
        assert created
        users.append(user)
    clock.unfreeze()
    return users


def _meta(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    meta: dict[str, Any] = body["meta"]
    assert meta["request_id"] == response.headers["x-request-id"]
    assert meta["timestamp"]
    return {key: meta[key] for key in meta if key not in {"request_id", "timestamp"}}


def _names(response: httpx.Response) -> list[str]:
    return [member["first_name"] for member in response.json()["data"]]


def _error(response: httpx.Response, code: int, name: str) -> dict[str, Any]:
    assert response.status_code == 422
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == code
    assert body["error"]["name"] == name
    assert body["meta"]["request_id"] == response.headers["x-request-id"]
    assert "data" not in body
    details: dict[str, Any] = body["error"]["details"]
    return details


def _page_meta(
    total: int, page: int, per_page: int, total_pages: int, has_next: bool, has_prev: bool
) -> dict[str, Any]:
    return {
        "total": total,
        "page": page,
        "per_page": per_page,
        "total_pages": total_pages,
        "has_next": has_next,
        "has_prev": has_prev,
    }


async def test_pages_carry_the_list_meta(
    http: httpx.AsyncClient, db_session: AsyncSession, settings: Settings
) -> None:
    users = await _members(db_session, settings, 25)

    first = await http.get(URL, params={"per_page": 10})
    middle = await http.get(URL, params={"per_page": 10, "page": 2})
    last = await http.get(URL, params={"per_page": 10, "page": 3})
    beyond = await http.get(URL, params={"per_page": 10, "page": 4})
    default = await http.get(URL)

    assert _meta(first) == _page_meta(25, 1, 10, 3, has_next=True, has_prev=False)
    assert _meta(middle) == _page_meta(25, 2, 10, 3, has_next=True, has_prev=True)
    assert _meta(last) == _page_meta(25, 3, 10, 3, has_next=False, has_prev=True)
    assert _meta(beyond) == _page_meta(25, 4, 10, 3, has_next=False, has_prev=True)
    # per_page is 20 unless asked.
    assert _meta(default) == _page_meta(25, 1, 20, 2, has_next=True, has_prev=False)

    # Newest first by default; together the pages hold every member exactly once.
    newest_first = [user.id for user in reversed(users)]
    pages = [first, middle, last]
    ids = [uuid.UUID(member["id"]) for page in pages for member in page.json()["data"]]
    assert ids == newest_first
    assert [len(page.json()["data"]) for page in pages] == [10, 10, 5]
    assert beyond.json()["data"] == []
    assert len(default.json()["data"]) == 20


async def test_an_empty_list_has_no_pages(http: httpx.AsyncClient) -> None:
    response = await http.get(URL)

    assert _meta(response) == _page_meta(0, 1, 20, 0, has_next=False, has_prev=False)
    assert response.json()["data"] == []


async def test_sort_order_and_sort_by_order_the_rows(
    http: httpx.AsyncClient, db_session: AsyncSession, settings: Settings
) -> None:
    await _members(db_session, settings, 12)

    by_name_asc = await http.get(
        URL, params={"sort_by": "first_name", "sort_order": "asc", "per_page": 5}
    )
    by_name_asc_2 = await http.get(
        URL, params={"sort_by": "first_name", "sort_order": "asc", "per_page": 5, "page": 2}
    )
    by_name_desc = await http.get(
        URL, params={"sort_by": "first_name", "sort_order": "desc", "per_page": 5}
    )
    oldest_first = await http.get(URL, params={"sort_by": "created_at", "sort_order": "asc"})
    newest_first = await http.get(URL, params={"sort_order": "desc"})

    assert _names(by_name_asc) == [f"member-{i:02d}" for i in range(5)]
    assert _names(by_name_asc_2) == [f"member-{i:02d}" for i in range(5, 10)]
    assert _names(by_name_desc) == [f"member-{i:02d}" for i in range(11, 6, -1)]
    assert _names(oldest_first) == [f"member-{i:02d}" for i in range(12)]
    assert _names(newest_first) == [f"member-{i:02d}" for i in range(11, -1, -1)]
    assert _meta(by_name_asc_2) == _page_meta(12, 2, 5, 3, has_next=True, has_prev=True)


@pytest.mark.parametrize(
    ("params", "field", "error_type"),
    [
        ({"per_page": 101}, "query.per_page", "less_than_equal"),
        ({"per_page": 0}, "query.per_page", "greater_than_equal"),
        ({"page": 0}, "query.page", "greater_than_equal"),
        ({"page": "first"}, "query.page", "int_parsing"),
        ({"sort_order": "sideways"}, "query.sort_order", "literal_error"),
    ],
)
async def test_out_of_bounds_parameters_are_422_in_the_envelope(
    http: httpx.AsyncClient,
    db_session: AsyncSession,
    settings: Settings,
    params: dict[str, Any],
    field: str,
    error_type: str,
) -> None:
    await _members(db_session, settings, 1)

    response = await http.get(URL, params=params)

    # The app reports a bound that is not met as a bad format (2002), not 2003 out of range.
    details = _error(response, 2002, "BAD_FORMAT")
    assert [(error["field"], error["type"]) for error in details["errors"]] == [(field, error_type)]


async def test_an_unknown_sort_by_is_422_naming_the_allowed_columns(
    http: httpx.AsyncClient, db_session: AsyncSession, settings: Settings
) -> None:
    await _members(db_session, settings, 1)

    response = await http.get(URL, params={"sort_by": "phone_index"})

    details = _error(response, 2002, "BAD_FORMAT")
    assert details == {"field": "sort_by", "allowed": ["created_at", "first_name"]}
    assert response.json()["error"]["message"] == "sort_by must be one of: created_at, first_name"


async def test_equal_sort_keys_do_not_move_between_pages(
    http: httpx.AsyncClient, db_session: AsyncSession, settings: Settings
) -> None:
    clock.freeze(START)
    for i in range(25):  # all joined in the same instant: created_at cannot order them
        await get_or_create_by_phone(
            db_session, settings, f"+995555000{200 + i:03d}", first_name="same", last_name=MARK
        )
    clock.unfreeze()
    for order in ("asc", "desc"):
        seen: list[str] = []
        for page in (1, 2, 3):
            response = await http.get(
                "/api/v1/members", params={"page": page, "per_page": 10, "sort_order": order}
            )
            seen += [member["id"] for member in response.json()["data"]]
        assert len(seen) == 25
        assert len(set(seen)) == 25
        assert seen == sorted(seen, reverse=order == "desc")
