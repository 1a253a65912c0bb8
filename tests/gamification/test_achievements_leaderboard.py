"""Achievements (awarded and notified once, even by concurrent sweeps) and the leaderboard."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from polis.config import Settings
from polis.gamification import queries, service, tasks
from polis.gamification.models import Achievement, AchievementCode
from polis.kit import clock
from polis.kit.db import create_sessionmaker
from polis.kit.pagination import PageParams
from polis.notifications.models import Notification, NotificationType
from polis.territories.models import Territory, TerritoryType
from polis.units.models import Unit
from polis.users.models import User
from tests.auth.helpers import assert_error
from tests.gamification.helpers import gam_client, headers_for, led_ateulis
from tests.units.factories import ateuli_with, bulk_users, territory, verified

ACHIEVEMENTS = "/api/v1/gamification/achievements"
LEADERBOARD = "/api/v1/gamification/leaderboard"


async def _count(session: AsyncSession, model: type[Achievement] | type[Notification]) -> int:
    return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_sweep_awards_each_milestone_once_and_notifies_once(
    db_session: AsyncSession, settings: Settings, district: Territory
) -> None:
    tree = await led_ateulis(db_session, district.id, 5)  # 50 members, an ormotsdaateuli above
    forming_member = await verified(db_session, settings, district.id)
    await ateuli_with(db_session, district.id, [forming_member.user.id])

    first = await service.award_milestones(db_session)
    again = await service.award_milestones(db_session)

    by_code: dict[AchievementCode, int] = {}
    for _, code in first:
        by_code[code] = by_code.get(code, 0) + 1
    assert by_code == {
        AchievementCode.ATEULI_JOINED: 51,
        AchievementCode.ATEULI_ACTIVATED: 50,
        AchievementCode.ORMOTSDAATEULI_FORMED: 50,
        AchievementCode.FIRST_SEAT: 5,
    }
    assert again == []
    assert await _count(db_session, Achievement) == 156
    notified = await db_session.scalars(
        select(Notification).where(Notification.type == NotificationType.ACHIEVEMENT_UNLOCKED)
    )
    rows = notified.all()
    assert len(rows) == 156
    assert {row.dedupe_key for row in rows if row.user_id == forming_member.user.id} == {
        "achievement:ateuli_joined"
    }

    atistavi = headers_for(settings, tree[0][1][0])
    async with gam_client(settings, db_session) as http:
        mine = (await http.get(ACHIEVEMENTS, headers=atistavi)).json()["data"]
        anonymous = await http.get(ACHIEVEMENTS)
    achieved = {a["code"] for a in mine if a["achieved"]}
    assert achieved == {"ateuli_joined", "ateuli_activated", "ormotsdaateuli_formed", "first_seat"}
    assert len(mine) == len(AchievementCode)
    assert all(a["awarded_at"] is None for a in mine if not a["achieved"])
    assert_error(anonymous, 401, 1003)


async def test_district_of_a_hundred_members_is_a_milestone(
    db_session: AsyncSession, district: Territory
) -> None:
    ids = await bulk_users(db_session, district.id, 99)
    assert await service.award_milestones(db_session) == []
    ids += await bulk_users(db_session, district.id, 1)
    awarded = await service.award_milestones(db_session, ids[:3])
    # Limited to the members asked about; the others follow in the next sweep.
    assert sorted(awarded) == sorted((i, AchievementCode.DISTRICT_100_MEMBERS) for i in ids[:3])
    assert len(await service.award_milestones(db_session)) == 97


async def test_two_sweeps_at_once_award_and_notify_once(engine: AsyncEngine) -> None:
    maker = create_sessionmaker(engine)
    async with maker() as session:
        region = await territory(session, TerritoryType.REGION)
        municipality = await territory(session, TerritoryType.MUNICIPALITY, region)
        place = await territory(session, TerritoryType.ELECTORAL_DISTRICT, municipality)
        ids = await bulk_users(session, place.id, 10)
        unit = await ateuli_with(session, place.id, ids)
        await session.commit()
    try:
        results = await asyncio.gather(
            tasks.sweep(maker, send_task=None, redis=None),
            tasks.sweep(maker, send_task=None, redis=None),
        )
        # 10 joined + 10 activated, split between the sweeps however the race went.
        assert sum(results) == 20
        async with maker() as session:
            awards = await session.scalar(
                select(func.count()).select_from(Achievement).where(Achievement.user_id.in_(ids))
            )
            notes = await session.scalar(
                select(func.count()).select_from(Notification).where(Notification.user_id.in_(ids))
            )
        assert (awards, notes) == (20, 20)
        assert await tasks.sweep(maker, send_task=None, redis=None) == 0
    finally:
        async with maker() as session:
            await session.execute(delete(Unit).where(Unit.id == unit.id))
            await session.execute(delete(User).where(User.id.in_(ids)))
            for tid in (place.id, municipality.id, region.id):
                await session.execute(delete(Territory).where(Territory.id == tid))
            await session.commit()


async def test_leaderboard_ranks_by_members_and_by_30_day_growth(
    db_session: AsyncSession, settings: Settings, district: Territory
) -> None:
    start = clock.freeze(datetime(2026, 11, 1, 12, tzinfo=UTC))
    municipality = await db_session.get_one(Territory, district.parent_id)
    other = await territory(db_session, TerritoryType.ELECTORAL_DISTRICT, municipality)
    old = await bulk_users(db_session, district.id, 5)
    await db_session.execute(
        update(User).where(User.id.in_(old)).values(onboarded_at=start - timedelta(days=45))
    )
    await bulk_users(db_session, district.id, 1)  # district: 6 members, 1 new
    await bulk_users(db_session, other.id, 3)  # other: 3 members, all new

    def rows_of(sort_by: str) -> PageParams:
        return PageParams(per_page=100, sort_by=sort_by)

    kind = TerritoryType.ELECTORAL_DISTRICT
    by_members, total = await queries.leaderboard(db_session, rows_of("members"), type_=kind)
    by_growth, _ = await queries.leaderboard(db_session, rows_of("growth_30d"), type_=kind)
    ours = {district.id, other.id}
    assert [r.territory.id for r in by_members if r.territory.id in ours] == [district.id, other.id]
    assert [r.territory.id for r in by_growth if r.territory.id in ours] == [other.id, district.id]
    assert {
        r.territory.id: (r.members, r.growth_30d) for r in by_growth if r.territory.id in ours
    } == {
        district.id: (6, 1),
        other.id: (3, 3),
    }
    assert [r.rank for r in by_members] == list(range(1, total + 1))
    # The municipality and region sum their districts.
    munis, _ = await queries.leaderboard(
        db_session, rows_of("members"), type_=TerritoryType.MUNICIPALITY
    )
    assert {r.territory.id: r.members for r in munis}[municipality.id] == 9

    clock.advance(timedelta(days=31))  # the new members are no longer new
    later, _ = await queries.leaderboard(db_session, rows_of("growth_30d"), type_=kind)
    assert {r.territory.id: r.growth_30d for r in later if r.territory.id in ours} == {
        district.id: 0,
        other.id: 0,
    }

    me = headers_for(settings, old[0])
    async with gam_client(settings, db_session) as http:
        page = await http.get(
            LEADERBOARD,
            params={"type": "municipality", "per_page": 1, "sort_by": "members"},
            headers=me,
        )
        repeat = await http.get(
            LEADERBOARD,
            params={"type": "municipality", "per_page": 1, "sort_by": "members"},
            headers={**me, "If-None-Match": page.headers["etag"]},
        )
        bad_sort = await http.get(LEADERBOARD, params={"sort_by": "name"}, headers=me)
        bad_type = await http.get(LEADERBOARD, params={"type": "planet"}, headers=me)
        anonymous = await http.get(LEADERBOARD)

    body = page.json()
    assert page.status_code == 200
    assert body["data"][0]["rank"] == 1
    assert body["meta"]["per_page"] == 1 and body["meta"]["total"] >= 1
    assert page.headers["cache-control"] == "public, max-age=300"
    assert repeat.status_code == 304
    assert_error(bad_sort, 422, 2002)
    assert_error(bad_type, 422, 2002)
    assert_error(anonymous, 401, 1003)
