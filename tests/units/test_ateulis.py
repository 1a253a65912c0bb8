"""Ateuli endpoints and rules (DESIGN.md §3.3) through HTTP, checked in the database."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from polis.config import Settings
from polis.elections.models import Election, ElectionType
from polis.notifications.models import Notification, NotificationType
from polis.territories.models import Territory, TerritoryType
from polis.units import queries as unit_queries
from polis.units import service
from polis.units.models import LeadershipTerm, TermEndReason, Unit, UnitMembership, UnitStatus
from polis.users.models import User, UserRole
from tests.auth.helpers import assert_error
from tests.conftest import make_member
from tests.units.factories import ateuli_with, bulk_users, territory, units_client, verified

URL = "/api/v1/ateulis"


async def _open_members(session: AsyncSession, unit_id: uuid.UUID) -> int:
    return await unit_queries.count_open_members(session, unit_id)


async def _unit(session: AsyncSession, unit_id: uuid.UUID) -> Unit:
    unit = await session.get(Unit, unit_id, populate_existing=True)
    assert unit is not None
    return unit


async def test_a_verified_member_founds_an_ateuli_and_is_its_first_member(
    db_session: AsyncSession, settings: Settings, district: Territory
) -> None:
    founder = await verified(db_session, settings, district.id)
    async with units_client(settings, db_session.bind) as http:  # type: ignore[arg-type]
        response = await http.post(
            URL, json={"name": "Vake 1", "territory_id": str(district.id)}, headers=founder.headers
        )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["success"] is True
    data = body["data"]
    assert (data["status"], data["member_count"], data["level"]) == ("forming", 1, "ateuli")
    assert data["leader"] is None
    unit = await _unit(db_session, uuid.UUID(data["id"]))
    assert unit.territory_id == district.id
    assert await _open_members(db_session, unit.id) == 1
    membership = await unit_queries.open_membership(db_session, founder.user.id)
    assert membership is not None and membership.unit_id == unit.id


async def test_founding_refusals(
    db_session: AsyncSession, settings: Settings, district: Territory
) -> None:
    other = await territory(db_session, TerritoryType.ELECTORAL_DISTRICT, None)
    unverified = await make_member(
        db_session, settings, "+995555790001", onboarded=True, territory_id=district.id
    )
    diaspora = await verified(db_session, settings, district.id, diaspora=True)
    member = await verified(db_session, settings, district.id)
    already = await verified(db_session, settings, district.id)
    await ateuli_with(db_session, district.id, [already.user.id])
    body = {"name": "Vake 2", "territory_id": str(district.id)}
    async with units_client(settings, db_session.bind) as http:  # type: ignore[arg-type]
        assert_error(await http.post(URL, json=body, headers=unverified.headers), 403, 1005)
        assert_error(await http.post(URL, json=body, headers=diaspora.headers), 403, 3013)
        assert_error(await http.post(URL, json=body, headers=already.headers), 409, 3006)
        assert_error(
            await http.post(
                URL, json={**body, "territory_id": str(other.id)}, headers=member.headers
            ),
            403,
            3012,
        )
        assert_error(
            await http.post(
                URL, json={**body, "territory_id": str(uuid.uuid4())}, headers=member.headers
            ),
            404,
            4001,
        )
        assert district.parent_id is not None
        assert_error(
            await http.post(
                URL,
                json={**body, "territory_id": str(district.parent_id)},
                headers=member.headers,
            ),
            422,
            3008,
        )
        assert_error(await http.post(URL, json={"name": "x"}, headers=member.headers), 422, 2001)
        assert_error(await http.post(URL, json=body), 401, 1003)
    count = await db_session.scalar(
        select(func.count()).select_from(Unit).where(Unit.territory_id == district.id)
    )
    assert count == 1  # only the factory's ateuli of ``already``


async def test_join_fills_to_ten_then_turns_active_and_an_election_is_due(
    db_session: AsyncSession, settings: Settings, district: Territory
) -> None:
    ids = await bulk_users(db_session, district.id, 8)
    unit = await ateuli_with(db_session, district.id, ids)
    ninth = await verified(db_session, settings, district.id)
    tenth = await verified(db_session, settings, district.id)
    eleventh = await verified(db_session, settings, district.id)
    async with units_client(settings, db_session.bind) as http:  # type: ignore[arg-type]
        response = await http.post(
            f"{URL}/{unit.id}/join", json={"message": "Hello"}, headers=ninth.headers
        )
        assert response.status_code == 200, response.text
        assert (response.json()["data"]["member_count"], response.json()["data"]["status"]) == (
            9,
            "forming",
        )
        # No body at all is fine: the message is optional.
        response = await http.post(f"{URL}/{unit.id}/join", headers=tenth.headers)
        assert response.status_code == 200, response.text
        assert response.json()["data"]["status"] == "active"
        details = assert_error(
            await http.post(f"{URL}/{unit.id}/join", headers=eleventh.headers), 409, 3005
        )
        assert details == {"capacity": 10}
    unit = await _unit(db_session, unit.id)
    assert (unit.status, unit.member_count) == (UnitStatus.ACTIVE, 10)
    assert unit.activated_at is not None and unit.leader_election_due_at is not None
    assert await _open_members(db_session, unit.id) == 10
    assert await unit_queries.open_membership(db_session, eleventh.user.id) is None
    # The atistavi election is scheduled at once, and every member hears of it.
    election = await db_session.scalar(select(Election).where(Election.scope_id == unit.id))
    assert election is not None and election.election_type is ElectionType.ATISTAVI
    notified = (
        await db_session.scalars(
            select(Notification.user_id).where(
                Notification.type == NotificationType.ELECTION_SCHEDULED,
                Notification.params["election_id"].astext == str(election.id),
            )
        )
    ).all()
    assert sorted(notified) == sorted([*ids, ninth.user.id, tenth.user.id])
    message = await db_session.scalar(
        select(UnitMembership.message).where(UnitMembership.user_id == ninth.user.id)
    )
    assert message == "Hello"


async def test_join_refusals(
    db_session: AsyncSession, settings: Settings, district: Territory
) -> None:
    other = await territory(db_session, TerritoryType.ELECTORAL_DISTRICT, None)
    unit = await ateuli_with(db_session, district.id, await bulk_users(db_session, district.id, 2))
    elsewhere = await verified(db_session, settings, other.id)
    diaspora = await verified(db_session, settings, district.id, diaspora=True)
    unverified = await make_member(
        db_session,
        settings,
        "+995555790002",
        onboarded=True,
        role=UserRole.UNVERIFIED,
        territory_id=district.id,
    )
    busy = await verified(db_session, settings, district.id)
    mine = await ateuli_with(db_session, district.id, [busy.user.id])
    async with units_client(settings, db_session.bind) as http:  # type: ignore[arg-type]
        join = f"{URL}/{unit.id}/join"
        assert_error(await http.post(join, headers=elsewhere.headers), 403, 3012)
        assert_error(await http.post(join, headers=diaspora.headers), 403, 3013)
        assert_error(await http.post(join, headers=unverified.headers), 403, 1005)
        details = assert_error(await http.post(join, headers=busy.headers), 409, 3006)
        assert details == {"unit_id": str(mine.id)}
        assert_error(await http.post(f"{URL}/{mine.id}/join", headers=busy.headers), 409, 3006)
        assert_error(await http.post(f"{URL}/{uuid.uuid4()}/join", headers=busy.headers), 404, 4001)
    assert (await _unit(db_session, unit.id)).member_count == 2
    assert await _open_members(db_session, unit.id) == 2


async def test_leaving_falling_back_and_dissolving(
    db_session: AsyncSession, settings: Settings, district: Territory
) -> None:
    members = [await verified(db_session, settings, district.id) for _ in range(5)]
    filler = await bulk_users(db_session, district.id, 5)
    unit = await ateuli_with(db_session, district.id, [m.user.id for m in members] + filler)
    leader = members[0]
    await service.install_leader(db_session, unit, leader.user)
    outsider = await verified(db_session, settings, district.id)
    async with units_client(settings, db_session.bind) as http:  # type: ignore[arg-type]
        assert_error(await http.post(f"{URL}/{unit.id}/leave", headers=outsider.headers), 409, 3014)
        assert_error(
            await http.post(f"{URL}/{uuid.uuid4()}/leave", headers=leader.headers), 404, 4001
        )
        # The leader leaves: the seat is vacant and an election is due; still active (9).
        response = await http.post(f"{URL}/{unit.id}/leave", headers=leader.headers)
        assert response.status_code == 200, response.text
        data = response.json()["data"]
        assert (data["status"], data["member_count"], data["leader"]) == ("active", 9, None)
        assert data["leader_election_due_at"] is not None
    term = await db_session.scalar(select(LeadershipTerm).where(LeadershipTerm.unit_id == unit.id))
    assert term is not None
    await db_session.refresh(term)
    assert term.end_reason is TermEndReason.LEFT_UNIT and term.ended_at is not None

    # A new atistavi, then the ateuli shrinks below five: back to forming, term ends.
    unit = await _unit(db_session, unit.id)
    await service.install_leader(db_session, unit, members[1].user)
    for member in members[2:]:
        await service.leave_ateuli(db_session, member.user, unit.id)
    for user_id in filler[:2]:
        await service.leave_ateuli(db_session, await db_session.get_one(User, user_id), unit.id)
    unit = await _unit(db_session, unit.id)
    assert (unit.member_count, unit.status) == (4, UnitStatus.FORMING)
    assert unit.leader_election_due_at is None
    terms = (
        await db_session.scalars(
            select(LeadershipTerm)
            .where(LeadershipTerm.unit_id == unit.id)
            .execution_options(populate_existing=True)
        )
    ).all()
    assert all(t.ended_at is not None for t in terms)
    assert {t.end_reason for t in terms} == {TermEndReason.LEFT_UNIT, TermEndReason.UNIT_FORMING}

    # Everyone leaves: the ateuli dissolves and refuses new members.
    await service.leave_ateuli(db_session, members[1].user, unit.id)
    for user_id in filler[2:]:
        await service.leave_ateuli(db_session, await db_session.get_one(User, user_id), unit.id)
    unit = await _unit(db_session, unit.id)
    assert (unit.member_count, unit.status) == (0, UnitStatus.INACTIVE)
    async with units_client(settings, db_session.bind) as http:  # type: ignore[arg-type]
        assert_error(await http.post(f"{URL}/{unit.id}/join", headers=outsider.headers), 409, 3015)
    # History stays: ten memberships, all closed.
    rows = (
        await db_session.scalars(select(UnitMembership).where(UnitMembership.unit_id == unit.id))
    ).all()
    assert len(rows) == 10 and all(row.left_at is not None for row in rows)


async def test_rename_by_the_atistavi_or_an_admin_only(
    db_session: AsyncSession, settings: Settings, district: Territory
) -> None:
    leader = await verified(db_session, settings, district.id)
    member = await verified(db_session, settings, district.id)
    admin = await verified(db_session, settings, None, admin=True)
    filler = await bulk_users(db_session, district.id, 8)
    unit = await ateuli_with(db_session, district.id, [leader.user.id, member.user.id, *filler])
    await service.install_leader(db_session, unit, leader.user)
    async with units_client(settings, db_session.bind) as http:  # type: ignore[arg-type]
        url = f"{URL}/{unit.id}"
        assert_error(
            await http.patch(url, json={"name": "Mine"}, headers=member.headers), 403, 1004
        )
        assert_error(
            await http.patch(f"{URL}/{uuid.uuid4()}", json={"name": "X y"}, headers=admin.headers),
            404,
            4001,
        )
        assert_error(await http.patch(url, json={"name": ""}, headers=leader.headers), 422, 2002)
        response = await http.patch(url, json={"name": "Leader's"}, headers=leader.headers)
        assert response.status_code == 200 and response.json()["data"]["name"] == "Leader's"
        response = await http.patch(url, json={"name": "Admin's"}, headers=admin.headers)
        assert response.status_code == 200
    assert (await _unit(db_session, unit.id)).name == "Admin's"


async def test_get_list_and_members(
    db_session: AsyncSession, settings: Settings, district: Territory
) -> None:
    viewer = await verified(db_session, settings, district.id)
    other = await territory(db_session, TerritoryType.ELECTORAL_DISTRICT, None)
    full_ids = await bulk_users(db_session, district.id, 10)
    full = await ateuli_with(db_session, district.id, full_ids)
    forming = await ateuli_with(db_session, district.id, [viewer.user.id])
    elsewhere = await ateuli_with(db_session, other.id, await bulk_users(db_session, other.id, 3))
    await service.install_leader(db_session, full, await db_session.get_one(User, full_ids[0]))
    async with units_client(settings, db_session.bind) as http:  # type: ignore[arg-type]
        response = await http.get(f"{URL}/{full.id}", headers=viewer.headers)
        data = response.json()["data"]
        assert (data["member_count"], data["status"], data["has_space"]) == (10, "active", False)
        assert data["leader"]["display_name"].startswith("Member")
        assert_error(await http.get(f"{URL}/{uuid.uuid4()}", headers=viewer.headers), 404, 4001)

        listed = await http.get(
            URL, params={"territory_id": str(district.id)}, headers=viewer.headers
        )
        assert {item["id"] for item in listed.json()["data"]} == {str(full.id), str(forming.id)}
        assert listed.json()["meta"]["total"] == 2
        spaced = await http.get(
            URL,
            params={"territory_id": str(district.id), "has_space": "true"},
            headers=viewer.headers,
        )
        assert [item["id"] for item in spaced.json()["data"]] == [str(forming.id)]
        active = await http.get(
            URL,
            params={"status": "active", "territory_id": str(district.id)},
            headers=viewer.headers,
        )
        assert [item["id"] for item in active.json()["data"]] == [str(full.id)]
        assert_error(
            await http.get(URL, params={"sort_by": "x"}, headers=viewer.headers), 422, 2002
        )
        other_list = await http.get(
            URL, params={"territory_id": str(other.id)}, headers=viewer.headers
        )
        assert [item["id"] for item in other_list.json()["data"]] == [str(elsewhere.id)]

        members = await http.get(f"{URL}/{forming.id}/members", headers=viewer.headers)
        assert members.status_code == 200
        [entry] = members.json()["data"]
        assert entry["id"] == str(viewer.user.id)
        assert "•" in entry["phone_masked"]
        assert "phone_number" not in entry
        paged = await http.get(
            f"{URL}/{full.id}/members", params={"per_page": 3}, headers=viewer.headers
        )
        assert paged.json()["meta"]["total"] == 10 and len(paged.json()["data"]) == 3
        assert sum(1 for e in paged.json()["data"] if e["is_leader"]) <= 1
        assert_error(
            await http.get(f"{URL}/{uuid.uuid4()}/members", headers=viewer.headers), 404, 4001
        )
