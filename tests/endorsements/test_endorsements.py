"""Endorsement requests, answers, expiry, revocation and the admin's limit, through HTTP."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from polis.config import Settings
from polis.endorsements import queries, service
from polis.endorsements.models import Endorsement, EndorsementRights, EndorsementStatus
from polis.kit import clock
from polis.notifications.models import NotificationType
from polis.territories.models import Territory, TerritoryType
from polis.units.models import LeadershipTerm, Unit, UnitLevel, UnitMembership, UnitStatus
from polis.users.models import User, UserRole
from tests.conftest import make_member
from tests.endorsements.helpers import (
    approved,
    audit_actions,
    client,
    count_rows,
    error_of,
    geder,
    headers_now,
    newcomer,
    notifications_of,
)
from tests.units.factories import ateuli_with, bulk_users, next_phone, territory


async def _get(session: AsyncSession, model: type, key: uuid.UUID) -> object:
    return await session.get(model, key, populate_existing=True)


async def test_request_approve_and_the_views_of_both_sides(
    db_session: AsyncSession, settings: Settings, district: Territory
) -> None:
    g = await geder(db_session, settings, district.id)
    other = await geder(db_session, settings, district.id)
    asker = await newcomer(db_session, settings, district.id)
    unit = await ateuli_with(db_session, district.id, [g.user.id])
    async with client(settings, db_session) as http:
        listed = await http.get("/api/v1/endorsements/available-geders", headers=asker.headers)
        assert listed.status_code == 200
        rows = {row["id"]: row for row in listed.json()["data"]}
        assert set(rows) == {str(g.user.id), str(other.user.id)}
        assert rows[str(g.user.id)]["ateuli"] == {"id": str(unit.id), "name": unit.name}
        assert (
            rows[str(g.user.id)]["available_slots"],
            rows[str(g.user.id)]["total_slots"],
            rows[str(g.user.id)]["endorsement_count"],
        ) == (5, 5, 0)
        searched = await http.get(
            "/api/v1/endorsements/available-geders",
            params={"search": g.user.last_name},
            headers=asker.headers,
        )
        assert [row["id"] for row in searched.json()["data"]] == [str(g.user.id)]

        body = {"geder_id": str(g.user.id), "message": "We are neighbours."}
        headers = {**asker.headers, "Idempotency-Key": "ask-1"}
        asked = await http.post("/api/v1/endorsements/request", json=body, headers=headers)
        assert asked.status_code == 201
        data = asked.json()["data"]
        assert data["status"] == "pending"
        assert data["geder"]["id"] == str(g.user.id)
        replay = await http.post("/api/v1/endorsements/request", json=body, headers=headers)
        assert replay.status_code == 201
        assert replay.headers["Idempotent-Replayed"] == "true"
        assert replay.json()["data"]["id"] == data["id"]
        assert await count_rows(db_session, Endorsement.requester_id == asker.user.id) == 1
        endorsement_id = uuid.UUID(data["id"])

        mine = await http.get("/api/v1/endorsements/my-requests", headers=asker.headers)
        assert [row["id"] for row in mine.json()["data"]] == [data["id"]]
        pending = await http.get("/api/v1/endorsements/pending-approvals", headers=g.headers)
        assert [row["id"] for row in pending.json()["data"]] == [data["id"]]
        status = await http.get("/api/v1/endorsements/my-status", headers=asker.headers)
        assert status.json()["data"]["pending_request_id"] == data["id"]

        ok = await http.post(f"/api/v1/endorsements/{endorsement_id}/approve", headers=g.headers)
        assert ok.status_code == 200
        assert ok.json()["data"]["status"] == "approved"

        supporters = await http.get("/api/v1/endorsements/my-supporters", headers=g.headers)
        assert [row["id"] for row in supporters.json()["data"]] == [str(asker.user.id)]
        g_status = (await http.get("/api/v1/endorsements/my-status", headers=g.headers)).json()
        assert g_status["data"]["used_slots"] == 1
        assert g_status["data"]["available_slots"] == 4
        assert g_status["data"]["can_endorse"] is True
        a_status = (await http.get("/api/v1/endorsements/my-status", headers=asker.headers)).json()
        assert a_status["data"]["role"] == "supporter"
        assert a_status["data"]["tavdebi"]["id"] == str(g.user.id)
        assert a_status["data"]["pending_request_id"] is None
        # A supporter asks no more: that is for members without a tavdebi.
        again = await http.post(
            "/api/v1/endorsements/request",
            json={"geder_id": str(other.user.id)},
            headers=asker.headers,
        )
        assert error_of(again) == (403, 1004)

    user = await _get(db_session, User, asker.user.id)
    assert isinstance(user, User)
    assert user.role is UserRole.SUPPORTER
    assert await queries.guarantor_of(db_session, asker.user.id) == g.user.id
    link = await queries.endorsement_between(
        db_session, supporter_id=asker.user.id, guarantor_id=g.user.id
    )
    assert link is not None and link.id == endorsement_id
    assert (
        len(await notifications_of(db_session, g.user.id, NotificationType.ENDORSEMENT_REQUESTED))
        == 1
    )
    assert (
        len(
            await notifications_of(db_session, asker.user.id, NotificationType.ENDORSEMENT_APPROVED)
        )
        == 1
    )
    assert await audit_actions(db_session, endorsement_id) == [
        "endorsements.requested",
        "endorsements.approved",
    ]


async def test_who_may_ask_whom(
    db_session: AsyncSession, settings: Settings, district: Territory
) -> None:
    g = await geder(db_session, settings, district.id)
    elsewhere = await territory(db_session, TerritoryType.ELECTORAL_DISTRICT)
    far = await geder(db_session, settings, elsewhere.id)
    asker = await newcomer(db_session, settings, district.id)
    diaspora = await newcomer(db_session, settings, None, diaspora=True)
    fresh = await make_member(db_session, settings, next_phone())
    suspended = await geder(db_session, settings, district.id)
    db_session.add(
        EndorsementRights(
            user_id=suspended.user.id, suspended_until=clock.now() + timedelta(days=1)
        )
    )
    full = await geder(db_session, settings, district.id)
    for supporter_id in await bulk_users(db_session, district.id, 5):
        await approved(db_session, supporter_id, full.user.id)
    await db_session.flush()

    def ask(geder_id: uuid.UUID) -> dict[str, str]:
        return {"geder_id": str(geder_id)}

    url = "/api/v1/endorsements/request"
    async with client(settings, db_session) as http:
        assert error_of(await http.post(url, json=ask(g.user.id), headers=fresh.headers)) == (
            403,
            3011,
        )
        assert error_of(await http.post(url, json=ask(far.user.id), headers=g.headers)) == (
            403,
            1004,
        )
        assert error_of(await http.post(url, json=ask(g.user.id), headers=diaspora.headers)) == (
            403,
            3013,
        )
        assert error_of(await http.post(url, json=ask(asker.user.id), headers=asker.headers)) == (
            422,
            3007,
        )
        assert error_of(await http.post(url, json=ask(uuid.uuid4()), headers=asker.headers)) == (
            404,
            4001,
        )
        # Someone who is not a GeDer is no GeDer to ask.
        assert error_of(
            await http.post(url, json=ask(diaspora.user.id), headers=asker.headers)
        ) == (404, 4001)
        assert error_of(await http.post(url, json=ask(far.user.id), headers=asker.headers)) == (
            403,
            3016,
        )
        assert error_of(
            await http.post(url, json=ask(suspended.user.id), headers=asker.headers)
        ) == (403, 3018)
        limit = await http.post(url, json=ask(full.user.id), headers=asker.headers)
        assert error_of(limit) == (409, 3001)
        assert limit.json()["error"]["details"] == {"limit": 5}
        assert (await http.post(url, json=ask(g.user.id), headers=asker.headers)).status_code == 201
        second = await http.post(url, json=ask(g.user.id), headers=asker.headers)
        assert error_of(second) == (409, 3017)

        listed = await http.get("/api/v1/endorsements/available-geders", headers=asker.headers)
        # Suspended and full GeDers are left out; one of another district too.
        assert [row["id"] for row in listed.json()["data"]] == [str(g.user.id)]
    asked = [asker.user.id, fresh.user.id, diaspora.user.id, g.user.id]
    assert await count_rows(db_session, Endorsement.requester_id.in_(asked)) == 1


async def test_answers_refused_and_reject_with_a_reason(
    db_session: AsyncSession, settings: Settings, district: Territory
) -> None:
    g = await geder(db_session, settings, district.id)
    other = await geder(db_session, settings, district.id)
    first = await newcomer(db_session, settings, district.id)
    second = await newcomer(db_session, settings, district.id)
    async with client(settings, db_session) as http:
        ids = []
        for asker in (first, second):
            asked = await http.post(
                "/api/v1/endorsements/request",
                json={"geder_id": str(g.user.id)},
                headers=asker.headers,
            )
            ids.append(asked.json()["data"]["id"])
        base = "/api/v1/endorsements"
        assert error_of(await http.post(f"{base}/{uuid.uuid4()}/approve", headers=g.headers)) == (
            404,
            4001,
        )
        assert error_of(await http.post(f"{base}/{ids[0]}/approve", headers=other.headers)) == (
            403,
            1004,
        )
        assert error_of(await http.post(f"{base}/{ids[0]}/approve", headers=first.headers)) == (
            403,
            1005,
        )
        short = await http.post(f"{base}/{ids[0]}/reject", json={"reason": "no"}, headers=g.headers)
        assert error_of(short) == (422, 2002)
        rejected = await http.post(
            f"{base}/{ids[0]}/reject", json={"reason": "I do not know you."}, headers=g.headers
        )
        assert rejected.status_code == 200
        assert rejected.json()["data"]["reject_reason"] == "I do not know you."
        assert error_of(await http.post(f"{base}/{ids[0]}/approve", headers=g.headers)) == (
            409,
            3019,
        )
        # The slot count at approval: the GeDer filled up meanwhile.
        for supporter_id in await bulk_users(db_session, district.id, 5):
            await approved(db_session, supporter_id, g.user.id)
        full = await http.post(f"{base}/{ids[1]}/approve", headers=g.headers)
        assert error_of(full) == (409, 3001)
    row = await _get(db_session, Endorsement, uuid.UUID(ids[0]))
    assert isinstance(row, Endorsement)
    assert row.status is EndorsementStatus.REJECTED
    waiting = await _get(db_session, Endorsement, uuid.UUID(ids[1]))
    assert isinstance(waiting, Endorsement)
    assert waiting.status is EndorsementStatus.PENDING
    user = await _get(db_session, User, second.user.id)
    assert isinstance(user, User) and user.role is UserRole.UNVERIFIED
    notes = await notifications_of(db_session, first.user.id, NotificationType.ENDORSEMENT_REJECTED)
    assert [n.params["reason"] for n in notes] == ["I do not know you."]


async def test_pending_requests_expire_after_seven_days(
    db_session: AsyncSession, settings: Settings, district: Territory
) -> None:
    start = clock.freeze()
    g = await geder(db_session, settings, district.id)
    early = await newcomer(db_session, settings, district.id)
    late = await newcomer(db_session, settings, district.id)
    async with client(settings, db_session) as http:
        ids = []
        for asker in (early, late):
            asked = await http.post(
                "/api/v1/endorsements/request",
                json={"geder_id": str(g.user.id)},
                headers=headers_now(settings, asker),
            )
            assert asked.status_code == 201
            ids.append(uuid.UUID(asked.json()["data"]["id"]))
            clock.advance(timedelta(hours=1))
        clock.freeze(start + timedelta(days=7))
        # Exactly seven days: the first one is due, the second has an hour left.
        assert await service.expire_requests(db_session) == 1
        assert await service.expire_requests(db_session) == 0
        pending = await http.get(
            "/api/v1/endorsements/pending-approvals", headers=headers_now(settings, g)
        )
        assert [row["id"] for row in pending.json()["data"]] == [str(ids[1])]
        # Answering a request past its deadline before the hourly job: refused, and expired.
        clock.advance(timedelta(hours=2))
        late_answer = await http.post(
            f"/api/v1/endorsements/{ids[1]}/approve", headers=headers_now(settings, g)
        )
        assert error_of(late_answer) == (409, 3019)
        assert late_answer.json()["error"]["details"] == {"status": "expired"}
    for endorsement_id in ids:
        row = await _get(db_session, Endorsement, endorsement_id)
        assert isinstance(row, Endorsement) and row.status is EndorsementStatus.EXPIRED
    for asker in (early, late):
        expired = await notifications_of(
            db_session, asker.user.id, NotificationType.ENDORSEMENT_EXPIRED
        )
        assert len(expired) == 1
    assert await audit_actions(db_session, ids[0]) == [
        "endorsements.requested",
        "endorsements.expired",
    ]


async def test_revoking_reverts_role_membership_and_leadership(
    db_session: AsyncSession, settings: Settings, district: Territory
) -> None:
    g = await geder(db_session, settings, district.id)
    admin = await make_member(db_session, settings, next_phone(), admin=True)
    stranger = await geder(db_session, settings, district.id)
    supporter = await newcomer(db_session, settings, district.id)
    plain = await newcomer(db_session, settings, district.id)
    link = await approved(db_session, supporter.user.id, g.user.id)
    plain_link = await approved(db_session, plain.user.id, g.user.id)
    others = await bulk_users(db_session, district.id, 9)
    unit = await ateuli_with(db_session, district.id, [supporter.user.id, *others])
    now = clock.now()
    db_session.add(LeadershipTerm(unit_id=unit.id, user_id=supporter.user.id, started_at=now))
    higher = Unit(
        name="Higher",
        level=UnitLevel.ORMOTSDAATEULI,
        territory_id=district.id,
        status=UnitStatus.ACTIVE,
        member_count=5,
    )
    db_session.add(higher)
    await db_session.flush()
    db_session.add(LeadershipTerm(unit_id=higher.id, user_id=supporter.user.id, started_at=now))
    await db_session.flush()
    base = "/api/v1/endorsements"
    reason = {"reason": "They misled me."}
    async with client(settings, db_session) as http:
        assert error_of(
            await http.post(f"{base}/{uuid.uuid4()}/revoke", json=reason, headers=g.headers)
        ) == (404, 4001)
        assert error_of(
            await http.post(f"{base}/{link.id}/revoke", json=reason, headers=stranger.headers)
        ) == (403, 1004)
        revoked = await http.post(f"{base}/{link.id}/revoke", json=reason, headers=g.headers)
        assert revoked.status_code == 200
        assert revoked.json()["data"]["status"] == "revoked"
        assert error_of(
            await http.post(f"{base}/{link.id}/revoke", json=reason, headers=g.headers)
        ) == (409, 3019)
        by_admin = await http.post(
            f"{base}/{plain_link.id}/revoke", json=reason, headers=admin.headers
        )
        assert by_admin.status_code == 200
        status = (await http.get(f"{base}/my-status", headers=g.headers)).json()["data"]
        assert status["used_slots"] == 0
    user = await _get(db_session, User, supporter.user.id)
    assert isinstance(user, User) and user.role is UserRole.UNVERIFIED
    assert user.status is not None  # the status chosen at onboarding is kept
    membership = await db_session.scalar(
        select(UnitMembership)
        .where(UnitMembership.user_id == supporter.user.id)
        .execution_options(populate_existing=True)
    )
    assert membership is not None and membership.left_at is not None
    stored_unit = await _get(db_session, Unit, unit.id)
    assert isinstance(stored_unit, Unit) and stored_unit.member_count == 9
    terms = (
        await db_session.scalars(
            select(LeadershipTerm)
            .where(LeadershipTerm.user_id == supporter.user.id)
            .execution_options(populate_existing=True)
        )
    ).all()
    assert len(terms) == 2 and all(t.ended_at is not None for t in terms)
    stored_higher = await _get(db_session, Unit, higher.id)
    assert isinstance(stored_higher, Unit) and stored_higher.leader_election_due_at is not None
    assert await queries.guarantor_of(db_session, supporter.user.id) is None
    for person in (supporter.user.id, g.user.id):
        assert (
            len(await notifications_of(db_session, person, NotificationType.ENDORSEMENT_REVOKED))
            >= 1
        )
    assert "endorsements.revoked" in await audit_actions(db_session, link.id)
    other_user = await _get(db_session, User, plain.user.id)
    assert isinstance(other_user, User) and other_user.role is UserRole.UNVERIFIED


async def test_admin_sets_the_limit_within_five_to_ten(
    db_session: AsyncSession, settings: Settings, district: Territory
) -> None:
    g = await geder(db_session, settings, district.id)
    admin = await make_member(db_session, settings, next_phone(), admin=True)
    plain = await newcomer(db_session, settings, district.id)
    url = f"/api/v1/admin/geders/{g.user.id}/endorsement-limit"
    async with client(settings, db_session) as http:
        for bad in (4, 11):
            assert error_of(await http.patch(url, json={"limit": bad}, headers=admin.headers)) == (
                422,
                2003,
            )
        assert error_of(await http.patch(url, json={"limit": 7}, headers=g.headers)) == (403, 1004)
        assert error_of(
            await http.patch(
                f"/api/v1/admin/geders/{plain.user.id}/endorsement-limit",
                json={"limit": 7},
                headers=admin.headers,
            )
        ) == (404, 4001)
        changed = await http.patch(url, json={"limit": 7}, headers=admin.headers)
        assert changed.status_code == 200
        assert changed.json()["data"]["endorsement_limit"] == 7
        status = (await http.get("/api/v1/endorsements/my-status", headers=g.headers)).json()
        assert (status["data"]["endorsement_limit"], status["data"]["available_slots"]) == (7, 7)
    rights = await _get(db_session, EndorsementRights, g.user.id)
    assert isinstance(rights, EndorsementRights) and rights.endorsement_limit == 7
    assert await audit_actions(db_session, g.user.id) == ["endorsements.limit.changed"]
    notes = await notifications_of(
        db_session, g.user.id, NotificationType.ENDORSEMENT_LIMIT_CHANGED
    )
    assert [n.params["limit"] for n in notes] == [7]
