"""GET /statistics/*: exact counts, growth windows by the clock, caching with ETag and 304."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from polis.config import Settings
from polis.gamification import service as gamification
from polis.kit import clock
from polis.statistics import service
from polis.territories.models import Territory
from polis.units.models import UnitLevel
from polis.users.models import MemberStatus, User, UserRole
from tests.auth.helpers import assert_error
from tests.gamification.helpers import gam_client, headers_for, led_ateulis
from tests.units.factories import ateuli_with, bulk_users, verified

BASE = "/api/v1/statistics"


async def test_platform_counts_are_exact(
    db_session: AsyncSession, settings: Settings, district: Territory
) -> None:
    now = clock.freeze(datetime(2026, 11, 20, 12, tzinfo=UTC))
    before = await service.platform(db_session)
    ages = [timedelta(hours=2), timedelta(days=3), timedelta(days=20), timedelta(days=40)]
    rows = []
    for n, age in enumerate(ages):
        # One unverified account and one verified supporter (active) of each age.
        rows.append({"id": uuid.uuid4(), "created_at": now - age, "role": UserRole.UNVERIFIED})
        rows.append(
            {
                "id": uuid.uuid4(),
                "created_at": now - age,
                "role": UserRole.SUPPORTER,
                "status": MemberStatus.ACTIVE,
                "onboarded_at": now - age,
                "territory_id": district.id,
                "first_name": f"S{n}",
            }
        )
    rows.append({"id": uuid.uuid4(), "created_at": now, "deleted_at": now})  # not counted
    await db_session.execute(insert(User), rows)
    await led_ateulis(db_session, district.id, 5)  # 50 passive GeDers, onboarded now
    await ateuli_with(db_session, district.id, await bulk_users(db_session, district.id, 3))

    after = await service.platform(db_session)

    assert after.users - before.users == 8 + 53
    assert after.verified - before.verified == 4 + 53
    assert after.supporters - before.supporters == 4
    assert after.geders - before.geders == 53
    assert after.active - before.active == 4
    assert after.passive - before.passive == 53
    regs, verif = after.registrations, after.verified_growth
    assert (regs.daily, regs.weekly, regs.monthly) == (
        before.registrations.daily + 2 + 53,
        before.registrations.weekly + 4 + 53,
        before.registrations.monthly + 6 + 53,
    )
    assert (verif.daily, verif.weekly, verif.monthly) == (
        before.verified_growth.daily + 1 + 53,
        before.verified_growth.weekly + 2 + 53,
        before.verified_growth.monthly + 3 + 53,
    )
    units = after.units
    assert units[UnitLevel.ATEULI].total - before.units[UnitLevel.ATEULI].total == 6
    assert units[UnitLevel.ATEULI].active - before.units[UnitLevel.ATEULI].active == 5
    assert units[UnitLevel.ATEULI].forming - before.units[UnitLevel.ATEULI].forming == 1
    assert units[UnitLevel.ORMOTSDAATEULI].total - before.units[UnitLevel.ORMOTSDAATEULI].total == 1
    assert (after.open_elections, after.pending_sos, after.active_initiatives) == (0, 0, 0)


async def test_platform_endpoint_is_cached_with_etag(
    db_session: AsyncSession, settings: Settings, district: Territory
) -> None:
    me = await verified(db_session, settings, district.id)
    expected = await service.platform(db_session)
    async with gam_client(settings, db_session) as http:
        first = await http.get(f"{BASE}/platform", headers=me.headers)
        await bulk_users(db_session, district.id, 2)
        cached = await http.get(f"{BASE}/platform", headers=me.headers)
        not_modified = await http.get(
            f"{BASE}/platform", headers={**me.headers, "If-None-Match": first.headers["etag"]}
        )
        anonymous = await http.get(f"{BASE}/platform")

    data = first.json()["data"]
    assert data["verified"] == expected.verified and data["users"] == expected.users
    assert set(data["units"]) == {"ateuli", "ormotsdaateuli", "aseuli", "ataseuli"}
    assert first.headers["cache-control"] == "public, max-age=300"
    # Five minutes of the same answer: the two new members are not seen yet.
    assert cached.json()["data"] == data
    assert cached.headers["etag"] == first.headers["etag"]
    assert not_modified.status_code == 304 and not_modified.content == b""
    assert_error(anonymous, 401, 1003)


async def test_territory_and_ateuli_statistics(
    db_session: AsyncSession, settings: Settings, district: Territory
) -> None:
    me = await verified(db_session, settings, district.id)
    tree = await led_ateulis(db_session, district.id, 5)
    unit, ids = tree[0]
    async with gam_client(settings, db_session) as http:
        place = await http.get(f"{BASE}/territory/{district.parent_id}", headers=me.headers)
        ateuli = await http.get(f"{BASE}/ateuli/{unit.id}", headers=me.headers)
        again = await http.get(
            f"{BASE}/ateuli/{unit.id}",
            headers={**me.headers, "If-None-Match": ateuli.headers["etag"]},
        )
        orm_id = (await db_session.get_one(type(unit), unit.id)).parent_id
        not_an_ateuli = await http.get(f"{BASE}/ateuli/{orm_id}", headers=me.headers)
        unknown_place = await http.get(f"{BASE}/territory/{uuid.uuid4()}", headers=me.headers)
        unknown_ateuli = await http.get(f"{BASE}/ateuli/{uuid.uuid4()}", headers=me.headers)
        malformed = await http.get(f"{BASE}/ateuli/nope", headers=me.headers)

    p = place.json()["data"]
    assert p["territory"]["id"] == str(district.parent_id)
    assert (p["members"], p["geders"], p["members_in_ateulis"]) == (51, 51, 50)
    assert p["units"]["ateuli"] == {"total": 5, "active": 5, "forming": 0, "inactive": 0}
    assert p["units"]["ormotsdaateuli"]["total"] == 1
    assert p["verified_growth"] == {"daily": 51, "weekly": 51, "monthly": 51}
    a = ateuli.json()["data"]
    assert (a["member_count"], a["capacity"], a["led"], a["geders"]) == (10, 10, True, 10)
    assert (a["joined_30d"], a["left_30d"], a["ever_members"]) == (10, 0, 10)
    assert a["levels_above"] == ["ormotsdaateuli"]
    assert ateuli.headers["cache-control"] == "public, max-age=300"
    assert again.status_code == 304
    assert_error(not_an_ateuli, 404, 4001)
    assert_error(unknown_place, 404, 4001)
    assert_error(unknown_ateuli, 404, 4001)
    assert_error(malformed, 422, 2002)
    del ids


async def test_user_statistics_show_public_facts_only(
    db_session: AsyncSession, settings: Settings, district: Territory
) -> None:
    me = await verified(db_session, settings, district.id)
    tree = await led_ateulis(db_session, district.id, 1)
    unit, ids = tree[0]
    await gamification.award_milestones(db_session, [ids[0]])
    gone = await db_session.get_one(User, ids[2])
    async with gam_client(settings, db_session) as http:
        answer = await http.get(f"{BASE}/user/{ids[0]}", headers=me.headers)
        mine = await http.get(f"{BASE}/user/{me.user.id}", headers=headers_for(settings, ids[1]))
        unknown = await http.get(f"{BASE}/user/{uuid.uuid4()}", headers=me.headers)
        gone.deleted_at = clock.now()
        await db_session.flush()
        deleted = await http.get(f"{BASE}/user/{gone.id}", headers=me.headers)

    data = answer.json()["data"]
    assert data["role"] == "geder" and data["status"] == "passive" and data["verified"] is True
    assert (data["ateuli_id"], data["ateulis_joined"]) == (str(unit.id), 1)
    assert [(s["unit_id"], s["level"]) for s in data["seats"]] == [(str(unit.id), "ateuli")]
    assert (data["terms_served"], data["achievements"]) == (1, 3)
    assert answer.headers["cache-control"] == "private, max-age=300"
    text = mine.text
    # A member made with a phone: the answer carries no phone, masked or not, nor any ID.
    assert "phone" not in text and "personal_id" not in text and "+995" not in text
    assert mine.json()["data"]["ateuli_id"] is None
    assert_error(unknown, 404, 4001)
    assert_error(deleted, 404, 4001)
